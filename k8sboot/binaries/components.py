"""The binaries a cluster is made of, which hosts need them, and where they go.

A component's name is also its file name, both in the user's build directory and
on the hosts (``/usr/local/bin/<name>``).
"""

from __future__ import annotations

from collections.abc import Iterable

from k8sboot import cluster_layout as groups
from k8sboot.cluster_layout import REMOTE_BIN_DIR

ETCD = "etcd"
ETCDCTL = "etcdctl"
KUBE_APISERVER = "kube-apiserver"
KUBE_CONTROLLER_MANAGER = "kube-controller-manager"
KUBE_SCHEDULER = "kube-scheduler"
KUBELET = "kubelet"
KUBE_PROXY = "kube-proxy"
KUBECTL = "kubectl"

# a cluster cannot run without these
REQUIRED: tuple[str, ...] = (
    ETCD, KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET, KUBE_PROXY,
)
# used when present (health checks, admin convenience); missing is not an error
# unless the inventory names them explicitly
OPTIONAL: tuple[str, ...] = (ETCDCTL, KUBECTL)
ALL: tuple[str, ...] = REQUIRED + OPTIONAL

# the server components built from one Kubernetes tree: their versions must agree.
# kubectl is a client with its own supported skew (+-1 minor), so it is left out.
KUBE_SERVER: tuple[str, ...] = (
    KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBELET, KUBE_PROXY,
)
# what `k8sboot binaries build` makes by default: everything cmd/ of the tree holds
KUBE_BUILDABLE: tuple[str, ...] = KUBE_SERVER + (KUBECTL,)

GROUP_COMPONENTS: dict[str, tuple[str, ...]] = {
    groups.ETCD: (ETCD, ETCDCTL),
    groups.CONTROL_PLANE: (KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER, KUBECTL),
    groups.NODES: (KUBELET, KUBE_PROXY),
}


def remote_path(component: str) -> str:
    return f"{REMOTE_BIN_DIR}/{component}"


def components_for_groups(groups: Iterable[str]) -> list[str]:
    """The components a host in these role groups needs, in ALL's order."""
    wanted = {c for g in groups for c in GROUP_COMPONENTS.get(g, ())}
    return [c for c in ALL if c in wanted]


def version_kind(component: str) -> str:
    """How a component tells its version: 'etcd', 'etcdctl', 'kubectl' or 'kube'."""
    if component in (ETCD, ETCDCTL, KUBECTL):
        return component
    return "kube"
