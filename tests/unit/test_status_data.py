"""k8sboot status: shaping the API's node JSON and the hosts' unit states (no cluster needed)."""

from __future__ import annotations

import urllib3
from kubernetes.client.rest import ApiException

from k8sboot.cluster_status import (
    node_status,
    nodes_status,
    parse_is_active,
    short_reason,
    units_for_groups,
)


def api_node(name: str, ready: str = "True", reason: str = "KubeletReady", **extra) -> dict:
    return {
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "node-role.kubernetes.io/control-plane": ""},
        },
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.0.0.5"},
                {"type": "Hostname", "address": name},
                {"type": "ExternalIP", "address": "203.0.113.5"},
            ],
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                    "message": "kubelet has sufficient memory available",
                },
                {"type": "DiskPressure", "status": "True", "reason": "KubeletHasDiskPressure"},
                {"type": "Ready", "status": ready, "reason": reason, "message": "m"},
            ],
            "capacity": {
                "cpu": "2",
                "memory": "24684092Ki",
                "pods": "110",
                "ephemeral-storage": "1Gi",
            },
            "allocatable": {"cpu": "1900m", "memory": "24581692Ki", "pods": "110"},
            "nodeInfo": {
                "kernelVersion": "6.1.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.6.20",
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "machineID": "x",
            },
            **extra,
        },
    }


def test_node_status_keeps_the_apis_own_names_and_values():
    raw = api_node("cp1")
    n = node_status(raw)
    assert n["name"] == "cp1" and n["registered"] is True and n["ready"] is True
    assert n["roles"] == ["control-plane"]
    assert n["podCIDR"] == "10.244.1.0/24"
    assert [a["type"] for a in n["addresses"]] == ["InternalIP", "Hostname", "ExternalIP"]
    # as the API gives them: every resource, the API's quantities
    assert n["capacity"] == raw["status"]["capacity"] and n["allocatable"]["cpu"] == "1900m"
    assert n["nodeInfo"] == raw["status"]["nodeInfo"]
    assert n["nodeInfo"]["kubeletVersion"] == "v1.20.2"
    assert n["conditions"] == raw["status"]["conditions"]
    disk = next(c for c in n["conditions"] if c["type"] == "DiskPressure")
    assert disk["status"] == "True" and disk["reason"] == "KubeletHasDiskPressure"
    assert node_status(api_node("wk1", "False", "KubeletNotReady"))["ready"] is False


def test_a_node_without_conditions_is_unknown_not_an_error():
    n = node_status({"metadata": {"name": "new"}, "status": {}})
    assert n["ready"] is None and n["conditions"] == [] and n["roles"] == []
    assert n["capacity"] == {} and n["nodeInfo"] == {}


def test_inventory_nodes_missing_from_the_api_are_listed_as_unregistered():
    nodes = nodes_status(
        [api_node("wk1", "Unknown", "NodeStatusUnknown"), api_node("cp1")], ["cp1", "wk1", "wk2"]
    )
    assert [n["name"] for n in nodes] == ["cp1", "wk1", "wk2"]
    assert nodes[1]["ready"] is None  # Ready=Unknown: neither true nor false
    assert nodes[2]["registered"] is False and nodes[2]["ready"] is None


def test_units_follow_the_host_groups_once_each():
    assert units_for_groups(["nodes"]) == ["containerd", "kubelet", "kube-proxy"]
    assert units_for_groups(["nodes", "etcd", "control_plane", "gpu"]) == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "containerd",
        "kubelet",
        "kube-proxy",
    ]
    assert units_for_groups(["bastion"]) == []


def test_is_active_output_pairs_with_the_units_in_order():
    assert parse_is_active(["etcd", "kubelet", "kube-proxy"], "active\ninactive\n") == {
        "etcd": "active",
        "kubelet": "inactive",
        "kube-proxy": "unknown",
    }


def test_short_reason_digs_the_socket_error_out_of_urllib3():
    inner = urllib3.exceptions.NewConnectionError(
        None, "Failed to establish a new connection: [Errno 111] Connection refused"
    )
    outer = urllib3.exceptions.MaxRetryError(None, "/api/v1/nodes", inner)
    assert short_reason(outer) == "connection refused"
    assert short_reason(TimeoutError("timed out")) == "timed out"
    assert short_reason(ApiException(status=401, reason="Unauthorized")) == "HTTP 401 Unauthorized"


def test_the_api_is_not_dialled_when_every_control_plane_machine_is_stopped():
    from k8sboot.cluster_status import machines_down
    from k8sboot.inventory.model import Host

    cp1 = Host("cp1", "10.0.0.1", groups=["control_plane"], provider="lxc")
    cp2 = Host("cp2", "10.0.0.2", groups=["control_plane"], provider="lxc")
    assert machines_down([cp1], {"cp1": "stopped"}) == \
        "its machine (cp1) is stopped (`k8sboot start` boots it)"
    assert machines_down([cp1, cp2], {"cp1": "stopped", "cp2": "shut off"}) == \
        "their machines (cp1, cp2) are shut off / stopped (`k8sboot start` boots them)"
    # any that may answer is dialled: running, state unknown, or not a made machine at all
    assert machines_down([cp1, cp2], {"cp1": "stopped", "cp2": "running"}) is None
    assert machines_down([cp1], {"cp1": "unknown"}) is None
    assert machines_down([cp1, cp2], {"cp1": "stopped"}) is None
    assert machines_down([], {}) is None
