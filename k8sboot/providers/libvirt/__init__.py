"""The libvirt provider: VMs on an isolated libvirt network, booted from the base image.

    settings.py     what `cluster.provider: {type: libvirt, ...}` says; KVM or TCG
    names.py        names of the network, domains, bridge, MACs; the cluster's directory
    network.py      the isolated network and its DHCP pins
    disks.py        the published base image, overlays and seed disks
    domain_xml.py   a VM's definition
    connection.py   opening libvirt (shared with the Vagrant provider)
    provider.py     LibvirtProvider: provision, start, stop, destroy, state
"""

from __future__ import annotations

from k8sboot.providers.libvirt.provider import (
    LibvirtProvider,
    destroy,
    libvirt_host_state,
    provision,
    start,
    stop,
)
from k8sboot.providers.libvirt.settings import LibvirtSettings, choose_accelerator

__all__ = ["LibvirtProvider", "LibvirtSettings", "choose_accelerator", "destroy",
           "libvirt_host_state", "provision", "start", "stop"]
