"""The libvirt provider: VMs on an isolated libvirt network, booted from the base image."""

from __future__ import annotations

from k8sboot.providers.libvirt.provider import (
    LibvirtSettings,
    choose_accelerator,
    destroy,
    libvirt_host_state,
    provision,
    start,
    stop,
)

__all__ = ["LibvirtSettings", "choose_accelerator", "destroy", "libvirt_host_state",
           "provision", "start", "stop"]
