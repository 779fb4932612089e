"""Ansible (kubespray) inventories: INI and YAML, group mapping, dialect detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8sboot.inventory import inventory_list, load_inventory
from k8sboot.inventory.load import detect_dialect


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# kubespray's inventory/sample/inventory.ini, filled in
KUBESPRAY_INI = """\
# ## Configure 'ip' variable to bind kubernetes services on a
# ## different ip than the default iface
[all]
node1 ansible_host=95.54.0.12  ip=10.3.0.1 etcd_member_name=etcd1
node2 ansible_host=95.54.0.13  ip=10.3.0.2 etcd_member_name=etcd2
node3 ansible_host=95.54.0.14  ip=10.3.0.3 etcd_member_name=etcd3
node4 ansible_host=95.54.0.15  ip=10.3.0.4   # a comment after the vars
# node5 ansible_host=95.54.0.16  ip=10.3.0.5

# ## configure a bastion host if your nodes are not directly reachable
# [bastion]
# bastion ansible_host=x.x.x.x ansible_user=some_user

[kube_control_plane]
node1
node2

[etcd]
node1
node2
node3

[kube_node]
node2
node3
node4

[calico_rr]

[k8s_cluster:children]
kube_control_plane
kube_node
calico_rr

[all:vars]
ansible_user=ubuntu
ansible_become=yes
ansible_ssh_private_key_file=keys/cluster

[k8s_cluster:vars]
kube_pods_subnet = 10.233.64.0/18
kube_service_addresses=10.233.0.0/18
dns_domain="{{ cluster_name }}"
"""

# what kubespray's inventory builder writes as hosts.yaml
KUBESPRAY_YAML = """\
all:
  hosts:
    node1:
      ansible_host: 10.10.1.3
      ip: 10.10.1.3
      access_ip: 10.10.1.3
    node2:
      ansible_host: 10.10.1.4
      ip: 10.10.1.4
      access_ip: 10.10.1.4
      ansible_port: 2200
    node3:
      ansible_host: 10.10.1.5
      ip: 10.10.1.5
      access_ip: 10.10.1.5
  children:
    kube_control_plane:
      hosts:
        node1:
        node2:
    kube_node:
      hosts:
        node1:
        node2:
        node3:
    etcd:
      hosts:
        node1:
        node2:
        node3:
    k8s_cluster:
      children:
        kube_control_plane:
        kube_node:
      vars:
        kube_pods_subnet: 10.233.64.0/18
    calico_rr:
      hosts: {}
  vars:
    ansible_user: admin
    ansible_become: true
"""


def test_kubespray_ini(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inventory.ini", KUBESPRAY_INI))
    assert list(inv.hosts) == ["node1", "node2", "node3", "node4"]
    node1 = inv.hosts["node1"]
    assert node1.address == "95.54.0.12"
    assert (node1.user, node1.port, node1.become) == ("ubuntu", 22, True)
    assert node1.key == str(tmp_path / "keys" / "cluster")
    # mapped role groups first, then the inventory's own names
    assert node1.groups == ["etcd", "control_plane", "kube_control_plane", "k8s_cluster"]
    assert node1.vars["ip"] == "10.3.0.1"
    assert node1.vars["etcd_member_name"] == "etcd1"
    assert node1.vars["kube_pods_subnet"] == "10.233.64.0/18"
    # connection vars live on Host fields, not in vars
    assert not any(k.startswith("ansible_") for k in node1.vars)
    assert inv.hosts["node4"].vars == {"ip": "10.3.0.4", "kube_pods_subnet": "10.233.64.0/18",
                                      "kube_service_addresses": "10.233.0.0/18",
                                      "dns_domain": "{{ cluster_name }}"}
    assert inv.groups["control_plane"] == ["node1", "node2"]
    assert inv.groups["nodes"] == ["node2", "node3", "node4"]
    assert inv.groups["etcd"] == ["node1", "node2", "node3"]
    assert inv.groups["kube_node"] == ["node2", "node3", "node4"]
    assert inv.groups["k8s_cluster"] == ["node1", "node2", "node3", "node4"]
    assert inv.groups["calico_rr"] == []
    # kubespray's cluster vars become cluster settings; a Jinja expression is skipped
    assert inv.cluster == {"pod_cidr": "10.233.64.0/18", "service_cidr": "10.233.0.0/18",
                           "name": "k8sboot"}
    assert inv.vars == {"ansible_user": "ubuntu", "ansible_become": "yes",
                        "ansible_ssh_private_key_file": "keys/cluster"}
    assert inv.warnings == []


def test_kubespray_yaml(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.yaml", KUBESPRAY_YAML))
    node2 = inv.hosts["node2"]
    assert (node2.address, node2.port) == ("10.10.1.4", 2200)
    assert (node2.user, node2.become) == ("admin", True)
    assert node2.vars == {"ip": "10.10.1.4", "access_ip": "10.10.1.4",
                          "kube_pods_subnet": "10.233.64.0/18"}
    assert node2.groups == ["etcd", "control_plane", "nodes", "kube_control_plane",
                            "kube_node", "k8s_cluster"]
    assert inv.groups["control_plane"] == ["node1", "node2"]
    assert inv.groups["nodes"] == ["node1", "node2", "node3"]
    assert inv.cluster["pod_cidr"] == "10.233.64.0/18"
    assert inv.warnings == []  # 3 etcd members, 3 nodes


def test_older_group_names_map_too(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.ini", """\
[kube-master]
m1 ansible_host=10.0.0.1
[kube_master]
m2 ansible_host=10.0.0.2
[etcd]
m1
[kube-node]
w1 ansible_host=10.0.0.3
[k8s-cluster:children]
kube-master
kube-node
"""))
    assert inv.groups["control_plane"] == ["m1", "m2"]
    assert inv.groups["nodes"] == ["w1"]
    assert inv.groups["k8s-cluster"] == ["m1", "w1"]
    assert inv.hosts["m1"].groups == ["etcd", "control_plane", "kube-master", "k8s-cluster"]


def test_address_fallbacks(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.ini", """\
[kube_control_plane]
cp1 ip=10.3.0.1
cp2.example.com
192.168.1.7:2222
[etcd:children]
kube_control_plane
[kube_node:children]
kube_control_plane
"""))
    # ansible_host, else kubespray's `ip`, else the name itself when it is an IP/DNS name
    assert inv.hosts["cp1"].address == "10.3.0.1"
    assert inv.hosts["cp2.example.com"].address == "cp2.example.com"
    # Ansible's host:port shorthand
    by_ip = inv.hosts["192.168.1.7"]
    assert (by_ip.address, by_ip.port) == ("192.168.1.7", 2222)
    assert inv.groups["etcd"] == ["cp1", "cp2.example.com", "192.168.1.7"]


def test_ini_values_are_typed_like_ansible(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts", """\
[all]
n1 ansible_host=10.0.0.1 count=3 flag=True word=yes msg="hello world" ansible_become=on

[etcd]
n1
[kube_control_plane]
n1
[kube_node]
n1

[all:vars]
ratio=0.5
quoted='a # b'
"""))
    n1 = inv.hosts["n1"]
    assert n1.vars["count"] == 3
    assert n1.vars["flag"] is True
    assert n1.vars["word"] == "yes"
    assert n1.vars["msg"] == "hello world"
    assert n1.vars["ratio"] == 0.5
    assert n1.vars["quoted"] == "a # b"
    assert n1.become is True


def test_yaml_top_level_groups_without_all(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts.yml", """\
kube_control_plane:
  hosts:
    cp1: {ansible_host: 10.0.0.1}
etcd:
  children:
    kube_control_plane:
kube_node:
  children:
    kube_control_plane:
""")
    assert detect_dialect(path, path.read_text()) == "ansible-yaml"
    inv = load_inventory(path)
    assert inv.hosts["cp1"].groups == ["etcd", "control_plane", "nodes", "kube_control_plane",
                                       "kube_node"]


@pytest.mark.parametrize(("name", "text", "dialect"), [
    ("hosts.ini", "[all]\nn1\n", "ansible-ini"),
    ("hosts.cfg", "n1 ansible_host=1.2.3.4\n", "ansible-ini"),
    ("hosts", "# comment\n[kube_node]\nn1\n", "ansible-ini"),
    ("hosts", "n1\nn2\n", "ansible-ini"),
    ("hosts", "n1 ansible_host=1.2.3.4\n", "ansible-ini"),
    ("hosts.yml", "all:\n  hosts: {n1: }\n", "ansible-yaml"),
    ("hosts", "all:\n  hosts: {n1: }\n", "ansible-yaml"),
    ("inv.yaml", "hosts:\n  n1: {address: 1.2.3.4}\n", "native"),
    ("inv", "cluster: {name: x}\nhosts: {}\n", "native"),
])
def test_dialect_detection(tmp_path: Path, name: str, text: str, dialect: str) -> None:
    path = write(tmp_path, name, text)
    assert detect_dialect(path, text) == dialect


def test_directory_inventory_with_kubespray_group_vars(tmp_path: Path) -> None:
    write(tmp_path, "mycluster/hosts.yaml", KUBESPRAY_YAML)
    write(tmp_path, "mycluster/group_vars/k8s_cluster/k8s-cluster.yml",
          "kube_service_addresses: 10.233.0.0/18\nkube_pods_subnet: 10.200.0.0/16\n")
    write(tmp_path, "mycluster/group_vars/all/all.yml", "upstream_dns_servers: [8.8.8.8]\n")
    inv = load_inventory(tmp_path / "mycluster")
    assert inv.path == (tmp_path / "mycluster" / "hosts.yaml").resolve()
    # the group_vars directory beats the inline k8s_cluster vars
    assert inv.cluster["pod_cidr"] == "10.200.0.0/16"
    assert inv.cluster["service_cidr"] == "10.233.0.0/18"
    assert inv.hosts["node3"].vars["upstream_dns_servers"] == ["8.8.8.8"]
    assert inv.vars["upstream_dns_servers"] == ["8.8.8.8"]


def test_k8sboot_cluster_var_sets_cluster_settings(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.yml", """\
all:
  vars:
    k8sboot_cluster: {name: prod, pod_cidr: 10.1.0.0/16}
    kube_pods_subnet: 10.9.0.0/16
  children:
    etcd: {hosts: {a: {ansible_host: 10.0.0.1}}}
    kube_control_plane: {hosts: {a: }}
    kube_node: {hosts: {a: }}
"""))
    assert inv.name == "prod"
    assert inv.cluster["pod_cidr"] == "10.1.0.0/16"  # explicit beats kubespray's name


def test_ansible_inventory_list(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inventory.ini", KUBESPRAY_INI))
    listing = inventory_list(inv)
    assert listing["all"]["children"] == ["etcd", "control_plane", "nodes", "kube_control_plane",
                                          "kube_node", "calico_rr", "k8s_cluster"]
    assert listing["kube_control_plane"] == {"hosts": ["node1", "node2"]}
    assert listing["control_plane"] == {"hosts": ["node1", "node2"]}
    assert listing["calico_rr"] == {"hosts": []}
    node3 = listing["_meta"]["hostvars"]["node3"]
    assert node3["address"] == "95.54.0.14"
    assert node3["user"] == "ubuntu"
    assert node3["become"] is True
    assert node3["etcd_member_name"] == "etcd3"


@pytest.mark.parametrize("name, text", [("inventory.ini", KUBESPRAY_INI), ("hosts.yaml", KUBESPRAY_YAML)])
def test_kubespray_ha_inventories_give_an_ha_plan_as_they_are(tmp_path: Path, name: str, text: str) -> None:
    from k8sboot.plan import ClusterPlan, cluster_settings, uses_apiserver_lb

    inv = load_inventory(write(tmp_path, name, text))
    settings = cluster_settings(inv)
    assert len(inv.hosts_in("control_plane")) == 2 and len(inv.hosts_in("etcd")) == 3
    assert uses_apiserver_lb(inv, settings)  # two control planes: every node gets the local balancer
    plan = ClusterPlan(inv, settings, "v1.20.2", {}, tmp_path / "pki")
    assert plan.api_server_url == "https://127.0.0.1:6444"
    node = inv.hosts_in("nodes")[-1]
    backends = plan.vars_for_host(node)["apiserver_lb_backends"]
    assert [b["name"] for b in backends] == [h.name for h in inv.hosts_in("control_plane")]
    # kubespray's `ip` is what the apiservers listen on, so it is what the balancer dials
    assert [b["address"] for b in backends] == [str(h.vars.get("ip") or h.address)
                                                for h in inv.hosts_in("control_plane")]
    assert plan.vars_for_host(node)["etcd_initial_cluster"].count("https://") == 3
