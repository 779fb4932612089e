"""The service-account key pair: RSA 2048 (the apiserver signs tokens, others verify).

Like a CA, it is created once and kept: a new key invalidates every token in
the cluster. sa.pub is always re-derived from sa.key, so a lost or stale
sa.pub repairs itself.
"""

from __future__ import annotations

from k8sboot.pki.keys import load_private_key, new_rsa_key, private_pem, public_pem
from k8sboot.pki.store import PkiStore


def ensure_service_account_keys(store: PkiStore) -> None:
    key_path, pub_path = store.layout.sa_key, store.layout.sa_pub
    if key_path.exists():
        # k8sboot made it and only derives sa.pub from it; the apiserver, which signs with it,
        # checks the key itself when it loads it
        key = load_private_key(key_path, check_rsa=False)
        store.keep(key_path, private=True)
    else:
        key = new_rsa_key(2048)
        store.save(key_path, private_pem(key), private=True)
    store.save(pub_path, public_pem(key), private=False, reason="did not match sa.key")
