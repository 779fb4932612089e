"""Phase: resolve the user's binaries and check them, before any host is touched.

Builds recorded by `k8sboot dev` take the place of the inventory's for their
components until `k8sboot dev --reset`.
"""

from __future__ import annotations

from k8sboot import ui
from k8sboot.binaries import default_cache_dir, kubernetes_version, resolve_binaries, write_manifest
from k8sboot.binaries.components import components_for_groups
from k8sboot.binaries.manifest import read_dev_binaries, remember_builds
from k8sboot.engine.modules.copy import pin_sha256
from k8sboot.errors import InputError
from k8sboot.phases.base import RunContext


class ResolveBinaries:
    title = "binaries"

    def run(self, ctx: RunContext) -> None:
        inv = ctx.inventory
        settings = inv.cluster.get("binaries")
        if not settings:
            raise InputError(
                "cluster.binaries is not set: say where your builds of etcd and the Kubernetes "
                "components are (e.g. `binaries: {dir: ~/kubernetes/_output/bin, etcd: {path: /usr/bin/etcd}}`)",
                file=str(inv.path) if inv.path else None,
            )
        groups = {g for h in inv.hosts.values() for g in h.groups}
        wanted = components_for_groups(groups)
        dev = {c: p for c, p in read_dev_binaries(ctx.state).items() if c in wanted}
        if dev:
            settings = {**settings, **{c: {"path": str(p)} for c, p in dev.items()}}
        resolved = resolve_binaries(settings, default_cache_dir(), inv.path.parent if inv.path else None,
                                    components=wanted)
        write_manifest(ctx.state.ensure(), resolved)
        remember_builds(ctx.state, resolved)
        ctx.learned.binaries = resolved
        ctx.learned.kube_version = kubernetes_version(resolved)
        width = max([10, *(len(rb.version) for rb in resolved.values())])
        for comp, rb in sorted(resolved.items()):
            pin_sha256(rb.path, rb.sha256)  # what reaches the hosts is what was checked here
            origin = "dev build (k8sboot dev)" if comp in dev else rb.source
            ui.info(f"  {comp:<24} {rb.version:<{width}} {rb.sha256[:12]}  {origin}")
