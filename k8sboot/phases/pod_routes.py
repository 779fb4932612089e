"""Phase: routes between the nodes' pod networks.

Each node gets the same agent and unit (roles/pod_routes): the agent watches
the Nodes in the API, as its node, and keeps a route to every other node's
pod CIDR via that node's address (the nodes share a layer-2 network, as in
the lab and most racks). Nothing here depends on the other nodes, so adding
a node changes nothing on the others, and a rerun changes nothing at all.
Nothing in it needs the apiserver either: it runs beside the etcd and control
plane chain (at 10 hosts, after "wait for nodes Ready" it was 7 s at the end
of every cold `up`); the agents retry until the apiserver answers, and add each
Node's route when it has a pod CIDR.
"""

from __future__ import annotations

from k8sboot.cluster_layout import NODES
from k8sboot.phases.base import RunContext, run_play


class PodRoutes:
    title = "pod network routes"

    def run(self, ctx: RunContext) -> None:
        run_play(ctx, self.title, ctx.hosts_in(NODES), ["pod_routes"], ctx.plan.vars_for_host)
