"""Reading `cluster.provider` the same way for every provider (pure)."""

from __future__ import annotations

import ipaddress
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.model import Inventory


def provider_mapping(inventory: Inventory, provider: str) -> dict[str, Any] | None:
    """`cluster.provider` when it is a mapping of this provider's settings; None when it
    is absent, a bare name, or another provider's (hosts may mix providers)."""
    raw = inventory.cluster.get("provider")
    if raw is None or isinstance(raw, str):
        return None
    if not isinstance(raw, dict):
        raise InputError(f"cluster.provider must be a name or a mapping, not {raw!r}")
    return raw if raw.get("type") == provider else None


def network_setting(raw: dict[str, Any], default: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    """`cluster.provider.network`: an IPv4 network with room for a cluster."""
    try:
        network = ipaddress.IPv4Network(str(raw.get("network", default)))
    except ValueError as exc:
        raise InputError(f"cluster.provider.network: {exc}") from None
    if network.num_addresses < 16:
        raise InputError(f"cluster.provider.network: {network} is too small")
    return network
