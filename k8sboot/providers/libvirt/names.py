"""Names and places of what the libvirt provider makes for one cluster.

Everything carries the cluster's name: the network ``k8sboot-<cluster>``, the
domains ``k8sboot-<cluster>-<host>``, the directory ``<pool_dir>/<cluster>/``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from k8sboot.inventory.model import Host, Inventory
from k8sboot.providers.libvirt.settings import LibvirtSettings
from k8sboot.providers.naming import safe


def network_name(inventory: Inventory) -> str:
    return f"k8sboot-{safe(inventory.name)}"


def domain_name(inventory: Inventory, host: Host) -> str:
    return f"k8sboot-{safe(inventory.name)}-{safe(host.name)}"


def bridge_name(inventory: Inventory) -> str:
    # Linux caps interface names at 15 characters; a digest keeps clusters apart
    return "k8sv" + hashlib.sha256(inventory.name.encode()).hexdigest()[:8]


def mac_address(inventory: Inventory, host: Host) -> str:
    digest = hashlib.sha256(f"{inventory.name}/{host.name}".encode()).hexdigest()
    return "52:54:00:" + ":".join(digest[i:i + 2] for i in (0, 2, 4))


def cluster_dir(settings: LibvirtSettings, inventory: Inventory) -> Path:
    return settings.pool_dir / safe(inventory.name)
