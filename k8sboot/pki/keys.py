"""Private keys: generate, serialise, load and compare.

Certificate keys are ECDSA P-256 (fast to generate, accepted by Kubernetes
>= 1.20 and etcd 3.4); the service-account key is RSA 2048 as kubeadm makes it.
Keys are written unencrypted in the "traditional" PEM forms (``EC PRIVATE KEY``,
``RSA PRIVATE KEY``) that every Kubernetes/etcd version reads.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from k8sboot.errors import InputError

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def public_pem(key: PrivateKey | PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(path: Path, *, check_rsa: bool = True) -> PrivateKey:
    """Load an unencrypted EC or RSA key; anything else is a user error worth naming.

    check_rsa=False skips OpenSSL's consistency check of an RSA key (0.06-0.25 s for 2048 bits,
    on every run): only for a key k8sboot made and never signs with (it derives the public half).
    """
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None,
                                                 unsafe_skip_rsa_key_validation=not check_rsa)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"cannot load private key: {exc}", file=str(path)) from None
    if not isinstance(key, PrivateKey):
        raise InputError(f"unsupported key type {type(key).__name__}", file=str(path))
    return key


def same_public_key(a: PrivateKey | PublicKey, b: PrivateKey | PublicKey) -> bool:
    return public_pem(a) == public_pem(b)
