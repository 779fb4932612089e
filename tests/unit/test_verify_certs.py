"""k8sboot verify: judging certificates read off a host (expiry, SANs, kubeconfig certs)."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from k8sboot.health.certs import (
    expired,
    expiring,
    kubeconfig_certs,
    load_pem_certs,
    normalise_address,
    san_values,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def cert(cn: str, not_after: datetime, sans: list[x509.GeneralName] | None = None) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_after - timedelta(days=400))
        .not_valid_after(not_after)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def test_expiring_within_30_days_is_separate_from_expired():
    certs = (
        load_pem_certs("/a.crt", cert("soon", NOW + timedelta(days=10)))
        + load_pem_certs("/b.crt", cert("later", NOW + timedelta(days=31)))
        + load_pem_certs("/c.crt", cert("gone", NOW - timedelta(seconds=1)))
    )
    assert [c.source for c in expiring(certs, NOW)] == ["/a.crt"]
    assert [c.source for c in expired(certs, NOW)] == ["/c.crt"]
    assert certs[0].subject == "CN=soon"


def test_kubeconfig_client_certs_are_read_from_their_embedded_data():
    pem = cert("system:node:wk1", NOW)
    text = yaml.safe_dump(
        {
            "users": [
                {
                    "name": "kubelet",
                    "user": {
                        "client-certificate-data": base64.b64encode(pem).decode(),
                        "client-key-data": "eA==",
                    },
                }
            ]
        }
    )
    [info] = kubeconfig_certs("/etc/kubernetes/kubelet.kubeconfig", text)
    assert info.source == "/etc/kubernetes/kubelet.kubeconfig (kubelet)" and info.not_after == NOW


def test_san_values_are_normalised_for_comparison():
    pem = cert(
        "kube-apiserver",
        NOW,
        [
            x509.DNSName("Kubernetes.Default"),
            x509.IPAddress(ipaddress.ip_address("10.123.0.11")),
            x509.IPAddress(ipaddress.ip_address("fd00::1")),
        ],
    )
    assert san_values(pem) == {"kubernetes.default", "10.123.0.11", "fd00::1"}
    assert normalise_address("fd00:0:0::0001") in san_values(pem)
    assert san_values(cert("no-sans", NOW)) == set()
