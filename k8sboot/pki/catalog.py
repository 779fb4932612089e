"""Which leaf certificates and kubeconfigs a cluster gets, and what goes in each.

Three CAs, as kubeadm does (the third, front-proxy, signs only the client
certificate the apiserver presents to extension apiservers). Of the first two: etcd trusts *any* certificate its CA signed as a
client, so if etcd trusted the cluster CA, every kubelet, kube-proxy and admin
cert would be able to read and write etcd directly, bypassing the apiserver's
authorization. A separate etcd CA keeps etcd access to the apiserver and etcd
itself.

The kubelet gets one certificate for both of its roles (clientAuth towards
the apiserver as ``system:node:<name>``, serverAuth for its own :10250 API,
SANs = node name and addresses): both sides identify the same node, and one
key pair per node halves what is generated and uploaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from k8sboot.pki import layout
from k8sboot.pki.sans import SubjectAltNames
from k8sboot.pki.spec import NODE_CN_PREFIX, PkiSpec

SYSTEM_MASTERS = "system:masters"
SYSTEM_NODES = "system:nodes"
FRONT_PROXY_CLIENT_CN = "front-proxy-client"  # the apiserver's --requestheader-allowed-names


class Issuer(StrEnum):
    CLUSTER = "cluster"
    ETCD = "etcd"
    # the aggregation layer: the apiserver proxies to extension apiservers (metrics-server)
    # with a client cert they trust only for that, from a CA of its own (as kubeadm)
    FRONT_PROXY = "front-proxy"


@dataclass(frozen=True)
class LeafProfile:
    stem: str  # local file stem, see layout
    issuer: Issuer
    common_name: str
    organizations: tuple[str, ...] = ()
    server_auth: bool = False
    client_auth: bool = False
    sans: SubjectAltNames = field(default_factory=SubjectAltNames)


class Endpoint(StrEnum):
    """Which apiserver URL a kubeconfig points at (the caller supplies the URLs)."""

    ADMIN = "admin"  # the operator's view: first control plane / load balancer
    LOCAL = "local"  # components beside the apiserver: https://127.0.0.1:6443
    CLUSTER = "cluster"  # kubelet and kube-proxy on every node


@dataclass(frozen=True)
class KubeconfigProfile:
    name: str  # local file name without .kubeconfig
    cert_stem: str
    endpoint: Endpoint


def apiserver_sans(spec: PkiSpec) -> SubjectAltNames:
    svc = f"kubernetes.default.svc.{spec.cluster_domain}"
    names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", svc]
    names += ["localhost", "127.0.0.1"] + [str(ip) for ip in spec.service_ips]
    for cp in spec.control_planes:
        names += [cp.name, *cp.addresses, *cp.hostnames]
    return SubjectAltNames.of(names + list(spec.extra_sans))


def leaf_profiles(spec: PkiSpec) -> list[LeafProfile]:
    cluster, etcd = Issuer.CLUSTER, Issuer.ETCD
    profiles = [
        LeafProfile(
            layout.APISERVER, cluster, "kube-apiserver", server_auth=True, sans=apiserver_sans(spec)
        ),
        LeafProfile(
            layout.APISERVER_KUBELET_CLIENT,
            cluster,
            "kube-apiserver-kubelet-client",
            (SYSTEM_MASTERS,),
            client_auth=True,
        ),
        LeafProfile(
            layout.APISERVER_ETCD_CLIENT, etcd, "kube-apiserver-etcd-client", client_auth=True
        ),
        LeafProfile(
            layout.ETCD_HEALTHCHECK_CLIENT, etcd, "kube-etcd-healthcheck-client", client_auth=True
        ),
        LeafProfile(layout.FRONT_PROXY_CLIENT, Issuer.FRONT_PROXY, FRONT_PROXY_CLIENT_CN, client_auth=True),
        LeafProfile(layout.ADMIN, cluster, "kubernetes-admin", (SYSTEM_MASTERS,), client_auth=True),
        LeafProfile(
            layout.CONTROLLER_MANAGER, cluster, "system:kube-controller-manager", client_auth=True
        ),
        LeafProfile(layout.SCHEDULER, cluster, "system:kube-scheduler", client_auth=True),
        LeafProfile(layout.KUBE_PROXY, cluster, "system:kube-proxy", client_auth=True),
    ]
    for member in spec.etcd_members:
        # etcd dials its own client URL and its peers with these certs, so both
        # carry clientAuth as well as serverAuth (as kubeadm's do).
        server_sans = SubjectAltNames.of([member.name, *member.addresses, "localhost", "127.0.0.1"])
        peer_sans = SubjectAltNames.of([member.name, *member.addresses])
        profiles.append(
            LeafProfile(
                layout.etcd_server(member.name),
                etcd,
                member.name,
                server_auth=True,
                client_auth=True,
                sans=server_sans,
            )
        )
        profiles.append(
            LeafProfile(
                layout.etcd_peer(member.name),
                etcd,
                member.name,
                server_auth=True,
                client_auth=True,
                sans=peer_sans,
            )
        )
    for node in spec.nodes:
        profiles.append(
            LeafProfile(
                layout.kubelet(node.name),
                cluster,
                f"{NODE_CN_PREFIX}{node.name}",
                (SYSTEM_NODES,),
                server_auth=True,
                client_auth=True,
                sans=SubjectAltNames.of([node.name, *node.addresses]),
            )
        )
    return profiles


def kubeconfig_profiles(spec: PkiSpec) -> list[KubeconfigProfile]:
    profiles = [
        KubeconfigProfile("admin", layout.ADMIN, Endpoint.ADMIN),
        KubeconfigProfile("controller-manager", layout.CONTROLLER_MANAGER, Endpoint.LOCAL),
        KubeconfigProfile("scheduler", layout.SCHEDULER, Endpoint.LOCAL),
        KubeconfigProfile("kube-proxy", layout.KUBE_PROXY, Endpoint.CLUSTER),
    ]
    for node in spec.nodes:
        profiles.append(
            KubeconfigProfile(
                layout.kubelet_kubeconfig(node.name), layout.kubelet(node.name), Endpoint.CLUSTER
            )
        )
    return profiles
