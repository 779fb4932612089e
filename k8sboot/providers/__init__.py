"""Providers make the machines an inventory asks for (libvirt VMs, Vagrant boxes).

Hosts without a provider are reached as they are; nothing is made for them.
"""

from __future__ import annotations

from k8sboot.errors import InputError
from k8sboot.providers.base import Provider


def provider_for(name: str) -> Provider:
    """The provider called `name` (imported lazily: libvirt-python is optional)."""
    if name == "libvirt":
        from k8sboot.providers.libvirt import LibvirtProvider

        return LibvirtProvider()
    raise InputError(f"unknown provider {name!r}")


__all__ = ["Provider", "provider_for"]
