"""Where every PKI file lives: locally under the state's pki/ dir, and on the hosts.

Local layout (``state.pki_dir``, 0700; keys and kubeconfigs 0600)::

    ca.crt ca.key                          cluster CA
    apiserver.{crt,key}                    apiserver serving cert
    apiserver-kubelet-client.{crt,key}     apiserver -> kubelet client cert
    apiserver-etcd-client.{crt,key}        apiserver -> etcd client cert (etcd CA)
    admin / controller-manager / scheduler / kube-proxy .{crt,key}
    sa.key sa.pub                          service-account signing key pair
    etcd/ca.crt etcd/ca.key                etcd CA
    etcd/<member>-server.{crt,key}         etcd client-facing serving cert
    etcd/<member>-peer.{crt,key}           etcd peer cert
    etcd/healthcheck-client.{crt,key}      etcdctl/health-check client cert
    kubelet/<node>.{crt,key}               kubelet cert (client + serving, see catalog)
    kubeconfigs/<name>.kubeconfig          admin, controller-manager, scheduler,
                                           kube-proxy, kubelet-<node>

Remote paths (kubeadm-like; which host gets which is in distribution.py):
Kubernetes material under /etc/kubernetes/pki, etcd's under /etc/etcd/pki with
host-independent names (server.crt, peer.crt) so one systemd unit template fits
every member, and kubeconfigs as /etc/kubernetes/<component>.kubeconfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from k8sboot.cluster_layout import ETCD_PKI_DIR, K8S_CONFIG_DIR, K8S_PKI_DIR

# Local "stems": a path under pki_dir without the .crt/.key suffix.
CA = "ca"
ETCD_CA = "etcd/ca"
FRONT_PROXY_CA = "front-proxy-ca"
FRONT_PROXY_CLIENT = "front-proxy-client"
APISERVER = "apiserver"
APISERVER_KUBELET_CLIENT = "apiserver-kubelet-client"
APISERVER_ETCD_CLIENT = "apiserver-etcd-client"
ETCD_HEALTHCHECK_CLIENT = "etcd/healthcheck-client"
ADMIN = "admin"
CONTROLLER_MANAGER = "controller-manager"
SCHEDULER = "scheduler"
KUBE_PROXY = "kube-proxy"


def etcd_server(member: str) -> str:
    return f"etcd/{member}-server"


def etcd_peer(member: str) -> str:
    return f"etcd/{member}-peer"


def kubelet(node: str) -> str:
    return f"kubelet/{node}"


def kubelet_kubeconfig(node: str) -> str:
    return f"kubelet-{node}"


@dataclass(frozen=True)
class PkiLayout:
    root: Path

    def crt(self, stem: str) -> Path:
        return self.root / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.root / f"{stem}.key"

    def kubeconfig(self, name: str) -> Path:
        return self.root / "kubeconfigs" / f"{name}.kubeconfig"

    @property
    def sa_key(self) -> Path:
        return self.root / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.root / "sa.pub"

    def directories(self) -> list[Path]:
        return [self.root] + [self.root / d for d in ("etcd", "kubelet", "kubeconfigs")]


# Remote locations.
K8S_DIR = K8S_CONFIG_DIR
K8S_PKI = K8S_PKI_DIR
ETCD_PKI = ETCD_PKI_DIR


def remote_kubeconfig(component: str) -> str:
    return f"{K8S_DIR}/{component}.kubeconfig"
