"""Phase: the cluster plan, from the inventory, the binaries and the hosts' facts."""

from __future__ import annotations

from k8sboot.phases.base import RunContext
from k8sboot.plan import ClusterPlan, cluster_settings


class MakePlan:
    title = "plan"

    def run(self, ctx: RunContext) -> None:
        resolved = ctx.scratch["binaries"]
        ctx.plan = ClusterPlan(
            inventory=ctx.inventory,
            settings=cluster_settings(ctx.inventory),
            kube_version=ctx.scratch["kube_version"],
            binaries={c: {"path": str(b.path), "sha256": b.sha256, "version": b.version}
                      for c, b in resolved.items()},
            pki_dir=ctx.state.pki_dir,
            facts=ctx.scratch.get("facts", {}),
        )
