"""Settings of the Vagrant provider: what `cluster.provider` says, with defaults.

    cluster:
      provider:
        type: vagrant
        box: k8sboot/bookworm          # `k8sboot image build --format vagrant-libvirt` adds it
        driver: auto                   # auto | kvm | qemu (qemu = software emulation)
        network: 192.168.56.0/24       # the private network: hosts' addresses come from here
        management_network: 192.168.121.0/24   # vagrant-libvirt's own (SSH, NAT, DHCP)

Also: ``uri`` (qemu:///system), ``storage_pool`` (default), ``boot_timeout`` (s),
``vagrant_provider`` (libvirt), and ``kernel``/``initrd``/``cmd_line`` to override
the box's direct kernel boot. Names of everything made in libvirt start with
``k8sboot-<cluster>-`` so that destroy finds exactly this cluster's leftovers.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.providers.settings_input import provider_mapping

PROVIDER = "vagrant"
DEFAULT_BOX = "k8sboot/bookworm"
DEFAULT_NETWORK = ipaddress.IPv4Network("192.168.56.0/24")
DEFAULT_MANAGEMENT = ipaddress.IPv4Network("192.168.121.0/24")
DRIVERS = ("auto", "kvm", "qemu")
_KNOWN = ("type", "box", "driver", "network", "management_network", "uri", "storage_pool",
          "boot_timeout", "vagrant_provider", "kernel", "initrd", "cmd_line")


@dataclass(frozen=True)
class VagrantSettings:
    box: str = DEFAULT_BOX
    driver: str = "auto"
    network: ipaddress.IPv4Network = DEFAULT_NETWORK
    management_network: ipaddress.IPv4Network = DEFAULT_MANAGEMENT
    uri: str = "qemu:///system"
    storage_pool: str = "default"
    boot_timeout: int = 600  # software emulation on a busy host is slow to boot
    vagrant_provider: str = "libvirt"
    kernel: str | None = None
    initrd: str | None = None
    cmd_line: str | None = None

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> VagrantSettings:
        raw = provider_mapping(inventory, PROVIDER)
        if raw is None:
            return cls()  # the cluster default is another provider; vagrant hosts get defaults
        unknown = sorted(set(raw) - set(_KNOWN))
        if unknown:
            raise InputError(f"cluster.provider: unknown vagrant setting(s) {', '.join(unknown)} "
                             f"(known: {', '.join(_KNOWN[1:])})")
        driver = str(raw.get("driver", "auto"))
        if driver not in DRIVERS:
            raise InputError(f"cluster.provider.driver: {driver!r} is not one of "
                             f"{', '.join(DRIVERS)}")
        network = _network(raw, "network", DEFAULT_NETWORK)
        management = _network(raw, "management_network", DEFAULT_MANAGEMENT)
        if network.overlaps(management):
            raise InputError(f"cluster.provider: network {network} overlaps "
                             f"management_network {management}")
        optional = {k: str(raw[k]) for k in ("kernel", "initrd", "cmd_line") if raw.get(k)}
        try:
            boot_timeout = int(raw.get("boot_timeout", cls.boot_timeout))
        except (TypeError, ValueError):
            raise InputError("cluster.provider.boot_timeout must be a number of seconds") from None
        return cls(box=str(raw.get("box", DEFAULT_BOX)), driver=driver, network=network,
                   management_network=management, uri=str(raw.get("uri", cls.uri)),
                   storage_pool=str(raw.get("storage_pool", cls.storage_pool)),
                   boot_timeout=boot_timeout,
                   vagrant_provider=str(raw.get("vagrant_provider", cls.vagrant_provider)),
                   **optional)


def _network(raw: dict[str, Any], key: str, default: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(str(raw.get(key, default)))
    except ValueError as exc:
        raise InputError(f"cluster.provider.{key}: {exc}") from None
    if net.num_addresses < 16:
        raise InputError(f"cluster.provider.{key}: {net} is too small")
    return net


def choose_driver(setting: str) -> str:
    """kvm or qemu. `auto` takes qemu (TCG) where KVM is missing or cannot boot Linux.

    The libvirt provider knows when KVM is usable (PVM detection, LAB.md); one rule
    for both providers.
    """
    if setting in ("kvm", "qemu"):
        return setting
    from k8sboot.providers.libvirt.settings import choose_accelerator

    return "kvm" if choose_accelerator("auto") == "kvm" else "qemu"


# -- names: everything this cluster makes in libvirt starts with its prefix ------------

def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def domain_prefix(inventory: Inventory) -> str:
    return f"k8sboot-{safe(inventory.name)}-"


def domain_name(inventory: Inventory, host_name: str) -> str:
    """vagrant-libvirt names a domain `<default_prefix><machine>`; we set that prefix."""
    return domain_prefix(inventory) + host_name


def network_name(inventory: Inventory) -> str:
    return f"k8sboot-{safe(inventory.name)}-private"


def management_network_name(inventory: Inventory) -> str:
    return f"k8sboot-{safe(inventory.name)}-mgmt"


def vagrant_hosts(inventory: Inventory) -> list[Host]:
    return [h for h in inventory.hosts.values() if h.provider == PROVIDER]


def workdir(state_root: Path) -> Path:
    """Vagrant's working directory for one cluster: its dotfile dir and the spec live here."""
    return state_root / "vagrant"
