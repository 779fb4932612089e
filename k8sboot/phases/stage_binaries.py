"""Phase: the control planes' binaries fetched ahead, while etcd's members start.

The control plane role installs the apiserver, controller-manager and scheduler
only once etcd is up. Fetched then, at 30 hosts they queued behind every node's
kubelet and kube-proxy (the bench's 30-host log: the apiserver's binary landed
20 s after its fetch began, all of it on `up`'s critical chain). Fetched first,
into a staging directory on the host (file_offer.STAGE_DIR, each file named by
its sha256, checked as it arrives and again when taken), the role's install
then takes it from there. Installing, comparing and restarting stay the role's: nothing on the host
changes before the role says so, and a host that cannot fetch from us (behind a
bastion, a forwarded port) simply gets its files uploaded by the role as before.

All three, not only the apiserver's: at 30 hosts the apiserver-only variant let
the control plane start while the nodes were still busy installing, and on
shared CPUs its files and its start then took twice as long (bench, same
floors: 75.9 s against 64.0-67.5 s for `up`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from k8sboot import ui
from k8sboot.binaries.components import GROUP_COMPONENTS, REQUIRED
from k8sboot.binaries.resolve import ResolvedBinary
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext
from k8sboot.phases.learned import Learned

# a fetch of one binary: as long as the role's own install of it may take
STAGE_TIMEOUT = 600.0


class StageBinaries:
    def __init__(self, group: str, components: tuple[str, ...]):
        unknown = [c for c in components if c not in GROUP_COMPONENTS[group] or c not in REQUIRED]
        if unknown:  # a staged file no task of the group's role takes would stay until pruned
            raise ValueError(f"the {group} role does not install {', '.join(unknown)}")
        self.group = group
        self.components = components
        # no comma: the timings line separates phases with them (and bench_up parses it)
        self.title = f"fetch {' + '.join(components)}"

    def wanted(self, ctx: RunContext) -> dict[str, list[ResolvedBinary]]:
        """host -> the group's binaries it does not run yet (a rerun stages nothing)."""
        binaries = Learned.need(ctx.learned.binaries, "the checked binaries", "binaries")
        installed = Learned.need(ctx.learned.installed, "the installed binaries", "roll plan")
        out: dict[str, list[ResolvedBinary]] = {}
        for host in ctx.hosts_in(self.group):
            on_host = installed.get(host.name, {})
            missing = [binaries[c] for c in self.components
                       if c in binaries and on_host.get(c) != binaries[c].sha256]
            if missing:
                out[host.name] = missing
        return out

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check:
            return
        wanted = self.wanted(ctx)
        if not wanted:
            return

        def stage(host: Host) -> str:
            conn = ctx.pool.get(host)
            started, staged = time.monotonic(), []
            for binary in wanted[host.name]:
                r = conn.stage(binary.path, binary.sha256, timeout=STAGE_TIMEOUT)
                if r is None or not r.ok:
                    # not an error: the role fetches or uploads what is not staged, and says so if it fails
                    return f"{host.name}: not staged ({r.stderr_tail(1) if r else 'cannot fetch from here'})"
                staged.append(binary.component)
            return f"{host.name}: {', '.join(staged)} ({time.monotonic() - started:.1f}s)"

        hosts = [h for h in ctx.hosts_in(self.group) if h.name in wanted]
        with ThreadPoolExecutor(max_workers=len(hosts)) as ex:
            for line in ex.map(stage, hosts):
                ui.info(f"  {line}")
