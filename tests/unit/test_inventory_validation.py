"""Every inventory error names the file and (where there is one) the line; warnings don't stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_for(path: Path, extra_vars: list[str] | tuple[str, ...] = ()) -> InputError:
    with pytest.raises(InputError) as info:
        load_inventory(path, extra_vars)
    assert info.value.exit_code == 2
    return info.value


def assert_at(err: InputError, path: Path, line: int | None, *fragments: str) -> None:
    assert err.file == str(path)
    assert err.line == line
    text = str(err)
    assert text.startswith(f"{path}:{line}: " if line else f"{path}: "), text
    for fragment in fragments:
        assert fragment in text, text


OK_HOSTS = "  cp1: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}\n"


# --- syntax -------------------------------------------------------------------------------

def test_yaml_syntax_error_has_the_parser_line(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1: {address: 10.0.0.1\n  wk1: [\n")
    assert_at(error_for(path), path, 3, "YAML syntax error")


def test_yaml_tab_indentation_error(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "cluster:\n  name: lab\nhosts:\n\tcp1: {}\n")
    assert_at(error_for(path), path, 4, "YAML syntax error")


@pytest.mark.parametrize(("text", "line", "fragment"), [
    ("[kube_node]\nn1\n[bad group]\n", 3, "invalid section header"),
    ("[kube_node]\nn1\n[kube_node:kids]\nn2\n", 3, "unknown type 'kids'"),
    ("[all]\nn1 ansible_host=1.2.3.4 oops\n", 2, "expected key=value after the host name"),
    ("[all]\nn1 msg='unclosed\n", 2, "cannot read host line"),
    ("[all]\nn1\n\n[all:vars]\nansible_user ubuntu\n", 5, "expects key=value"),
    ("[kube_node]\nn1\n[k8s_cluster:children]\nkube node\n", 4, "is not a group name"),
    ("[kube_node]\nn1\n[kube_nod:vars]\nx=1\n", 3, "did you mean 'kube_node'?"),
    ("[kube_node]\nnode[1:3]\n", 2, "host ranges"),
])
def test_ini_syntax_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, "hosts.ini", text)
    assert_at(error_for(path), path, line, fragment)


# --- unknown keys -------------------------------------------------------------------------

def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}grop_vars: {{}}\n")
    assert_at(error_for(path), path, 3, "unknown top-level key 'grop_vars'",
              "did you mean 'group_vars'?")


def test_unknown_host_key(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1:\n    groups: [etcd]\n    adress: 10.0.0.1\n")
    assert_at(error_for(path), path, 4, "unknown host 'cp1' key 'adress'",
              "did you mean 'address'?")


def test_unknown_defaults_key(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"defaults:\n  usr: admin\nhosts:\n{OK_HOSTS}")
    assert_at(error_for(path), path, 2, "unknown defaults key 'usr'", "did you mean 'user'?")


def test_unknown_key_in_ansible_yaml_group(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", "all:\n  children:\n    etcd:\n      host:\n        a:\n")
    assert_at(error_for(path), path, 4, "unknown group 'etcd' key 'host'", "did you mean 'hosts'?")


# --- addresses ----------------------------------------------------------------------------

def test_native_host_without_address(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}  wk1:\n    groups: [nodes]\n")
    assert_at(error_for(path), path, 3, "host 'wk1' has no address", "address:")


def test_ansible_host_without_usable_address(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "[all]\nnode_1 etcd_member_name=e1\n[etcd]\nnode_1\n")
    assert_at(error_for(path), path, 2, "host 'node_1' has no address", "ansible_host=")


# --- hosts defined twice ------------------------------------------------------------------

def test_duplicate_yaml_host_key(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}  wk1: {{address: 10.0.0.2}}\n"
                                      f"  wk1: {{address: 10.0.0.3}}\n")
    assert_at(error_for(path), path, 4, "'wk1' is defined twice", "lines 3 and 4")


def test_ini_host_repeated_with_conflicting_vars(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "[kube_control_plane]\nn1 ansible_host=10.0.0.1\n"
                                        "[etcd]\nn1\n[kube_node]\nn1 ansible_host=10.0.0.9\n")
    assert_at(error_for(path), path, 6, "host 'n1' is defined twice", "'ansible_host'",
              "on line 2")


def test_ini_host_repeated_with_same_vars_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "[kube_control_plane]\nn1 ansible_host=10.0.0.1\n"
                                        "[etcd]\nn1 ansible_host=10.0.0.1 ip=10.1.1.1\n")
    inv = load_inventory(path)
    assert inv.hosts["n1"].vars == {"ip": "10.1.1.1"}


def test_ansible_yaml_host_in_two_groups_with_different_vars(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", """\
all:
  children:
    kube_control_plane:
      hosts:
        n1: {ansible_host: 10.0.0.1}
    etcd:
      hosts:
        n1:
          ansible_host: 10.0.0.2
""")
    assert_at(error_for(path), path, 9, "host 'n1' is defined twice", "'10.0.0.1' on line 5")


# --- roles --------------------------------------------------------------------------------

def test_host_in_no_role_group_native(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}  wk1: {{address: 10.0.0.2}}\n")
    assert_at(error_for(path), path, 3, "host 'wk1' is in no role group")


def test_host_in_no_role_group_ansible(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", """\
[all]
node1 ansible_host=10.0.0.1
prom ansible_host=10.0.0.254
[kube_control_plane]
node1
[etcd]
node1
[monitoring]
prom
""")
    # (a host in kubespray's [bastion] group is the jump host, not a member: test_inventory_bastion)
    assert_at(error_for(path), path, 3, "host 'prom' is in no role group")


def test_no_control_plane(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  a: {address: 10.0.0.1, groups: [etcd, nodes]}\n")
    assert_at(error_for(path), path, None, "no control plane host", "control_plane group")


def test_no_etcd(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "[kube_control_plane]\na ansible_host=10.0.0.1\n")
    assert_at(error_for(path), path, None, "no etcd host")


def test_unknown_native_group_suggests_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1:\n    address: 10.0.0.1\n"
                                      "    groups:\n      - etcd\n      - contol_plane\n")
    assert_at(error_for(path), path, 6, "unknown group 'contol_plane' for host 'cp1'",
              "did you mean 'control_plane'?")


def test_kubespray_group_name_in_native_inventory(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1: {address: 10.0.0.1, groups: [kube_node]}\n")
    assert_at(error_for(path), path, 2, "unknown group 'kube_node'", "did you mean 'nodes'?")


def test_unknown_group_in_inline_group_vars(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}group_vars:\n  node: {{a: 1}}\n")
    assert_at(error_for(path), path, 4, "unknown group_vars group 'node'", "did you mean 'nodes'?")


def test_groups_not_a_list(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1:\n    address: 10.0.0.1\n    groups: etcd\n")
    assert_at(error_for(path), path, 4, "groups must be a list")


def test_group_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "[a:children]\nb\n[b:children]\na\n[etcd]\nn1\n")
    err = error_for(path)
    assert err.file == str(path) and err.line in (1, 2, 3, 4)
    assert "is its own ancestor" in str(err)


# --- values -------------------------------------------------------------------------------

@pytest.mark.parametrize("port", ["0", "65536", "ssh", "true", "-1"])
def test_bad_native_port(tmp_path: Path, port: str) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n  cp1:\n    address: 10.0.0.1\n    port: {port}\n"
                                      f"    groups: [etcd, control_plane, nodes]\n")
    assert_at(error_for(path), path, 4, "port must be an integer from 1 to 65535")


def test_bad_default_port(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"defaults: {{port: 99999}}\nhosts:\n{OK_HOSTS}")
    assert_at(error_for(path), path, 1, "defaults port must be an integer from 1 to 65535")


def test_bad_ansible_port(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", "[etcd]\nx\n[kube_control_plane]\n"
                                        "cp1 ansible_host=10.0.0.1 ansible_port=abc\n")
    assert_at(error_for(path), path, 4, "host 'cp1' port must be an integer from 1 to 65535",
              "'abc'")


def test_quoted_port_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1: {address: 10.0.0.1, port: '2222', "
                                      "groups: [etcd, control_plane, nodes]}\n")
    assert load_inventory(path).hosts["cp1"].port == 2222


def test_bad_become(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1: {address: 10.0.0.1, become: maybe, "
                                      "groups: [etcd, control_plane, nodes]}\n")
    assert_at(error_for(path), path, 2, "become must be true or false")


def test_bad_cluster_name(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"cluster:\n  name: My_Lab\nhosts:\n{OK_HOSTS}")
    assert_at(error_for(path), path, 2, "cluster name 'My_Lab' must be a DNS label")


def test_cluster_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"cluster: lab\nhosts:\n{OK_HOSTS}")
    assert_at(error_for(path), path, 1, "cluster must be a mapping")


def test_unknown_provider(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1: {provider: libvrt, "
                                      "groups: [etcd, control_plane, nodes]}\n")
    assert_at(error_for(path), path, 2, "unknown host 'cp1' provider 'libvrt'",
              "did you mean 'libvirt'?")


def test_host_vars_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1:\n    address: 10.0.0.1\n"
                                      "    vars: [a, b]\n")
    assert_at(error_for(path), path, 4, "host 'cp1' vars must be a mapping")


def test_empty_inventory(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "# nothing yet\n")
    assert_at(error_for(path), path, None, "the inventory is empty")


def test_no_hosts(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "cluster: {name: x}\nhosts: {}\n")
    assert_at(error_for(path), path, 2, "no hosts")


# --- vars files and extra vars ------------------------------------------------------------

def test_group_vars_file_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}")
    bad = write(tmp_path, "group_vars/nodes.yml", "# a list by mistake\n- a\n- b\n")
    assert_at(error_for(path), bad, 2, "must hold a mapping")


def test_group_vars_file_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}")
    bad = write(tmp_path, "host_vars/cp1/net.yml", "a: 1\nb: [\n")
    assert_at(error_for(path), bad, 3, "YAML syntax error")


def test_extra_vars_file_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}")
    missing = tmp_path / "nope.yml"
    assert_at(error_for(path, [f"@{missing}"]), missing, None, "extra vars file not found")


def test_extra_vars_file_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}")
    bad = write(tmp_path, "extra.yml", "just a string\n")
    assert_at(error_for(path, [f"@{bad}"]), bad, 1, "must hold a mapping")


def test_extra_vars_bad_token(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", f"hosts:\n{OK_HOSTS}")
    err = error_for(path, ["a=1 oops"])
    assert "expected KEY=VALUE or @FILE.yml" in str(err) and "'oops'" in str(err)


# --- warnings -----------------------------------------------------------------------------

def test_even_etcd_and_few_nodes_warn(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", """\
hosts:
  a: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}
  b: {address: 10.0.0.2, groups: [etcd, nodes]}
""")
    inv = load_inventory(path)
    assert inv.warnings == [
        ("etcd has 2 members: an even count tolerates no more failures than one fewer; "
         "use 1, 3 or 5"),
        "only 2 host(s) in nodes: fine for a lab, but production clusters want at least three",
    ]


def test_odd_etcd_and_three_nodes_do_not_warn(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", """\
hosts:
  a: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}
  b: {address: 10.0.0.2, groups: [etcd, nodes]}
  c: {address: 10.0.0.3, groups: [etcd, nodes]}
  d: {address: 10.0.0.4, groups: [etcd]}
""")
    inv = load_inventory(path)
    assert inv.warnings == [
        ("etcd has 4 members: an even count tolerates no more failures than one fewer; "
         "use 1, 3 or 5")]
