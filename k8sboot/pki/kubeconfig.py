"""Kubeconfig files with the CA, client cert and key embedded (no paths to keep in sync)."""

from __future__ import annotations

import base64
from typing import Any

import yaml

# libyaml's emitter when present: the pure-Python one dominates a rerun's time.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _b64(pem: bytes | str) -> str:
    data = pem.encode() if isinstance(pem, str) else pem
    return base64.b64encode(data).decode("ascii")


def context_name(user: str, cluster_name: str) -> str:
    return f"{user}@{cluster_name}"


def render_kubeconfig(
    server_url: str,
    ca_pem: bytes | str,
    cert_pem: bytes | str,
    key_pem: bytes | str,
    user: str,
    cluster_name: str,
) -> str:
    """A single-cluster, single-user kubeconfig as YAML, with current-context set.

    The output is deterministic for the same inputs, so rewriting it only
    when the text differs keeps reruns from touching the file.
    """
    context = context_name(user, cluster_name)
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": server_url, "certificate-authority-data": _b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(cert_pem),
                    "client-key-data": _b64(key_pem),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    return yaml.dump(
        config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1 << 16
    )
