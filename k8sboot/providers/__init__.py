"""Providers make the machines an inventory asks for (LXC system containers,
libvirt VMs, Vagrant boxes).

Hosts without a provider are reached as they are; nothing is made for them. A
provider is a class behind base.Provider (provision / start / stop / destroy /
state); the machines it makes are `Machine` records (machine.py).

    base.py       the Provider base, key pairs, waiting for SSH, forgetting host keys
    machine.py    Machine: one machines.json record, typed
    addresses.py  which address each made machine gets (pure)
    lxc/          the LXC provider: system containers (the default local cluster)
    libvirt/      the libvirt provider (one concern per module)
    vagrant/      the Vagrant provider (the box itself is built in k8sboot/vm_image/)
"""

from __future__ import annotations

from k8sboot.errors import InputError
from k8sboot.machine import Machine, Machines
from k8sboot.providers.base import Provider

# the providers by name, and where each lives (imported lazily: libvirt-python is
# needed only by commands that make machines)
PROVIDER_MODULES = {"libvirt": "k8sboot.providers.libvirt.provider",
                    "lxc": "k8sboot.providers.lxc.provider",
                    "vagrant": "k8sboot.providers.vagrant.provider"}


def provider_for(name: str) -> Provider:
    """The provider called `name`."""
    if name == "libvirt":
        from k8sboot.providers.libvirt.provider import LibvirtProvider

        return LibvirtProvider()
    if name == "lxc":
        from k8sboot.providers.lxc.provider import LxcProvider

        return LxcProvider()
    if name == "vagrant":
        from k8sboot.providers.vagrant.provider import VagrantProvider

        return VagrantProvider()
    raise InputError(f"unknown provider {name!r} (known: {', '.join(sorted(PROVIDER_MODULES))})")


__all__ = ["PROVIDER_MODULES", "Machine", "Machines", "Provider", "provider_for"]
