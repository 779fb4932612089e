"""Which PKI files each host gets, where they go, and with which mode.

Roles are the inventory's role groups; other group names are ignored, so a
host's whole group list can be passed as it is.

``control_plane`` (kube-apiserver, kube-controller-manager, kube-scheduler)::

    /etc/kubernetes/pki/ca.crt, ca.key        cluster CA (the key: controller-manager
                                              signs kubelet CSRs with it)
    /etc/kubernetes/pki/apiserver.{crt,key}
    /etc/kubernetes/pki/apiserver-kubelet-client.{crt,key}
    /etc/kubernetes/pki/apiserver-etcd-client.{crt,key}
    /etc/kubernetes/pki/etcd/ca.crt           to verify etcd's serving certs
    /etc/kubernetes/pki/front-proxy-ca.crt    --requestheader-client-ca-file
    /etc/kubernetes/pki/front-proxy-client.{crt,key}  --proxy-client-*: aggregated APIs
    /etc/kubernetes/pki/sa.key, sa.pub
    /etc/kubernetes/pki/encryption-config.yaml  the key Secrets are encrypted with in etcd
    /etc/kubernetes/admin.kubeconfig          kubectl on the control plane
    /etc/kubernetes/controller-manager.kubeconfig
    /etc/kubernetes/scheduler.kubeconfig

``etcd`` (member name defaults to the host name)::

    /etc/etcd/pki/ca.crt                      etcd CA (never its key)
    /etc/etcd/pki/server.{crt,key}            <- etcd/<member>-server
    /etc/etcd/pki/peer.{crt,key}              <- etcd/<member>-peer
    /etc/etcd/pki/healthcheck-client.{crt,key} for etcdctl health checks

``nodes`` (kubelet, kube-proxy; node name defaults to the host name)::

    /etc/kubernetes/pki/ca.crt                --client-ca-file
    /etc/kubernetes/pki/kubelet.{crt,key}     <- kubelet/<node> (serving, --tls-*-file)
    /etc/kubernetes/kubelet.kubeconfig        <- kubeconfigs/kubelet-<node>
    /etc/kubernetes/kube-proxy.kubeconfig

Keys, kubeconfigs (which embed a key) and the encryption config are uploaded
0600, the rest 0644.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from k8sboot.cluster_layout import CONTROL_PLANE, ETCD, NODES
from k8sboot.errors import InputError
from k8sboot.pki import layout as L
from k8sboot.pki.encryption import FILE_NAME as ENCRYPTION_CONFIG
from k8sboot.pki.files import PRIVATE_MODE, PUBLIC_MODE

ROLE_CONTROL_PLANE = CONTROL_PLANE
ROLE_ETCD = ETCD
ROLE_NODES = NODES

_K = L.K8S_PKI
_E = L.ETCD_PKI


# The files a cluster is known by: one replaced on a running cluster breaks it (no certificate
# verifies against another CA, no service-account token against another key, and no Secret in
# etcd decrypts with another encryption key). Local names, relative to the PKI directory.
CLUSTER_IDENTITY = frozenset({f"{L.CA}.crt", f"{L.ETCD_CA}.crt", f"{L.FRONT_PROXY_CA}.crt", "sa.pub",
                              ENCRYPTION_CONFIG})


def _pair(remote_stem: str, local_stem: str) -> dict[str, str]:
    return {f"{remote_stem}.crt": f"{local_stem}.crt", f"{remote_stem}.key": f"{local_stem}.key"}


def _kubeconfig(component: str, local_name: str) -> dict[str, str]:
    return {L.remote_kubeconfig(component): f"kubeconfigs/{local_name}.kubeconfig"}


def _control_plane() -> dict[str, str]:
    files = _pair(f"{_K}/ca", L.CA)
    files[f"{_K}/front-proxy-ca.crt"] = f"{L.FRONT_PROXY_CA}.crt"
    for stem in (L.APISERVER, L.APISERVER_KUBELET_CLIENT, L.APISERVER_ETCD_CLIENT, L.FRONT_PROXY_CLIENT):
        files |= _pair(f"{_K}/{stem}", stem)
    files[f"{_K}/etcd/ca.crt"] = f"{L.ETCD_CA}.crt"
    files[f"{_K}/sa.key"] = "sa.key"
    files[f"{_K}/sa.pub"] = "sa.pub"
    files[f"{_K}/{ENCRYPTION_CONFIG}"] = ENCRYPTION_CONFIG
    for component in ("admin", "controller-manager", "scheduler"):
        files |= _kubeconfig(component, component)
    return files


def _etcd(member: str) -> dict[str, str]:
    files = {f"{_E}/ca.crt": f"{L.ETCD_CA}.crt"}
    files |= _pair(f"{_E}/server", L.etcd_server(member))
    files |= _pair(f"{_E}/peer", L.etcd_peer(member))
    files |= _pair(f"{_E}/healthcheck-client", L.ETCD_HEALTHCHECK_CLIENT)
    return files


def _node(node: str) -> dict[str, str]:
    files = {f"{_K}/ca.crt": f"{L.CA}.crt"}
    files |= _pair(f"{_K}/kubelet", L.kubelet(node))
    files |= _kubeconfig("kubelet", L.kubelet_kubeconfig(node))
    files |= _kubeconfig("kube-proxy", "kube-proxy")
    return files


def files_for_host(
    roles: Iterable[str],
    host_name: str,
    node_name: str | None = None,
    etcd_member: str | None = None,
    pki_dir: Path | None = None,
) -> dict[str, Path]:
    """Remote path -> local file for a host with these roles.

    Local paths are relative to the PKI directory, or absolute when `pki_dir`
    is given. Sorted by remote path so uploads happen in a stable order.
    """
    roles = set(roles)
    files: dict[str, str] = {}
    if ROLE_CONTROL_PLANE in roles:
        files |= _control_plane()
    if ROLE_ETCD in roles:
        files |= _etcd(etcd_member or host_name)
    if ROLE_NODES in roles:
        files |= _node(node_name or host_name)
    base = pki_dir if pki_dir is not None else Path()
    return {remote: base / files[remote] for remote in sorted(files)}


# The files one component alone reads, so that a new one restarts that component only
# (a renewed kube-proxy certificate must not drain every node for the kubelet's sake).
# Every other file of a role goes with the role's main unit: kube-apiserver, kubelet, etcd.
FILE_UNITS = {
    "controller-manager.kubeconfig": "kube-controller-manager",
    "ca.key": "kube-controller-manager",  # it signs the kubelets' CSRs
    "scheduler.kubeconfig": "kube-scheduler",
    "kube-proxy.kubeconfig": "kube-proxy",
    # read by tools (kubectl, etcdctl, health checks), not by a running component:
    # a new one restarts nothing
    "admin.kubeconfig": "control_plane_clients",
    "healthcheck-client.crt": "etcd_clients",
    "healthcheck-client.key": "etcd_clients",
}


def file_unit(remote_path: str) -> str | None:
    """The one component that reads this file, when it is not the role's main unit."""
    return FILE_UNITS.get(remote_path.rsplit("/", 1)[-1])


def remote_mode(remote_path: str) -> int:
    """0600 for anything holding a private key, 0644 for certificates and sa.pub."""
    private = remote_path.endswith((".key", ".kubeconfig", ENCRYPTION_CONFIG))
    return PRIVATE_MODE if private else PUBLIC_MODE


@dataclass(frozen=True)
class Upload:
    remote_path: str
    content: bytes
    mode: int


def read_for_upload(local_path: Path) -> bytes:
    try:
        return local_path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            "PKI file missing; run the PKI step (ensure_pki) first", file=str(local_path)
        ) from None


def uploads_for_host(
    pki_dir: Path,
    roles: Iterable[str],
    host_name: str,
    node_name: str | None = None,
    etcd_member: str | None = None,
) -> list[Upload]:
    """files_for_host, read and paired with the mode each file must have on the host."""
    files = files_for_host(roles, host_name, node_name, etcd_member, pki_dir)
    return [
        Upload(remote, read_for_upload(local), remote_mode(remote))
        for remote, local in files.items()
    ]
