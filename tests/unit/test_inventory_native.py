"""The native inventory format: keys, defaults, providers, --list, machines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import Host, Inventory, apply_machines, inventory_list, load_inventory

REPO = Path(__file__).resolve().parents[2]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


FULL = """\
cluster:
  name: lab
  pod_cidr: 10.244.0.0/16
defaults: {user: root, port: 22, key: ~/.ssh/id_ed25519, become: false}
hosts:
  cp1: {address: 192.168.150.11, groups: [etcd, control_plane, nodes]}
  wk1:
    address: 192.168.150.12
    groups: [nodes]
    user: admin
    become: true
    port: 2222
    key: keys/wk1
    vars: {node_name: worker-1}
  wk2: {address: wk2.example.com, groups: [nodes], become: "yes"}
vars: {region: eu}
group_vars: {nodes: {foo: 1}}
"""


def test_full_native_inventory(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", FULL))
    assert isinstance(inv, Inventory)
    assert inv.name == "lab"
    assert inv.cluster == {"name": "lab", "pod_cidr": "10.244.0.0/16"}
    assert list(inv.hosts) == ["cp1", "wk1", "wk2"]
    cp1, wk1, wk2 = inv.hosts.values()
    assert isinstance(cp1, Host)
    assert (cp1.address, cp1.port, cp1.user, cp1.become) == ("192.168.150.11", 22, "root", False)
    assert cp1.key == os.path.expanduser("~/.ssh/id_ed25519")
    assert cp1.groups == ["etcd", "control_plane", "nodes"]
    assert cp1.vars == {"region": "eu", "foo": 1}
    # host keys beat defaults; a relative key is taken from the inventory's directory
    assert (wk1.user, wk1.port, wk1.become) == ("admin", 2222, True)
    assert wk1.key == str(tmp_path / "keys" / "wk1")
    assert wk1.node_name == "worker-1"
    assert wk1.vars == {"region": "eu", "foo": 1, "node_name": "worker-1"}
    assert wk2.address == "wk2.example.com" and wk2.become is True
    assert inv.groups["control_plane"] == ["cp1"]
    assert inv.groups["etcd"] == ["cp1"]
    assert inv.groups["nodes"] == ["cp1", "wk1", "wk2"]
    assert inv.vars == {"region": "eu"}
    assert inv.warnings == []
    assert inv.path == (tmp_path / "inv.yml").resolve()


def test_minimal_inventory_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """\
hosts:
  solo: {address: 10.0.0.5, groups: [etcd, control_plane, nodes]}
"""))
    assert inv.name == "k8sboot"
    solo = inv.hosts["solo"]
    assert (solo.port, solo.user, solo.key) == (22, "root", None)
    assert (solo.become, solo.provider) == (False, None)
    assert solo.node_name == "solo"
    assert inv.warnings == [
        "only 1 host(s) in nodes: fine for a lab, but production clusters want at least three"]


def test_role_groups_always_present(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """\
hosts:
  a: {address: 10.0.0.1, groups: [etcd, control_plane]}
  b: {address: 10.0.0.2, groups: [nodes, nodes]}
"""))
    assert inv.groups["nodes"] == ["b"]  # listed twice, member once
    assert [h.name for h in inv.hosts_in("control_plane")] == ["a"]
    assert inv.groups["all"] == ["a", "b"]


def test_sizes_go_to_vars_and_provider_hosts_may_lack_address(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """\
cluster:
  name: vms
  provider: {type: libvirt, network: default}
hosts:
  cp1: {groups: [etcd, control_plane, nodes], cpus: 2, memory: 4096, disk: 20G}
  wk1: {groups: [nodes], provider: vagrant}
  metal: {address: 10.1.1.1, groups: [nodes], provider: none}
"""))
    cp1, wk1, metal = inv.hosts.values()
    assert cp1.address is None and cp1.provider == "libvirt"
    assert cp1.vars == {"cpus": 2, "memory": 4096, "disk": "20G"}
    assert wk1.provider == "vagrant"  # host beats cluster.provider
    assert metal.provider is None  # an explicit opt-out
    assert inv.cluster["provider"] == {"type": "libvirt", "network": "default"}


def test_provider_from_defaults_beats_cluster(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """\
cluster: {provider: libvirt}
defaults: {provider: vagrant}
hosts:
  cp1: {groups: [etcd, control_plane, nodes]}
"""))
    assert inv.hosts["cp1"].provider == "vagrant"


def test_yaml_merge_keys_and_identical_duplicates_are_fine(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """\
defaults: {user: root}
hosts:
  cp1: &base {address: 10.0.0.1, groups: [etcd, control_plane, nodes], port: 22}
  wk1:
    <<: *base
    address: 10.0.0.2
    port: 22
    port: 22
"""))
    assert inv.hosts["wk1"].address == "10.0.0.2"
    assert inv.hosts["wk1"].groups == ["etcd", "control_plane", "nodes"]


def test_inventory_list_shape(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", FULL))
    listing = inventory_list(inv)
    assert set(listing) == {"_meta", "all", "etcd", "control_plane", "nodes"}
    assert listing["all"] == {"children": ["etcd", "control_plane", "nodes"]}
    assert listing["nodes"] == {"hosts": ["cp1", "wk1", "wk2"]}
    assert listing["control_plane"] == {"hosts": ["cp1"]}
    wk1 = listing["_meta"]["hostvars"]["wk1"]
    assert wk1["address"] == "192.168.150.12"
    assert wk1["port"] == 2222
    assert wk1["user"] == "admin"
    assert wk1["key"] == str(tmp_path / "keys" / "wk1")
    assert wk1["become"] is True
    assert wk1["node_name"] == "worker-1" and wk1["foo"] == 1 and wk1["region"] == "eu"
    assert wk1["ansible_host"] == "192.168.150.12"  # usable as an Ansible dynamic inventory
    assert "groups" not in wk1 and "provider" not in wk1


def test_apply_machines_fills_provisioned_hosts(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """\
cluster: {provider: libvirt}
hosts:
  cp1: {groups: [etcd, control_plane, nodes]}
  metal: {address: 10.9.9.9, groups: [nodes], provider: none}
"""))
    apply_machines(inv, {
        "cp1": {"address": "192.168.122.50", "port": 22, "user": "k8sboot",
                "key": "/state/id_ed25519"},
        "metal": {"address": "1.2.3.4"},  # not provisioned: ignored
    })
    cp1 = inv.hosts["cp1"]
    assert (cp1.address, cp1.user, cp1.key) == ("192.168.122.50", "k8sboot", "/state/id_ed25519")
    assert inv.hosts["metal"].address == "10.9.9.9"
    hostvars = inventory_list(inv)["_meta"]["hostvars"]
    assert hostvars["cp1"]["address"] == "192.168.122.50"
    assert hostvars["cp1"]["provider"] == "libvirt"


@pytest.mark.parametrize("name", ["lab.yml", "physical.yml", "hosts.ini"])
def test_example_inventories_load(name: str) -> None:
    inv = load_inventory(REPO / "inventory" / name)
    assert inv.groups["control_plane"] and inv.groups["etcd"] and inv.groups["nodes"]
    assert all(h.address for h in inv.hosts.values())


def test_lab_example_matches_the_documented_cluster() -> None:
    inv = load_inventory(REPO / "inventory" / "lab.yml")
    assert inv.cluster == {"name": "lab", "pod_cidr": "10.244.0.0/16",
                           "service_cidr": "10.96.0.0/12", "cluster_domain": "cluster.local"}
    assert {n: h.address for n, h in inv.hosts.items()} == {
        "cp1": "192.168.150.11", "wk1": "192.168.150.12", "wk2": "192.168.150.13"}
    assert inv.groups["nodes"] == ["cp1", "wk1", "wk2"]


def test_physical_example_has_a_become_user() -> None:
    inv = load_inventory(REPO / "inventory" / "physical.yml")
    sudoers = [h for h in inv.hosts.values() if h.become]
    assert [(h.user, h.become) for h in sudoers] == [("admin", True)]


def test_missing_inventory_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inventory not found"):
        load_inventory(tmp_path / "nope.yml")
