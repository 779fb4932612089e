"""What `vagrant destroy` leaves in libvirt, removed by name.

vagrant-libvirt keeps the networks it made when another domain still uses them
at that moment (machines are destroyed in parallel), and a machine it no longer
knows (its record lost, its host gone from the inventory) is never destroyed at
all. Everything a cluster makes carries its prefix ``k8sboot-<cluster>-``, so the
leftovers are found by exact names: domains, their volumes in the storage pool
(``<domain>.img`` and extra disks ``<domain>-*``), the private and the
management network. The box's own volume is shared by all clusters and stays.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from k8sboot.providers.base import Log
from k8sboot.providers.libvirt.connection import connect


def volume_belongs(volume: str, domains: Iterable[str]) -> bool:
    """`<domain>.img` (vagrant-libvirt's root disk) or `<domain>-<disk>` (extra disks)."""
    return any(volume == f"{d}.img" or volume.startswith(f"{d}-") for d in domains)


def remove_leftovers(uri: str, domains: set[str], networks: list[str], pool: str,
                     log: Log) -> list[str]:
    """Remove the named domains, their volumes in `pool` and the networks; say what went."""
    import libvirt

    removed: list[str] = []
    with connect(uri) as conn:
        for name in sorted(domains):
            try:
                dom = conn.lookupByName(name)
            except libvirt.libvirtError:
                continue
            if dom.isActive():
                dom.destroy()
            # a domain made with snapshots or NVRAM would refuse a plain undefine
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                              | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
            removed.append(f"domain {name}")
        try:
            storage = conn.storagePoolLookupByName(pool)
        except libvirt.libvirtError:
            storage = None
        if storage is not None and storage.isActive():
            storage.refresh(0)
            for vol_name in storage.listVolumes():
                if volume_belongs(vol_name, domains):
                    storage.storageVolLookupByName(vol_name).delete(0)
                    removed.append(f"volume {pool}/{vol_name}")
        for name in networks:
            try:
                net = conn.networkLookupByName(name)
            except libvirt.libvirtError:
                continue
            if net.isActive():
                net.destroy()
            net.undefine()
            removed.append(f"network {name}")
    for what in removed:
        log(f"vagrant: removed leftover {what}")
    return removed


def box_volume_prefix(box: str) -> str:
    """vagrant-libvirt's name for a box's image in the pool starts with this."""
    return box.replace("/", "-VAGRANTSLASH-") + "_vagrant_box_image_"


def prune_box_volumes(uri: str, pool: str, box: str, log: Log) -> list[str]:
    """Delete the pool's images of `box` that no machine's disk is based on.

    A re-added box gets a new image in the pool (named after box.img's mtime); the
    old one would stay there for good, about 1 GB each time.
    """
    import libvirt

    removed: list[str] = []
    with connect(uri) as conn:
        try:
            storage = conn.storagePoolLookupByName(pool)
        except libvirt.libvirtError:
            return removed
        if not storage.isActive():
            return removed
        storage.refresh(0)
        volumes = {name: storage.storageVolLookupByName(name) for name in storage.listVolumes()}
        backing = set()
        for vol in volumes.values():
            for source in ET.fromstring(vol.XMLDesc(0)).iter("backingStore"):
                path = source.findtext("path")
                if path:
                    backing.add(path)
        for name, vol in sorted(volumes.items()):
            if name.startswith(box_volume_prefix(box)) and vol.path() not in backing:
                vol.delete(0)
                removed.append(name)
                log(f"vagrant box: removed the unused box image {pool}/{name}")
    return removed
