"""Phase: what a roll will change, checked before any host is touched; an etcd snapshot first.

For every host already running a component, the installed binary's sha256
(one command per host) is compared with the build `up` is about to install.
Where they differ the cluster is being upgraded (or a developer's new build
rolled): the plan is printed host by host, the version-skew rules are checked
(a violation stops the run here, nothing changed), and, when etcd or a control
plane is about to change, etcd is snapshotted into the state directory.
With --check the plan is printed and nothing else happens.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from k8sboot import ui
from k8sboot.binaries import components as comps
from k8sboot.binaries.manifest import known_versions
from k8sboot.cluster_layout import ETCD
from k8sboot.connection.digests import file_sha256s
from k8sboot.errors import InputError, RunError
from k8sboot.etcd.client import local_tls
from k8sboot.etcd.snapshot import default_snapshot_path, take_snapshot
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext
from k8sboot.plan import etcd_endpoints
from k8sboot.upgrade.roll_plan import Wanted, build_roll_plan
from k8sboot.upgrade.skew import skew_problems
from k8sboot.upgrade.stages import STAGES, host_binary_paths, host_components

SNAPSHOT_TIMEOUT = 30.0


def installed_binaries(ctx: RunContext, hosts: list[Host]) -> dict[str, dict[str, str | None]]:
    """host -> component -> sha256 of the installed binary (None: not installed), hashing only
    files that changed since k8sboot last wrote or hashed them. Connect asked with its facts;
    a host it did not ask costs one command."""
    facts = ctx.learned.facts or {}

    def read(host: Host) -> dict[str, str | None]:
        found = facts.get(host.name, {}).get("binary_sha256")
        if found is None:
            found = file_sha256s(ctx.pool.get(host), host_binary_paths(host))
        return {c: found[comps.remote_path(c)] for c in host_components(host)}

    with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), ctx.options.forks))) as ex:
        return dict(zip([h.name for h in hosts], ex.map(read, hosts)))


class PlanRoll:
    title = "roll plan"

    def run(self, ctx: RunContext) -> None:
        binaries = ctx.learned.binaries or {}
        installed = installed_binaries(ctx, ctx.targets())
        ctx.learned.installed = installed
        stages = [(stage, [h.name for h in ctx.hosts_in(group)], cs) for stage, group, cs in STAGES]
        wanted = {c: Wanted(b.sha256, b.version) for c, b in binaries.items()}
        plan = build_roll_plan(stages, installed, wanted, known_versions(ctx.state))
        ctx.learned.roll = plan
        if plan.empty:
            return
        ui.info(f"  new builds for {len(plan.hosts)} running host/stage(s); the roll, in order:")
        for line in plan.lines():
            ui.info(f"    {line}")
        problems = skew_problems(plan, {c: b.version for c, b in binaries.items()})
        if problems:
            raise InputError("this roll breaks Kubernetes' version-skew rules; nothing was changed:\n  - "
                             + "\n  - ".join(problems))
        if ctx.options.check:
            return
        if plan.stage("etcd") or plan.stage("control plane"):
            self._snapshot(ctx)

    def _snapshot(self, ctx: RunContext) -> None:
        names = etcd_endpoints(ctx.inventory.hosts_in(ETCD))
        dest = default_snapshot_path(ctx.state.ensure().root, ctx.inventory.name)
        try:
            taken = take_snapshot(names, local_tls(ctx.state.pki_dir), dest, SNAPSHOT_TIMEOUT, ctx.pool.reach)
        except Exception as e:  # noqa: BLE001 - any failure here means: do not roll without a way back
            raise RunError(f"etcd snapshot before the roll failed ({e}); nothing was changed: "
                           f"check etcd with `k8sboot etcd status`") from None
        ui.info(f"  etcd snapshot before the roll: {taken.path} ({taken.size} bytes from {taken.member}; "
                f"`k8sboot etcd restore` takes it back)")
