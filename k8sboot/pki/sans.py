"""Subject alternative names: split mixed IP/DNS strings and compare them as sets.

Certificates are compared by SAN *set* (order and DNS case ignored) so a
rerun with the same names in another order does not re-issue anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509

from k8sboot.errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def parse_ip(value: str) -> IPAddress | None:
    """The address `value` spells, or None when it is not an IP literal."""
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def is_dns_name(value: str, *, wildcard: bool = False) -> bool:
    """True for an RFC 1123 host name (optionally `*.`-prefixed when `wildcard`)."""
    if wildcard and value.startswith("*."):
        value = value[2:]
    if not 0 < len(value) <= 253 or _DNS_NAME.match(value) is None:
        return False
    # An all-numeric last label is a mistyped IP ("300.1.1.1"), not a name (RFC 3696).
    return not value.rsplit(".", 1)[-1].isdigit()


def _ip_sort_key(ip: IPAddress) -> tuple[int, int]:
    return (ip.version, int(ip))


@dataclass(frozen=True)
class SubjectAltNames:
    dns: frozenset[str] = frozenset()
    ips: frozenset[IPAddress] = frozenset()

    @classmethod
    def of(cls, values: Iterable[str]) -> SubjectAltNames:
        """Classify each value as IP or DNS name; anything else is bad input."""
        dns: set[str] = set()
        ips: set[IPAddress] = set()
        for value in values:
            ip = parse_ip(value)
            if ip is not None:
                ips.add(ip)
            elif is_dns_name(value, wildcard=True):
                dns.add(value.lower())
            else:
                raise InputError(f"not an IP address or DNS name: {value!r}")
        return cls(frozenset(dns), frozenset(ips))

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> SubjectAltNames:
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return cls()
        dns = frozenset(name.lower() for name in ext.get_values_for_type(x509.DNSName))
        values = ext.get_values_for_type(x509.IPAddress)
        # SANs hold addresses; networks only appear in name constraints.
        ips = frozenset(
            v for v in values if isinstance(v, ipaddress.IPv4Address | ipaddress.IPv6Address)
        )
        return cls(dns, ips)

    def __bool__(self) -> bool:
        return bool(self.dns or self.ips)

    def extension(self) -> x509.SubjectAlternativeName:
        # Sorted so the same set always encodes to the same bytes.
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(self.dns)]
        names += [x509.IPAddress(ip) for ip in sorted(self.ips, key=_ip_sort_key)]
        return x509.SubjectAlternativeName(names)

    def describe(self) -> str:
        parts = sorted(self.dns) + [str(ip) for ip in sorted(self.ips, key=_ip_sort_key)]
        return ", ".join(parts) or "(none)"
