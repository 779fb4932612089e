"""PkiSpec: the plain description of a cluster that the PKI is issued for.

Another module builds it from the inventory; this one only validates it.
Members can be given as the dataclasses below or as plain tuples/lists
(``("cp1", ["10.0.0.11"], ["cp1.example"])``), which are converted.
Names become file names (``etcd/<member>-server.crt``, ``kubelet/<node>.crt``)
and SANs, so they must be RFC 1123 host names: that also rules out ``/`` and ``..``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from k8sboot.errors import InputError
from k8sboot.pki.sans import IPAddress, is_dns_name, parse_ip

# kubeadm's defaults: CAs live ten years, leaves one year.
DEFAULT_CA_VALIDITY = timedelta(days=3650)
DEFAULT_LEAF_VALIDITY = timedelta(days=365)
# Reruns reuse certificates, so renew a leaf this long before it expires.
DEFAULT_RENEW_BEFORE = timedelta(days=30)


def _strings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """One string or many, as a tuple (so "hostname(s)" can be either)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


# X.509 caps a common name at 64 characters; names that end up in one are
# checked here so the limit surfaces as bad input, not a crash mid-run.
MAX_CN = 64
NODE_CN_PREFIX = "system:node:"


def _check_name(kind: str, name: str, max_length: int = 253) -> None:
    if not is_dns_name(name):
        raise InputError(f"{kind} name {name!r} is not a valid host name (RFC 1123)")
    if len(name) > max_length:
        raise InputError(f"{kind} name {name!r} is longer than {max_length} characters")


def _check_addresses(owner: str, values: Iterable[str]) -> None:
    for value in values:
        if parse_ip(value) is None and not is_dns_name(value):
            raise InputError(f"{owner}: {value!r} is neither an IP address nor a DNS name")


@dataclass(frozen=True)
class ControlPlane:
    name: str
    addresses: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()  # extra names the apiserver is reached by

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", _strings(self.addresses))
        object.__setattr__(self, "hostnames", _strings(self.hostnames))
        _check_name("control plane", self.name)
        _check_addresses(f"control plane {self.name}", self.addresses + self.hostnames)


@dataclass(frozen=True)
class EtcdMember:
    name: str
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", _strings(self.addresses))
        _check_name("etcd member", self.name, MAX_CN)  # the member's CN
        _check_addresses(f"etcd member {self.name}", self.addresses)


@dataclass(frozen=True)
class Node:
    name: str  # the Kubernetes node name (CN=system:node:<name>)
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "addresses", _strings(self.addresses))
        _check_name("node", self.name, MAX_CN - len(NODE_CN_PREFIX))
        _check_addresses(f"node {self.name}", self.addresses)


def _coerce(kind: type, items: Iterable[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, kind):
            out.append(item)
        elif isinstance(item, Sequence) and not isinstance(item, str):
            out.append(kind(*item))
        else:
            raise InputError(f"expected a {kind.__name__} or a tuple, got {item!r}")
    names = [o.name for o in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(f"duplicate {kind.__name__} names: {', '.join(duplicates)}")
    return tuple(out)


def _networks(cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse `a/b` or a dual-stack `a/b,c/d` list; host bits are ignored as the apiserver does."""
    try:
        nets = tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs.split(","))
    except ValueError as exc:
        raise InputError(f"service_cidr {cidrs!r}: {exc}") from None
    for net in nets:
        if net.num_addresses < 2:
            raise InputError(f"service_cidr {net} is too small to hold the kubernetes service IP")
    return nets


@dataclass(frozen=True)
class PkiSpec:
    cluster_name: str
    service_cidr: str = "10.96.0.0/12"
    cluster_domain: str = "cluster.local"
    extra_sans: tuple[str, ...] = ()  # IPs or DNS names added to the apiserver cert
    control_planes: tuple[ControlPlane, ...] = ()
    etcd_members: tuple[EtcdMember, ...] = ()
    nodes: tuple[Node, ...] = ()
    ca_validity: timedelta = DEFAULT_CA_VALIDITY
    leaf_validity: timedelta = DEFAULT_LEAF_VALIDITY
    renew_before: timedelta = DEFAULT_RENEW_BEFORE
    _service_networks: tuple[Any, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The CAs are named "<cluster>-ca" and "<cluster>-etcd-ca".
        if not 0 < len(self.cluster_name) <= MAX_CN - len("-etcd-ca"):
            raise InputError(f"cluster_name must be 1 to {MAX_CN - 8} characters")
        if not is_dns_name(self.cluster_domain):
            raise InputError(f"cluster_domain {self.cluster_domain!r} is not a DNS name")
        object.__setattr__(self, "extra_sans", _strings(self.extra_sans))
        _check_addresses("extra_sans", self.extra_sans)
        object.__setattr__(self, "control_planes", _coerce(ControlPlane, self.control_planes))
        object.__setattr__(self, "etcd_members", _coerce(EtcdMember, self.etcd_members))
        object.__setattr__(self, "nodes", _coerce(Node, self.nodes))
        object.__setattr__(self, "_service_networks", _networks(self.service_cidr))
        if self.ca_validity <= timedelta(0) or self.leaf_validity <= timedelta(0):
            raise InputError("certificate validity must be positive")
        # Otherwise every rerun would find every fresh leaf "about to expire".
        if self.renew_before >= self.leaf_validity:
            raise InputError("renew_before must be shorter than leaf_validity")

    @property
    def service_ips(self) -> tuple[IPAddress, ...]:
        """First IP of each service range; the first one is the `kubernetes` service IP."""
        return tuple(net.network_address + 1 for net in self._service_networks)

    @property
    def kubernetes_service_ip(self) -> IPAddress:
        return self.service_ips[0]
