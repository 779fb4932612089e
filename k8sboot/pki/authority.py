"""Certificate authorities: create a self-signed CA once, then always reuse it.

A CA is never regenerated automatically: a new CA silently invalidates every
certificate and kubeconfig already on the hosts. A CA close to expiry only
produces a warning; rotating it is a deliberate operation. A CA the user put
in place beforehand (``ca.crt`` + ``ca.key``) is used as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from k8sboot.errors import InputError
from k8sboot.pki.certs import CLOCK_SKEW, cert_pem, load_cert, subject_name
from k8sboot.pki.keys import PrivateKey, load_private_key, new_ec_key, private_pem, same_public_key
from k8sboot.pki.store import PkiStore


@dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)


CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    key_cert_sign=True,
    crl_sign=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    encipher_only=False,
    decipher_only=False,
)


def create_ca(
    common_name: str, key: PrivateKey, now: datetime, validity: timedelta
) -> x509.Certificate:
    name = subject_name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(CA_KEY_USAGE, critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def _check_usable(cert: x509.Certificate, key: PrivateKey, where: str) -> None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise InputError("not a CA certificate (BasicConstraints ca=True missing)", file=where)
    if not same_public_key(cert.public_key(), key):  # type: ignore[arg-type]
        raise InputError("CA certificate does not match its key", file=where)


def ensure_authority(
    store: PkiStore,
    stem: str,
    common_name: str,
    now: datetime,
    validity: timedelta,
    renew_before: timedelta,
) -> Authority:
    crt_path, key_path = store.layout.crt(stem), store.layout.key(stem)
    if not crt_path.exists() and not key_path.exists():
        key: PrivateKey = new_ec_key()
        cert = create_ca(common_name, key, now, validity)
        store.save(key_path, private_pem(key), private=True)
        store.save(crt_path, cert_pem(cert), private=False)
        store.result.not_after[stem] = (cert.not_valid_after_utc, True)
        return Authority(cert, key)
    if not crt_path.exists() or not key_path.exists():
        missing = crt_path if not crt_path.exists() else key_path
        raise InputError(
            "half a CA: restore the missing file, or remove both to start a new PKI "
            "(which invalidates every certificate on the hosts)",
            file=str(missing),
        )
    cert, key = load_cert(crt_path), load_private_key(key_path)
    _check_usable(cert, key, str(crt_path))
    store.keep(key_path, private=True)
    store.keep(crt_path, private=False)
    store.result.not_after[stem] = (cert.not_valid_after_utc, True)
    if cert.not_valid_after_utc - now < renew_before:
        store.warn(
            f"{crt_path} expires {cert.not_valid_after_utc:%Y-%m-%d}; leaf certificates are "
            "capped at that date, rotate the CA"
        )
    return Authority(cert, key)
