"""Which address each host a provider makes gets in the cluster's network (pure)."""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping

from k8sboot.errors import InputError
from k8sboot.inventory.model import Host
from k8sboot.machine import Machine

FIRST_HOST = 11  # .1 is the bridge; allocated addresses start at .11


def allocate_addresses(hosts: list[Host], network: ipaddress.IPv4Network,
                       known: Mapping[str, Machine]) -> dict[str, str]:
    """The inventory's address if given, else the one recorded, else the lowest free."""
    gateway = network.network_address + 1
    out: dict[str, str] = {}
    for host in hosts:
        recorded = known.get(host.name)
        if host.address:
            try:
                ip = ipaddress.IPv4Address(host.address)
            except ValueError:
                raise InputError(f"{host.name}: address {host.address!r} is not an IPv4 "
                                 "address (hosts a provider makes need one, or none)") from None
            if ip not in network or ip in (network.network_address, network.broadcast_address,
                                           gateway):
                raise InputError(f"{host.name}: address {ip} is not usable in {network}")
            out[host.name] = str(ip)
        elif recorded is not None and recorded.address:
            out[host.name] = recorded.address
    taken = set(out.values())
    free = (str(ip) for ip in network.hosts()
            if int(ip) - int(network.network_address) >= FIRST_HOST)
    for host in hosts:
        if host.name in out:
            continue
        for candidate in free:
            if candidate not in taken:
                out[host.name] = candidate
                break
        else:
            raise InputError(f"no free address left in {network}")
    shared = sorted(a for a, n in Counter(out.values()).items() if n > 1)
    if shared:
        raise InputError(f"two hosts share one address ({', '.join(shared)}): give each its own, or none")
    if len(set(out.values())) != len(out):
        raise InputError("two hosts share one address")
    return out
