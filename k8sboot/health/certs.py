"""Certificates read off a host: expiry and SANs, judged here so the checks stay short."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import yaml
from cryptography import x509

EXPIRY_MARGIN = timedelta(days=30)


@dataclass(frozen=True)
class CertInfo:
    source: str  # the file (and for kubeconfigs the user entry) it came from
    subject: str
    not_after: datetime

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400


def load_pem_certs(source: str, pem: bytes) -> list[CertInfo]:
    return [
        CertInfo(source, c.subject.rfc4514_string(), c.not_valid_after_utc)
        for c in x509.load_pem_x509_certificates(pem)
    ]


def kubeconfig_certs(source: str, text: str) -> list[CertInfo]:
    """The client certificates a kubeconfig embeds (client-certificate-data)."""
    out: list[CertInfo] = []
    data = yaml.safe_load(text) or {}
    for user in data.get("users") or []:
        b64 = (user.get("user") or {}).get("client-certificate-data")
        if b64:
            out += load_pem_certs(f"{source} ({user.get('name')})", base64.b64decode(b64))
    return out


def expired(certs: list[CertInfo], now: datetime | None = None) -> list[CertInfo]:
    now = now or datetime.now(UTC)
    return [c for c in certs if c.not_after <= now]


def expiring(
    certs: list[CertInfo], now: datetime | None = None, margin: timedelta = EXPIRY_MARGIN
) -> list[CertInfo]:
    """Still valid but ending within `margin`."""
    now = now or datetime.now(UTC)
    return [c for c in certs if now < c.not_after <= now + margin]


def san_values(pem: bytes) -> set[str]:
    """The DNS names and IP addresses (normalised) of a certificate's SAN extension."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} | {
        d.lower() for d in san.get_values_for_type(x509.DNSName)
    }


def normalise_address(address: str) -> str:
    """'10.0.0.1' stays; '::0001' becomes '::1'; names are lowercased."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower()
