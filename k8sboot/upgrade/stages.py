"""The stages a roll takes, in order, and which binaries each host runs: one home for both."""

from __future__ import annotations

from k8sboot.binaries import components as comps
from k8sboot.cluster_layout import CONTROL_PLANE, ETCD, NODES
from k8sboot.inventory.model import Host

# in the order a roll takes them: etcd, then the apiservers and their controllers, then nodes
STAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("etcd", ETCD, (comps.ETCD,)),
    ("control plane", CONTROL_PLANE, (comps.KUBE_APISERVER, comps.KUBE_CONTROLLER_MANAGER, comps.KUBE_SCHEDULER)),
    ("nodes", NODES, (comps.KUBELET, comps.KUBE_PROXY)),
)


def host_components(host: Host) -> list[str]:
    """The rolled binaries this host runs, by its groups."""
    return [c for _, group, cs in STAGES if host.in_group(group) for c in cs]


def host_binary_paths(host: Host) -> list[str]:
    """Where those binaries are installed on it."""
    return [comps.remote_path(c) for c in host_components(host)]
