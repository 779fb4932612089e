"""Phase: the cluster plan, from the inventory, the binaries and the hosts' facts."""

from __future__ import annotations

from k8sboot.phases.base import RunContext
from k8sboot.phases.learned import Learned
from k8sboot.plan import ClusterPlan, cluster_settings


class MakePlan:
    title = "plan"

    def run(self, ctx: RunContext) -> None:
        learned = ctx.learned
        resolved = Learned.need(learned.binaries, "the binaries", "binaries")
        images = Learned.need(learned.images, "the image archives", "images")
        ctx.made_plan = ClusterPlan(
            inventory=ctx.inventory,
            settings=cluster_settings(ctx.inventory),
            kube_version=Learned.need(learned.kube_version, "the Kubernetes version", "binaries"),
            binaries={c: {"path": str(b.path), "sha256": b.sha256, "version": b.version}
                      for c, b in resolved.items()},
            pki_dir=ctx.state.pki_dir,
            image_archives=images.as_vars(),
            sandbox_image=images.sandbox_image,
            facts=Learned.need(learned.facts, "the hosts' facts", "connect"),
        )
