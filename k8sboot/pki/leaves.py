"""Bring one leaf certificate on disk in line with its profile.

An existing key is kept when the certificate is re-issued: only the .crt
changes, so fewer files need pushing and nothing that pinned the public key
breaks. A new key is made only when there is none (or it cannot be read).
(`kubeadm certs renew` does make new keys, and so does `k8sboot certs renew`,
by removing the key first: see renewal.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from k8sboot.errors import InputError
from k8sboot.pki.authority import Authority
from k8sboot.pki.catalog import LeafProfile
from k8sboot.pki.certs import cert_pem, issue_leaf, load_cert, reissue_reason
from k8sboot.pki.keys import PrivateKey, load_private_key, new_ec_key, private_pem
from k8sboot.pki.store import PkiStore


@dataclass(frozen=True)
class LeafFiles:
    cert_pem: bytes
    key_pem: bytes


def ensure_leaf(
    store: PkiStore,
    profile: LeafProfile,
    ca: Authority,
    now: datetime,
    validity: timedelta,
    renew_before: timedelta,
) -> LeafFiles:
    crt_path, key_path = store.layout.crt(profile.stem), store.layout.key(profile.stem)

    key: PrivateKey | None = None
    if key_path.exists():
        try:
            key = load_private_key(key_path)
        except InputError:
            key = None  # a leaf key is ours to replace; its cert follows below
    if key is not None:
        store.keep(key_path, private=True)
        key_pem = key_path.read_bytes()
    else:
        key = new_ec_key()
        key_pem = private_pem(key)
        store.save(key_path, key_pem, private=True, reason="unreadable")

    reason: str | None = "missing"
    if crt_path.exists():
        try:
            current = load_cert(crt_path)
        except InputError:
            reason = "unreadable"  # ours to regenerate, unlike a CA
        else:
            reason = reissue_reason(current, key.public_key(), profile, ca.cert, now, renew_before)
    if reason is None:
        store.keep(crt_path, private=False)
        store.result.not_after[profile.stem] = (current.not_valid_after_utc, False)
        return LeafFiles(crt_path.read_bytes(), key_pem)

    cert = issue_leaf(profile, key.public_key(), ca.cert, ca.key, now, validity)
    data = cert_pem(cert)
    store.save(crt_path, data, private=False, reason=reason)
    store.result.not_after[profile.stem] = (cert.not_valid_after_utc, False)
    return LeafFiles(data, key_pem)
