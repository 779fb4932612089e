"""Each node's pod CIDR, allocated by k8sboot before any host is touched.

The controller-manager's allocator assigns a node its pod CIDR only once the
node registered; the kubelet then hands it to containerd, which writes the
CNI config, and only the next status update reports the node Ready. k8sboot
knows the nodes beforehand, so it allocates here: the kubelet starts with its
pod CIDR in its config (containerd's CNI config exists before the node even
registers) and k8sboot writes the same CIDR into the Node's spec.

Allocations are stable: recorded in the state directory, a node keeps its
CIDR across reruns; a new node gets the lowest free subnet; a CIDR the API
already shows for a node (one the controller-manager gave it) is adopted,
because a Node's pod CIDR can never change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from k8sboot.errors import InputError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allocate(cluster_cidr: str, mask: int, nodes: Iterable[str], recorded: Mapping[str, str],
             observed: Mapping[str, str] | None = None) -> dict[str, str]:
    """node -> pod CIDR for every node: observed (the API's) first, then recorded, then new ones."""
    try:
        pool = ipaddress.ip_network(cluster_cidr, strict=False)
    except ValueError as e:
        raise InputError(f"cluster.pod_cidr: {cluster_cidr!r} is not a CIDR ({e})") from None
    if not isinstance(mask, int) or isinstance(mask, bool) or not pool.prefixlen <= mask <= pool.max_prefixlen - 2:
        raise InputError(f"cluster.node_cidr_mask_size must be from {pool.prefixlen} to {pool.max_prefixlen - 2} "
                         f"for pod_cidr {pool}, not {mask!r}")
    names = list(dict.fromkeys(nodes))
    out: dict[str, str] = {}
    taken: set[Network] = set()
    for source in (observed or {}, recorded):
        for node in names:
            if node in out or node not in source:
                continue
            try:
                net = ipaddress.ip_network(source[node], strict=True)
            except ValueError:
                continue  # a damaged record: allocate anew
            # a record made for another pod_cidr or mask, or clashing with the API's, is made anew
            if source is recorded and (not _inside(net, pool) or net.prefixlen != mask
                                       or any(net.overlaps(t) for t in taken)):
                continue
            out[node] = str(net)
            taken.add(net)
    free = (s for s in pool.subnets(new_prefix=mask) if not any(s.overlaps(t) for t in taken))
    for node in names:
        if node not in out:
            try:
                net = next(free)
            except StopIteration:
                raise InputError(f"cluster.pod_cidr {pool} has no room for a /{mask} per node for "
                                 f"{len(names)} nodes: widen it or raise node_cidr_mask_size") from None
            out[node] = str(net)
            taken.add(net)
    return out


def _inside(net: Network, pool: Network) -> bool:
    return (net.version == pool.version and int(pool.network_address) <= int(net.network_address)
            and int(net.broadcast_address) <= int(pool.broadcast_address))
