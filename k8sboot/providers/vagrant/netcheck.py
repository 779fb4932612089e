"""Refuse address ranges that other libvirt networks already use, before `vagrant up`.

vagrant-libvirt looks networks up by address first: given a range that another
network (say libvirt's own `default`, 192.168.122.0/24) already has, it attaches
the machine to that network, and when the start then fails its cleanup deletes
that network, which was never its own (seen with vagrant-libvirt 0.11.2). So
k8sboot checks the ranges itself and stops with a clear message instead.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

from k8sboot.errors import InputError

Net = ipaddress.IPv4Network


def ipv4_of(network_xml: str) -> Net | None:
    """The IPv4 range of a libvirt network definition, if it has one."""
    root = ET.fromstring(network_xml)
    for ip in root.iter("ip"):
        if ip.get("family", "ipv4") != "ipv4" or not ip.get("address"):
            continue
        mask = ip.get("netmask") or ip.get("prefix") or "24"
        return ipaddress.IPv4Network(f"{ip.get('address')}/{mask}", strict=False)
    return None


def conflicts(existing: dict[str, Net | None], wanted: dict[str, tuple[str, Net]]) -> list[str]:
    """Problems with the ranges we want: {our network name: (setting, range)}."""
    problems: list[str] = []
    for ours, (setting, net) in wanted.items():
        have = existing.get(ours)
        if ours in existing and have != net:
            problems.append(f"{setting} is {net}, but this cluster's network {ours} already "
                            f"exists with {have}: destroy the cluster first, or keep {have}")
        for name, other in existing.items():
            if name in wanted or other is None or not other.overlaps(net):
                continue
            problems.append(f"{setting} {net} overlaps the libvirt network {name!r} ({other}); "
                            "vagrant-libvirt would take that network over (and delete it if the "
                            "start fails): choose another range in cluster.provider")
    return problems


def existing_networks(uri: str) -> dict[str, Net | None]:
    """Every libvirt network (active or not) and its IPv4 range."""
    from k8sboot.providers.libvirt.connection import connect

    with connect(uri) as conn:
        return {net.name(): ipv4_of(net.XMLDesc(0)) for net in conn.listAllNetworks(0)}


def check_ranges(uri: str, wanted: dict[str, tuple[str, Net]]) -> None:
    problems = conflicts(existing_networks(uri), wanted)
    if problems:
        raise InputError("; ".join(problems))
