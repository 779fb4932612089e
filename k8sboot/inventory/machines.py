"""Fill provisioned hosts' connection settings from what their provider recorded.

A libvirt/vagrant host usually has no address in the inventory: the provider
assigns one and records it in the state directory's machines.json. Applying
that record makes `k8sboot inventory --list` (and everything else) see it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from k8sboot.inventory.model import Inventory
from k8sboot.inventory.resolve import resolve_key

if TYPE_CHECKING:
    from k8sboot.machine import Machine

_FIELDS = ("address", "port", "user", "key")


def apply_machines(inv: Inventory, machines: Mapping[str, Machine]) -> Inventory:
    """For hosts with a provider, the recorded address/port/user/key replace the inventory's."""
    base = inv.path.parent if inv.path else None
    for name, host in inv.hosts.items():
        record = machines.get(name)
        if not host.provider or not record:
            continue
        if record.get("address"):
            host.address = str(record["address"])
        if record.get("port"):
            host.port = int(record["port"])
        if record.get("user"):
            host.user = str(record["user"])
        if record.get("key"):
            key = str(record["key"])
            host.key = resolve_key(key, base) if base else key
    return inv
