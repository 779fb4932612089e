"""Phase: routes between the nodes' pod networks.

k8sboot allocates each node's pod CIDR (phase "pod CIDRs"); every node gets a
route to every other node's pod CIDR via that node's address (the nodes share
a layer-2 network, as in the lab and most racks).
"""

from __future__ import annotations

from typing import Any

from k8sboot.cluster_layout import NODES
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext, run_play
from k8sboot.plan import node_ip


class PodRoutes:
    title = "pod network routes"

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check:
            return
        views = ctx.learned.nodes
        hosts = ctx.inventory.hosts_in(NODES)
        cidrs = {h.name: ctx.plan.pod_cidrs.get(h.node_name) or (views[h.node_name].pod_cidr
                                                                 if h.node_name in views else None)
                 for h in hosts}

        def vars_for(host: Host) -> dict[str, Any]:
            routes = [{"cidr": cidrs[o.name], "via": node_ip(o)}
                      for o in hosts if o.name != host.name and cidrs.get(o.name)]
            return {**ctx.plan.vars_for_host(host), "pod_routes": routes}

        run_play(ctx, self.title, hosts, ["pod_routes"], vars_for)
