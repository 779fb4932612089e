"""Providers make the machines an inventory asks for (libvirt VMs, Vagrant boxes).

Hosts without a provider are reached as they are; nothing is made for them. A
provider is a module with provision / destroy / stop / start (see base.Provider).
"""

from __future__ import annotations

import importlib

from k8sboot.errors import InputError
from k8sboot.providers.base import Provider

PROVIDER_MODULES = {"libvirt": "k8sboot.providers.libvirt.provider", "vagrant": "k8sboot.providers.vagrant.provider"}


def provider_for(name: str) -> Provider:
    """The provider called `name` (imported lazily: libvirt-python is needed only here)."""
    if name not in PROVIDER_MODULES:
        raise InputError(f"unknown provider {name!r} (known: {', '.join(sorted(PROVIDER_MODULES))})")
    return importlib.import_module(PROVIDER_MODULES[name])  # type: ignore[return-value]


__all__ = ["PROVIDER_MODULES", "Provider", "provider_for"]
