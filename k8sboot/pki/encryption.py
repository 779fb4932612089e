"""The apiserver's encryption configuration: Secrets encrypted in etcd (CIS 1.2.33-1.2.34).

One AES-CBC key (aescbc: the provider the CIS Benchmark names first), 32
random bytes, made here once and kept in the state directory (0600) beside
the CAs: losing it makes every Secret in etcd unreadable, so like the
service-account key it is never regenerated. `identity` comes second, so
Secrets written before encryption was enabled can still be read (and are
rewritten encrypted by `up`).
"""

from __future__ import annotations

import base64
import os

from k8sboot.pki.store import PkiStore

FILE_NAME = "encryption-config.yaml"
KEY_NAME = "key1"


def encryption_config(secret: bytes) -> str:
    return (
        "# Made by k8sboot: keep it; without it the Secrets in etcd cannot be read.\n"
        "apiVersion: apiserver.config.k8s.io/v1\n"
        "kind: EncryptionConfiguration\n"
        "resources:\n"
        "  - resources: [secrets]\n"
        "    providers:\n"
        "      - aescbc:\n"
        "          keys:\n"
        f"            - name: {KEY_NAME}\n"
        f"              secret: {base64.b64encode(secret).decode()}\n"
        "      - identity: {}\n"
    )


def ensure_encryption_config(store: PkiStore) -> None:
    path = store.layout.root / FILE_NAME
    if path.exists():
        store.keep(path, private=True)
    else:
        store.save(path, encryption_config(os.urandom(32)).encode(), private=True)
