"""The cluster plan: what the inventory means for each host.

Who runs etcd, the control plane and a kubelet; the addresses, CIDRs and
names every component agrees on; and the vars each role receives. Roles see
only these vars (plus the inventory's own), so ansible-playbook given the same
vars renders the same files.

Precedence, lowest first: role defaults < plan vars < the inventory's vars
(all < group < host < -e). A user can therefore override anything the plan
derives, e.g. `cgroup_driver` for one host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from k8sboot import cluster_layout as layout
from k8sboot.booleans import parse_bool
from k8sboot.errors import InputError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.pki import PkiSpec, files_for_host, remote_mode
from k8sboot.pki.distribution import CLUSTER_IDENTITY, file_unit
from k8sboot.pki.spec import ControlPlane, EtcdMember, Node

CONTAINER_VIRT = {"lxc", "lxc-libvirt", "docker", "podman", "systemd-nspawn", "openvz", "container-other", "wsl"}

DEFAULTS = {
    "cluster_domain": "cluster.local",
    "pod_cidr": "10.244.0.0/16",
    "service_cidr": "10.96.0.0/12",
    "node_cidr_mask_size": 24,
    "apiserver_port": layout.APISERVER_PORT,
    # the node-local apiserver load balancer: "auto" = with two or more control planes
    # and no api_endpoint of the user's own; true also for one (a cluster that will grow)
    "apiserver_lb": "auto",
    "apiserver_lb_port": layout.APISERVER_LB_PORT,
    # hardening (docs/cis.md): TLS of every component, Secrets encrypted in etcd, and the
    # kubelet's kernel settings (auto = on, except in containers, which cannot set them)
    "tls_min_version": "VersionTLS12",
    "tls_cipher_suites": [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    ],
    "encrypt_secrets": True,
    "kubelet_protect_kernel_defaults": "auto",
    # certificate lifetimes, as kubeadm's; `up` re-issues a leaf in its last 30 days
    "cert_validity_days": 365,
    "ca_validity_days": 3650,
}
_CIPHER_SUITE = re.compile(r"TLS_[A-Z0-9_]{4,80}")
_TLS_VERSIONS = ("VersionTLS12", "VersionTLS13")


def _days(settings: dict[str, Any], key: str) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 31 < value <= 36500:
        raise InputError(f"cluster.{key} must be a whole number of days from 32 to 36500, not {value!r:.60}")
    return value


def hardening_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The hardening settings, checked: they end up on the components' command lines."""
    suites = settings["tls_cipher_suites"]
    if not isinstance(suites, list) or not suites or not all(
            isinstance(s, str) and _CIPHER_SUITE.fullmatch(s) for s in suites):
        raise InputError(f"cluster.tls_cipher_suites must be a list of Go TLS cipher suite names "
                         f"(e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), not {suites!r:.120}")
    version = settings["tls_min_version"]
    if version not in _TLS_VERSIONS:
        raise InputError(f"cluster.tls_min_version must be one of {', '.join(_TLS_VERSIONS)}, not {version!r:.60}")
    raw_protect = settings["kubelet_protect_kernel_defaults"]
    as_bool = parse_bool(raw_protect)
    protect = "auto" if str(raw_protect).strip().lower() == "auto" else str(as_bool).lower()
    if protect not in ("auto", "true", "false"):
        raise InputError(f"cluster.kubelet_protect_kernel_defaults must be auto, true or false, "
                         f"not {settings['kubelet_protect_kernel_defaults']!r:.60}")
    encrypt = parse_bool(settings["encrypt_secrets"])
    if encrypt is None:
        raise InputError(f"cluster.encrypt_secrets must be true or false, not {settings['encrypt_secrets']!r:.60}")
    return {"tls_cipher_suites": list(suites), "tls_min_version": version, "encrypt_secrets": encrypt,
            "kubelet_protect_kernel_defaults": protect}


def node_ip(host: Host) -> str:
    """The address components bind to: kubespray's `ip` var, else the SSH address."""
    ip = host.vars.get("ip") or host.address
    if not ip:
        raise InputError(f"host {host.name} has no address (provision it first)")
    return str(ip)


def _nth_ip(cidr: str, n: int, what: str) -> str:
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as e:
        raise InputError(f"cluster.{what}: {cidr!r} is not a CIDR ({e})") from e
    return str(net[n])


def remote_dirs(host: Host) -> dict[str, str]:
    """Where configs and certificates go on this host: the layout's, unless the inventory moves them."""
    return {key: str(host.vars.get(key) or default) for key, default in layout.REMOTE_DIR_VARS.items()}


def moved(dest: str, dirs: dict[str, str]) -> str:
    """A layout path as it is on a host whose inventory moves its pki/config directories."""
    for default, key in ((layout.K8S_PKI_DIR, "k8s_pki_dir"), (layout.ETCD_PKI_DIR, "etcd_pki_dir"),
                         (layout.K8S_CONFIG_DIR, "k8s_config_dir")):
        if dest.startswith(default + "/"):
            return dirs[key].rstrip("/") + dest[len(default):]
    return dest


def identity_files(host: Host, pki_dir: Path) -> dict[str, Path]:
    """Remote path -> local file of the files this host's cluster is known by (its CAs, keys).

    Known before a plan is made (they depend on the host's groups and dirs alone),
    so `connect` can read them with the facts and `preflight` compare them.
    """
    dirs = remote_dirs(host)
    groups = [g for g in layout.ROLE_GROUPS if host.in_group(g)]
    return {moved(dest, dirs): src for dest, src in files_for_host(groups, host.name, pki_dir=pki_dir).items()
            if str(src.relative_to(pki_dir)) in CLUSTER_IDENTITY}


@dataclass
class ClusterPlan:
    inventory: Inventory
    settings: dict[str, Any]
    kube_version: str
    binaries: dict[str, dict[str, str]]  # component -> {path, sha256, version}
    pki_dir: Path
    image_archives: list[dict[str, str]] = field(default_factory=list)  # [{src, name}]
    sandbox_image: str = "registry.k8s.io/pause:3.6"
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> facts
    pod_cidrs: dict[str, str] = field(default_factory=dict)  # node name -> pod CIDR (phase "pod CIDRs")

    # -- who does what ---------------------------------------------------------
    @property
    def etcd_hosts(self) -> list[Host]:
        return self.inventory.hosts_in(layout.ETCD)

    @property
    def control_planes(self) -> list[Host]:
        return self.inventory.hosts_in(layout.CONTROL_PLANE)

    @property
    def nodes(self) -> list[Host]:
        return self.inventory.hosts_in(layout.NODES)

    @property
    def uses_apiserver_lb(self) -> bool:
        return uses_apiserver_lb(self.inventory, self.settings)

    def apiserver_url(self, host: Host) -> str:
        return layout.https_url(node_ip(host), int(self.settings["apiserver_port"]))

    @property
    def api_server_url(self) -> str:
        """What kubelets and kube-proxy dial: the user's endpoint, the local balancer, or the one apiserver."""
        endpoint = self.settings.get("api_endpoint")
        if endpoint:
            return str(endpoint)
        if self.uses_apiserver_lb:
            return layout.https_url("127.0.0.1", int(self.settings["apiserver_lb_port"]))
        return self.apiserver_url(self.control_planes[0])

    @property
    def local_server_url(self) -> str:
        """What controller-manager and scheduler dial: the apiserver beside them."""
        return layout.https_url("127.0.0.1", int(self.settings["apiserver_port"]))

    @property
    def admin_server_url(self) -> str:
        """The admin kubeconfig's server: reachable from the user's machine, so never the loopback balancer.

        With several control planes this is the first one; `k8sboot kubeconfig`
        switches to one that answers when it is down.
        """
        endpoint = self.settings.get("api_endpoint")
        return str(endpoint) if endpoint else self.apiserver_url(self.control_planes[0])

    @staticmethod
    def etcd_ports(host: Host) -> tuple[int, int]:
        """(client, peer) ports of this host's etcd member: what it listens on is what others dial."""
        v = host.vars
        return (int(v.get("etcd_client_port", layout.ETCD_CLIENT_PORT)),
                int(v.get("etcd_peer_port", layout.ETCD_PEER_PORT)))

    # etcd's URLs and names depend on the host alone: commands without a plan use them too
    @staticmethod
    def etcd_client_url(host: Host) -> str:
        return layout.https_url(node_ip(host), ClusterPlan.etcd_ports(host)[0])

    @staticmethod
    def etcd_peer_url(host: Host) -> str:
        return layout.https_url(node_ip(host), ClusterPlan.etcd_ports(host)[1])

    @staticmethod
    def etcd_name(host: Host) -> str:
        return str(host.vars.get("etcd_member_name") or host.name)

    # -- PKI -------------------------------------------------------------------
    def pki_spec(self) -> PkiSpec:
        extra = self.settings.get("extra_sans") or []
        api = self.settings.get("api_endpoint")
        if api:
            extra = list(extra) + [str(api).split("//")[-1].rsplit(":", 1)[0].strip("[]")]
        return PkiSpec(
            cluster_name=self.inventory.name,
            service_cidr=self.settings["service_cidr"],
            cluster_domain=self.settings["cluster_domain"],
            extra_sans=tuple(dict.fromkeys(str(s) for s in extra)),
            control_planes=tuple(
                ControlPlane(h.name, tuple(dict.fromkeys([node_ip(h), h.address or node_ip(h)])))
                for h in self.control_planes
            ),
            etcd_members=tuple(
                EtcdMember(self.etcd_name(h), tuple(dict.fromkeys([node_ip(h), h.address or node_ip(h)])))
                for h in self.etcd_hosts
            ),
            nodes=tuple(Node(h.node_name, (node_ip(h),)) for h in self.nodes),
            leaf_validity=timedelta(days=_days(self.settings, "cert_validity_days")),
            ca_validity=timedelta(days=_days(self.settings, "ca_validity_days")),
        )

    def remote_dirs(self, host: Host) -> dict[str, str]:
        return remote_dirs(host)

    def pki_files(self, host: Host) -> dict[str, list[dict[str, str]]]:
        """Per role group, the certificate files this host receives: [{src, dest, mode}].

        Files one component alone reads (its kubeconfig) are listed under that
        component's unit name instead (kube-controller-manager, kube-scheduler,
        kube-proxy), so the roles restart only it when they change. The
        destinations follow the host's `k8s_pki_dir` / `etcd_pki_dir`, the same
        vars the units are rendered with, so moving one moves both.
        """
        dirs = self.remote_dirs(host)
        out: dict[str, list[dict[str, str]]] = {}
        for group in layout.ROLE_GROUPS:
            if not host.in_group(group):
                out[group] = []
                continue
            files = files_for_host([group], host.name, host.node_name, self.etcd_name(host), self.pki_dir)
            out[group] = []
            for dest, src in sorted(files.items()):
                entry = {"src": str(src), "dest": moved(dest, dirs), "mode": format(remote_mode(dest), "04o")}
                out.setdefault(file_unit(dest) or group, []).append(entry)
        return out

    # -- the vars every role receives -------------------------------------------
    def vars_for_host(self, host: Host) -> dict[str, Any]:
        s = self.settings
        facts = self.facts.get(host.name, {})
        virt = facts.get("virtualization_type", "none")
        in_container = virt in CONTAINER_VIRT
        hardening = hardening_settings(s)
        plan_vars: dict[str, Any] = {
            "k8sboot_cluster_name": self.inventory.name,
            "kube_version": self.kube_version,
            "cluster_domain": s["cluster_domain"],
            "pod_cidr": s["pod_cidr"],
            "service_cidr": s["service_cidr"],
            "node_cidr_mask_size": s["node_cidr_mask_size"],
            "apiserver_port": s["apiserver_port"],
            "kubernetes_service_ip": _nth_ip(s["service_cidr"], 1, "service_cidr"),
            "cluster_dns_ip": _nth_ip(s["service_cidr"], 10, "service_cidr"),
            "api_server_url": self.api_server_url,
            "control_plane_count": len(self.control_planes),
            "apiserver_lb_enabled": self.uses_apiserver_lb,
            "apiserver_lb_port": int(s["apiserver_lb_port"]),
            "apiserver_lb_unit": layout.APISERVER_LB_UNIT,
            "apiserver_lb_backends": [
                {"name": h.name, "address": node_ip(h), "port": int(s["apiserver_port"])}
                for h in self.control_planes
            ],
            "node_name": host.node_name,
            "node_ip": node_ip(host),
            # k8sboot allocates pod CIDRs itself: the kubelet starts with its own (None: not known)
            "node_pod_cidr": self.pod_cidrs.get(host.node_name),
            "address": host.address,
            "etcd_name": self.etcd_name(host),
            "etcd_initial_cluster": ",".join(f"{self.etcd_name(h)}={self.etcd_peer_url(h)}"
                                             for h in self.etcd_hosts),
            # read by etcd only when it starts with an empty data dir (a new cluster, or a
            # member joining one: then `existing`, and the members at the time of joining)
            "etcd_initial_cluster_state": "new",
            "etcd_initial_cluster_token": f"{self.inventory.name}-etcd",
            "etcd_servers": ",".join(self.etcd_client_url(h) for h in self.etcd_hosts),
            "etcd_client_port": self.etcd_ports(host)[0],
            "etcd_peer_port": self.etcd_ports(host)[1],
            **self.remote_dirs(host),
            "k8sboot_binaries": self.binaries,
            "k8sboot_pki_files": self.pki_files(host),
            "k8sboot_image_archives": self.image_archives,
            "sandbox_image": self.sandbox_image,
            # Ansible's fact names, so the roles read the same under ansible-playbook
            "ansible_virtualization_type": virt,
            "ansible_virtualization_role": "guest" if virt != "none" else "NA",
            "containerd_restrict_oom_score_adj": in_container,
            **{k: v for k, v in hardening.items() if k != "kubelet_protect_kernel_defaults"},
            "kubelet_protect_kernel_defaults": (hardening["kubelet_protect_kernel_defaults"] == "true" or (
                hardening["kubelet_protect_kernel_defaults"] == "auto" and not in_container)),
        }
        return {**plan_vars, **host.vars}


def etcd_endpoints(hosts: list[Host]) -> dict[str, str]:
    """Client URL -> member name of these etcd hosts, in their order: how k8sboot talks to etcd from here."""
    return {ClusterPlan.etcd_client_url(h): ClusterPlan.etcd_name(h) for h in hosts}


def apiserver_urls(inventory: Inventory) -> list[str]:
    """Every control plane's apiserver, as a client outside the cluster reaches it."""
    settings = cluster_settings(inventory)
    if settings.get("api_endpoint"):
        return [str(settings["api_endpoint"])]
    return [layout.https_url(node_ip(h), int(settings["apiserver_port"]))
            for h in inventory.hosts_in(layout.CONTROL_PLANE) if h.address or h.vars.get("ip")]


def uses_apiserver_lb(inventory: Inventory, settings: dict[str, Any]) -> bool:
    """Whether node hosts run the local apiserver load balancer (see `apiserver_lb` in DEFAULTS)."""
    if settings.get("api_endpoint"):
        return False
    wanted = settings.get("apiserver_lb", "auto")
    if isinstance(wanted, str) and wanted.strip().lower() == "auto":
        return len(inventory.hosts_in(layout.CONTROL_PLANE)) > 1
    value = parse_bool(wanted)
    if value is None:
        raise InputError(f"cluster.apiserver_lb: {wanted!r} is not auto, true or false")
    return value


def cluster_settings(inventory: Inventory) -> dict[str, Any]:
    """Cluster-wide settings with their defaults; the all-level vars may set them too."""
    settings = dict(DEFAULTS)
    for key in DEFAULTS:
        if key in inventory.vars:
            settings[key] = inventory.vars[key]
    settings.update({k: v for k, v in inventory.cluster.items()})
    return settings
