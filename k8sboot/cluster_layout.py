"""The facts every layer agrees on, in one place: group names, units, ports, remote paths.

Who runs what is decided by three inventory groups; each group means a set
of systemd units listening on known ports, configured from files in known
places. Python code reads them from here; roles receive the remote paths as
vars (plan.py), so an inventory that moves a directory moves it everywhere.
"""

from __future__ import annotations

# -- the role groups of an inventory (kubespray's names are mapped onto these) --------
ETCD = "etcd"
CONTROL_PLANE = "control_plane"
NODES = "nodes"
ROLE_GROUPS: tuple[str, ...] = (ETCD, CONTROL_PLANE, NODES)

# -- what runs on a host of each group ---------------------------------------------
GROUP_UNITS: dict[str, tuple[str, ...]] = {
    ETCD: ("etcd",),
    CONTROL_PLANE: ("kube-apiserver", "kube-controller-manager", "kube-scheduler"),
    NODES: ("containerd", "kubelet", "kube-proxy"),
}
KUBELET_UNIT = "kubelet"  # whether it runs tells a node to roll from one to install
GROUP_PORTS: dict[str, dict[int, str]] = {
    ETCD: {2379: "etcd client", 2380: "etcd peer"},
    CONTROL_PLANE: {6443: "kube-apiserver", 10257: "kube-controller-manager", 10259: "kube-scheduler"},
    NODES: {10250: "kubelet", 10249: "kube-proxy metrics", 10256: "kube-proxy health"},
}
APISERVER_PORT = 6443
# With several control planes, each node host runs a TCP load balancer on loopback in
# front of every apiserver (kubespray's localhost load balancer): kubelet and
# kube-proxy dial it, so losing one control plane is a failover, not an outage.
# Its own port: a control plane's apiserver already holds 6443 on every address.
APISERVER_LB_PORT = 6444
APISERVER_LB_UNIT = "k8sboot-apiserver-lb"
# Every node runs the pod routes agent (roles/pod_routes): routes to the other nodes' pod
# CIDRs, from the API. Not in GROUP_UNITS: it starts after the nodes are Ready.
POD_ROUTES_UNIT = "k8sboot-pod-routes"
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380

# -- names in the API that `up` (cluster_api.py) and an exported playbook both write ---
KUBELET_API_ROLE = "system:kube-apiserver-to-kubelet"
KUBELET_API_USER = "kube-apiserver-kubelet-client"  # the CN of apiserver-kubelet-client.crt
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"

# -- where things live on the hosts (role vars of the same names can move them) -----
REMOTE_BIN_DIR = "/usr/local/bin"
K8S_CONFIG_DIR = "/etc/kubernetes"
K8S_PKI_DIR = "/etc/kubernetes/pki"
ETCD_PKI_DIR = "/etc/etcd/pki"
ETCD_DATA_DIR = "/var/lib/etcd"
REMOTE_DIR_VARS: dict[str, str] = {
    "k8s_config_dir": K8S_CONFIG_DIR,
    "k8s_pki_dir": K8S_PKI_DIR,
    "etcd_pki_dir": ETCD_PKI_DIR,
    "etcd_data_dir": ETCD_DATA_DIR,
}


def https_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{port}"
