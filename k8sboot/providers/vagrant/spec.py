"""What the shipped Vagrantfile is told: the inventory's Vagrant machines, resolved.

The inventory is read by k8sboot's own loader (native YAML, Ansible INI/YAML,
kubespray names, group/host vars precedence), so the Vagrantfile never parses an
inventory itself. It gets one JSON document:

    {"cluster": "demo", "box": "k8sboot/bookworm", "driver": "qemu", ...,
     "machines": [{"name": "cp1", "cpus": 2, "memory": 2048, "disk": 10,
                   "address": "192.168.56.11", ...}]}

k8sboot writes it to the cluster's Vagrant working dir and points
``K8SBOOT_VAGRANT_SPEC`` at it. Run by hand (``vagrant up`` in vagrant/), the
Vagrantfile asks for it instead:

    python3 -m k8sboot.providers.vagrant.spec -i inventory/vagrant.yml
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from k8sboot.errors import InputError, K8sbootError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.machine import Machine
from k8sboot.providers.addresses import allocate_addresses
from k8sboot.providers.vagrant.settings import (
    VagrantSettings,
    choose_driver,
    domain_prefix,
    management_network_name,
    network_name,
    vagrant_hosts,
)

DEFAULT_CPUS = 2
DEFAULT_MEMORY_MIB = 2048
DEFAULT_DISK_GIB = 10
SPEC_VERSION = 1


def _size(host: Host, key: str, default: int) -> int:
    value = host.vars.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{host.name}: {key} must be a whole number, not {value!r}") from None


def machine_spec(host: Host, address: str, console_dir: Path | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": host.name,
        "hostname": host.node_name,
        "cpus": _size(host, "cpus", DEFAULT_CPUS),
        "memory": _size(host, "memory", DEFAULT_MEMORY_MIB),
        "disk": _size(host, "disk", DEFAULT_DISK_GIB),
        "address": address,
    }
    if console_dir is not None:
        spec["console_log"] = str(console_dir / f"{host.name}-console.log")
    return spec


def build_spec(inventory: Inventory, known: Mapping[str, Machine], console_dir: Path | None = None,
               settings: VagrantSettings | None = None) -> dict[str, Any]:
    """The whole document for the Vagrantfile (pure apart from the KVM probe)."""
    settings = settings or VagrantSettings.from_inventory(inventory)
    hosts = vagrant_hosts(inventory)
    addresses = allocate_addresses(hosts, settings.network, known)
    spec: dict[str, Any] = {
        "version": SPEC_VERSION,
        "cluster": inventory.name,
        "box": settings.box,
        "driver": choose_driver(settings.driver),
        "uri": settings.uri,
        "storage_pool": settings.storage_pool,
        "boot_timeout": settings.boot_timeout,
        "domain_prefix": domain_prefix(inventory),
        "network": {"name": network_name(inventory),
                    "netmask": str(settings.network.netmask)},
        "management_network": {"name": management_network_name(inventory),
                               "address": str(settings.management_network)},
        "machines": [machine_spec(h, addresses[h.name], console_dir) for h in hosts],
    }
    for key in ("kernel", "initrd", "cmd_line"):
        value = getattr(settings, key)
        if value:
            spec[key] = value
    return spec


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Print the spec for an inventory (what the Vagrantfile runs when used by hand)."""
    parser = argparse.ArgumentParser(prog="python3 -m k8sboot.providers.vagrant.spec")
    parser.add_argument("-i", "--inventory", required=True)
    args = parser.parse_args(argv)
    from k8sboot.commands.context import build_context

    try:
        ctx = build_context(args)
        print(json.dumps(build_spec(ctx.inventory, ctx.state.machines()), indent=2))
    except K8sbootError as exc:
        print(f"k8sboot: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
