"""Names and places of what the LXC provider makes for one cluster.

Containers are ``k8sboot-<cluster>-<host>`` in ``<path>/<cluster>/``; the bridge is
``k8sx<digest>`` (Linux caps interface names at 15 characters).
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

from k8sboot.inventory.model import Host, Inventory
from k8sboot.providers.lxc.settings import LxcSettings
from k8sboot.providers.naming import safe


def container_name(inventory: Inventory, host: Host) -> str:
    return f"k8sboot-{safe(inventory.name)}-{safe(host.name)}"


def bridge_name(inventory: Inventory) -> str:
    return "k8sx" + hashlib.sha256(inventory.name.encode()).hexdigest()[:8]


def lxc_path(settings: LxcSettings, inventory: Inventory) -> Path:
    """LXC's -P: the directory holding this cluster's containers."""
    return settings.path / safe(inventory.name)


def veth_name(lxcpath: Path, container: str) -> str:
    """The host end of a container's veth: unique per container, at most 15 characters."""
    return "k8sc" + hashlib.sha256(f"{lxcpath}/{container}".encode()).hexdigest()[:10]


def mac_of(address: str) -> str:
    """The MAC follows the address, not the name: when an address passes to a new
    container, ARP caches that still hold it stay right (else SSH stalls ~30 s)."""
    return "02:6b:3a:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(address).packed[1:])
