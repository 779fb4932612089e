"""Var precedence: all < groups (parent < child, siblings alphabetical) < host < -e;
group_vars/ and host_vars/ directories beat inline vars at their level."""

from __future__ import annotations

from pathlib import Path

from k8sboot.inventory import load_inventory


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


NATIVE = """\
defaults: {user: root}
hosts:
  cp1:
    address: 10.0.0.1
    groups: [etcd, control_plane, nodes]
    vars: {level: host, host_only: h}
  wk1: {address: 10.0.0.2, groups: [nodes]}
vars: {level: all, all_only: a, sibling: all}
group_vars:
  nodes: {level: nodes, sibling: nodes, group_only: g}
  etcd: {sibling: etcd}
  control_plane: {sibling: control_plane}
"""


def test_native_chain_all_group_host_extra(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", NATIVE)
    inv = load_inventory(path)
    cp1, wk1 = inv.hosts["cp1"], inv.hosts["wk1"]
    assert cp1.vars["level"] == "host"
    assert wk1.vars["level"] == "nodes"
    assert cp1.vars["all_only"] == "a" and cp1.vars["group_only"] == "g"
    # siblings apply alphabetically: control_plane < etcd < nodes
    assert cp1.vars["sibling"] == "nodes"
    assert inv.vars == {"level": "all", "all_only": "a", "sibling": "all"}

    inv = load_inventory(path, ["level=extra"])
    assert inv.hosts["cp1"].vars["level"] == "extra"
    assert inv.hosts["wk1"].vars["level"] == "extra"
    assert inv.vars["level"] == "extra"


def test_sibling_order_is_alphabetical_not_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", """\
[zeta]
n1 ansible_host=10.0.0.1
[alpha]
n1
[etcd]
n1
[kube_control_plane]
n1
[zeta:vars]
pick=zeta
[alpha:vars]
pick=alpha
""")
    assert load_inventory(path).hosts["n1"].vars["pick"] == "zeta"


def test_child_group_beats_parent_whatever_the_name(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", """\
[kube_control_plane]
n1 ansible_host=10.0.0.1
[etcd]
n1
[a_parent:children]
z_child
[z_child:children]
kube_control_plane
[a_parent:vars]
pick=parent
[z_child:vars]
pick=z_child
[kube_control_plane:vars]
pick=kube_control_plane
depth_two=z
[etcd:vars]
depth_two=etcd
""")
    n1 = load_inventory(path).hosts["n1"]
    # depth: a_parent 1, z_child 2, kube_control_plane 3; etcd is depth 1
    assert n1.vars["pick"] == "kube_control_plane"
    assert n1.vars["depth_two"] == "z"


def test_kubespray_k8s_cluster_is_below_kube_node(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", """\
all:
  vars: {v: all}
  children:
    k8s_cluster:
      vars: {v: k8s_cluster}
      children:
        kube_control_plane: {hosts: {n1: {ansible_host: 10.0.0.1}}}
        kube_node:
          hosts: {n1: , n2: {ansible_host: 10.0.0.2, v: host}}
          vars: {v: kube_node}
    etcd: {hosts: {n1: }}
""")
    inv = load_inventory(path)
    assert inv.hosts["n1"].vars["v"] == "kube_node"
    assert inv.hosts["n2"].vars["v"] == "host"
    assert inv.vars == {"v": "all"}


def test_ansible_group_priority(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", """\
[kube_control_plane]
n1 ansible_host=10.0.0.1
[etcd]
n1
[etcd:vars]
pick=etcd
ansible_group_priority=10
[kube_control_plane:vars]
pick=kube_control_plane
""")
    assert load_inventory(path).hosts["n1"].vars["pick"] == "etcd"


def test_vars_dirs_beat_inline_vars_at_each_level(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", """\
hosts:
  cp1:
    address: 10.0.0.1
    groups: [etcd, control_plane, nodes]
    vars: {h: inline}
  wk1: {address: 10.0.0.2, groups: [nodes], user: inline}
vars: {a: inline, g: all-inline}
group_vars:
  nodes: {g: inline}
""")
    write(tmp_path, "group_vars/all.yml", "a: dir\ng: all-dir\n")
    write(tmp_path, "group_vars/nodes.yaml", "g: dir\n")
    write(tmp_path, "host_vars/cp1.yml", "h: dir\n")
    write(tmp_path, "host_vars/wk1", "ansible_user: from-host-vars\n")
    inv = load_inventory(path)
    cp1, wk1 = inv.hosts["cp1"], inv.hosts["wk1"]
    assert cp1.vars["a"] == "dir"
    assert cp1.vars["g"] == "dir"  # group level (even inline) beats all level (even dir)
    assert cp1.vars["h"] == "dir"
    assert wk1.user == "from-host-vars"  # host_vars/ beats the inline host key
    assert inv.vars == {"a": "dir", "g": "all-dir"}


def test_vars_directory_form_merges_in_sorted_order(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", "hosts:\n  cp1: {address: 10.0.0.1, "
                                      "groups: [etcd, control_plane, nodes]}\n")
    write(tmp_path, "group_vars/nodes/20-late.yml", "x: late\nonly_late: 1\n")
    write(tmp_path, "group_vars/nodes/10-early.yaml", "x: early\nonly_early: 1\n")
    write(tmp_path, "group_vars/nodes/sub/30-nested.yml", "nested: yes\n")
    write(tmp_path, "group_vars/nodes/.hidden.yml", "x: hidden\n")
    write(tmp_path, "group_vars/nodes/README.md", "not: vars\n")
    write(tmp_path, "host_vars/cp1/a.yml", "hv: a\n")
    write(tmp_path, "host_vars/cp1/b.yml", "hv: b\n")
    write(tmp_path, "group_vars/kube_node.yml", "unused: 1\n")  # no such group: ignored
    vars_ = load_inventory(path).hosts["cp1"].vars
    assert vars_ == {"x": "late", "only_late": 1, "only_early": 1, "nested": True, "hv": "b"}


def test_connection_settings_follow_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.ini", """\
[all]
n1 ansible_host=10.0.0.1
n2 ansible_host=10.0.0.2 ansible_user=host-user
[kube_control_plane]
n1
[etcd]
n1
[kube_node]
n2
[all:vars]
ansible_user=all-user
""")
    write(tmp_path, "group_vars/kube_node.yml", "ansible_port: 2200\nansible_become: true\n")
    inv = load_inventory(path)
    n1, n2 = inv.hosts["n1"], inv.hosts["n2"]
    assert (n1.user, n1.port, n1.become) == ("all-user", 22, False)
    assert (n2.user, n2.port, n2.become) == ("host-user", 2200, True)
    inv = load_inventory(path, ["ansible_user=extra-user ansible_host=10.9.9.9"])
    assert inv.hosts["n2"].user == "extra-user"
    assert inv.hosts["n2"].address == "10.9.9.9"


def test_native_defaults_are_the_lowest_layer(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", """\
defaults: {user: default-user, port: 2022}
hosts:
  cp1: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}
  wk1: {address: 10.0.0.2, groups: [nodes], user: host-user}
group_vars:
  nodes: {ansible_port: 2200}
""")
    inv = load_inventory(path)
    assert (inv.hosts["cp1"].user, inv.hosts["cp1"].port) == ("default-user", 2200)
    assert inv.hosts["wk1"].user == "host-user"
    assert "ansible_port" not in inv.hosts["cp1"].vars
    inv = load_inventory(path, ["ansible_user=extra"])
    assert inv.hosts["wk1"].user == "extra"


def test_extra_vars_are_yaml_typed_and_later_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", NATIVE)
    inv = load_inventory(path, ["x=3 flag=true name='two words' empty=", "x=4", "list=[1,2]"])
    cp1 = inv.hosts["cp1"]
    assert cp1.vars["x"] == 4
    assert cp1.vars["flag"] is True
    assert cp1.vars["name"] == "two words"
    assert cp1.vars["empty"] == ""
    assert cp1.vars["list"] == [1, 2]


def test_extra_vars_from_file_and_inline_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", NATIVE)
    extra = write(tmp_path, "extra.yml", "level: file\nnested: {a: 1}\nreplicas: 3\n")
    inv = load_inventory(path, [f"@{extra}", '{"replicas": 5}'])
    cp1 = inv.hosts["cp1"]
    assert cp1.vars["level"] == "file"
    assert cp1.vars["nested"] == {"a": 1}
    assert type(cp1.vars["nested"]) is dict  # no line bookkeeping leaks out
    assert cp1.vars["replicas"] == 5


def test_node_name_from_group_vars(tmp_path: Path) -> None:
    path = write(tmp_path, "inv.yml", NATIVE)
    write(tmp_path, "host_vars/wk1.yml", "node_name: worker-1\n")
    inv = load_inventory(path)
    assert inv.hosts["wk1"].node_name == "worker-1"
    assert inv.hosts["cp1"].node_name == "cp1"
