"""Leaf certificates: issue, load, and decide whether an existing one must be re-issued."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from k8sboot.errors import InputError
from k8sboot.pki.catalog import LeafProfile
from k8sboot.pki.keys import PrivateKey, PublicKey, same_public_key
from k8sboot.pki.sans import SubjectAltNames

# Backdate NotBefore a little so a host whose clock lags ours still accepts the cert.
CLOCK_SKEW = timedelta(minutes=5)


def load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load certificate: {exc}", file=str(path)) from None


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def subject_name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def leaf_key_usage(public_key: PublicKey) -> x509.KeyUsage:
    # keyEncipherment only means something for RSA (RFC 5480 forbids it for EC keys).
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def extended_key_usage(profile: LeafProfile) -> x509.ExtendedKeyUsage:
    usages = []
    if profile.server_auth:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if profile.client_auth:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    return x509.ExtendedKeyUsage(usages)


def authority_key_identifier(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:  # a CA brought by the user may lack it
        issuer_key = cast(PublicKey, ca_cert.public_key())  # CA keys are loaded as EC/RSA only
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def issue_leaf(
    profile: LeafProfile,
    public_key: PublicKey,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    now: datetime,
    validity: timedelta,
) -> x509.Certificate:
    # Never outlive the CA: a chain is only valid while every link is.
    not_after = min(now + validity, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name(profile.common_name, profile.organizations))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(leaf_key_usage(public_key), critical=True)
        .add_extension(extended_key_usage(profile), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_identifier(ca_cert), critical=False)
    )
    if profile.sans:
        builder = builder.add_extension(profile.sans.extension(), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _extension_value(cert: x509.Certificate, kind: type) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def reissue_reason(
    cert: x509.Certificate,
    public_key: PublicKey,
    profile: LeafProfile,
    ca_cert: x509.Certificate,
    now: datetime,
    renew_before: timedelta,
) -> str | None:
    """Why `cert` no longer fits `profile` (None: reuse it as it is)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "not signed by the current CA"
    if not same_public_key(cert.public_key(), public_key):  # type: ignore[arg-type]
        return "does not match its private key"
    if cert.subject != subject_name(profile.common_name, profile.organizations):
        return f"subject changed (was {cert.subject.rfc4514_string()})"
    current = SubjectAltNames.from_certificate(cert)
    if current != profile.sans:
        return f"SANs changed: {current.describe()} -> {profile.sans.describe()}"
    eku = _extension_value(cert, x509.ExtendedKeyUsage)
    if eku is None or set(eku) != set(extended_key_usage(profile)):  # type: ignore[call-overload]
        return "extended key usage changed"
    if _extension_value(cert, x509.KeyUsage) != leaf_key_usage(public_key):
        return "key usage changed"
    expires = cert.not_valid_after_utc
    # Only renew when that actually helps: a leaf already capped at the CA's
    # expiry would otherwise be re-issued, identically short, on every run.
    if expires - now < renew_before and ca_cert.not_valid_after_utc > expires:
        return f"expires {expires:%Y-%m-%d}, within {renew_before.days} days"
    return None
