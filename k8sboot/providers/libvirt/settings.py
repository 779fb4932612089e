"""Settings of the libvirt provider: what `cluster.provider` says, with defaults.

    cluster:
      provider: {type: libvirt, uri: qemu:///system, accelerator: auto,
                 network: 192.168.150.0/24, pool_dir: /var/lib/libvirt/images/k8sboot}

Host sizes come from host vars: ``cpus`` (2), ``memory`` in MiB (2048), ``disk`` in GiB (10).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from k8sboot.errors import InputError
from k8sboot.inventory.model import Inventory
from k8sboot.providers.settings_input import network_setting, provider_mapping

PROVIDER = "libvirt"
DEFAULT_CPUS = 2
DEFAULT_MEMORY_MIB = 2048
DEFAULT_DISK_GIB = 10
DEFAULT_NETWORK = ipaddress.IPv4Network("192.168.150.0/24")


@dataclass(frozen=True)
class LibvirtSettings:
    uri: str = "qemu:///system"
    accelerator: str = "auto"  # auto | kvm | tcg
    network: ipaddress.IPv4Network = DEFAULT_NETWORK
    pool_dir: Path = Path("/var/lib/libvirt/images/k8sboot")
    ssh_timeout: float = 300.0

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> LibvirtSettings:
        raw = provider_mapping(inventory, PROVIDER)  # another provider's settings are not ours
        if raw is None:
            return cls()
        accelerator = str(raw.get("accelerator", "auto"))
        if accelerator not in ("auto", "kvm", "tcg"):
            raise InputError(f"cluster.provider.accelerator: {accelerator!r} is not "
                             "one of auto, kvm, tcg")
        network = network_setting(raw, cls.network)
        return cls(uri=str(raw.get("uri", cls.uri)), accelerator=accelerator,
                   network=network,
                   pool_dir=Path(str(raw.get("pool_dir", cls.pool_dir))).expanduser(),
                   ssh_timeout=float(raw.get("ssh_timeout", cls.ssh_timeout)))


def choose_accelerator(setting: str) -> str:
    """kvm or tcg. `auto` avoids KVM when it is unusable or the PVM flavour.

    PVM's /dev/kvm runs SeaBIOS but no stock Linux kernel (see LAB.md), so its
    presence alone proves nothing.
    """
    if setting in ("kvm", "tcg"):
        return setting
    kvm = Path("/dev/kvm")
    if kvm.exists() and os.access(kvm, os.R_OK | os.W_OK) and \
            not Path("/sys/module/kvm_pvm").exists():
        return "kvm"
    return "tcg"
