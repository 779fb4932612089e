"""Phase: each node's pod CIDR, allocated here (k8sboot/pod_cidrs.py says why), before any role runs.

The record in the state directory is the truth for the nodes it lists (k8sboot
wrote those CIDRs into the Nodes' specs). Only for a node it does not list is
the API asked, when a cluster already runs: a Node the controller-manager gave
a CIDR keeps it (a Node's pod CIDR can never change). A first `up` asks nothing.
"""

from __future__ import annotations

from k8sboot import ui
from k8sboot.cluster_layout import NODES
from k8sboot.phases.base import RunContext
from k8sboot.pod_cidrs import allocate

RECORD = "pod-cidrs.json"  # under the state directory


class PodCidrs:
    title = "pod CIDRs"

    def run(self, ctx: RunContext) -> None:
        plan = ctx.plan
        nodes = [h.node_name for h in ctx.inventory.hosts_in(NODES)]
        path = ctx.state.root / RECORD
        try:
            recorded = ctx.state.read_json(path, {})
        except ValueError:
            recorded = {}
        if not isinstance(recorded, dict):
            recorded = {}
        observed: dict[str, str] = {}
        if any(n not in recorded for n in nodes) and ctx.state.admin_kubeconfig.exists():
            observed = self._observed(ctx)
        cidrs = allocate(str(plan.settings["pod_cidr"]), plan.settings["node_cidr_mask_size"], nodes,
                         recorded, observed)
        plan.pod_cidrs = cidrs
        if cidrs != recorded and not ctx.options.check:
            ctx.state.write_json(path, cidrs)
            new = {n: c for n, c in cidrs.items() if recorded.get(n) != c}
            ui.info("  " + ", ".join(f"{n} {c}" for n, c in new.items()))

    @staticmethod
    def _observed(ctx: RunContext) -> dict[str, str]:
        """The pod CIDRs the API shows (none when it does not answer: a cluster being built)."""
        from k8sboot.cluster_api import node_views

        try:
            api = ctx.api()
            return {name: v.pod_cidr for name, v in node_views(api, timeout=3).items() if v.pod_cidr}
        except Exception:  # noqa: BLE001 - no API yet: nothing to adopt
            return {}
