"""Roles on hosts that already serve: only where something changes, and one host at a time.

With several control planes (or etcd members), a changed binary, flag or
certificate restarts the component; restarting it everywhere at once is an
outage (no apiserver answers; etcd loses its quorum). So, for one role over
many hosts:
- hosts where the component does not run yet get the role together (a first
  install waits for nothing);
- hosts where it runs are first previewed in check mode, all at once, so a
  no-op rerun stays one quick pass;
- those whose run would change something (or that are owed handlers from an
  earlier run) get the real run one after another; each finishes (the role
  waits until its component is ready again) before the next begins.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from k8sboot import ui
from k8sboot.engine.results import CHANGED, HostStats, PlayResult, TaskOutcome
from k8sboot.engine.runner import Play, Runner, load_roles
from k8sboot.engine.tasks import Task
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext, run_play


class _Silent:
    """The preview's reporter: what check mode would change is for deciding, not for showing.

    It notes the handlers each host's changes notify: they say which units a
    real run would restart (a node whose only change restarts kube-proxy need
    not be drained).
    """

    def __init__(self) -> None:
        self.notified: dict[str, set[str]] = {}

    def play_started(self, title: str, hosts: list[str]) -> None: ...

    def task_done(self, host: str, role: str, task: Task, outcome: TaskOutcome) -> None:
        if outcome.status == CHANGED:
            self.notified.setdefault(host, set()).update(task.notify)

    def host_done(self, host: str, stats: HostStats) -> None: ...
    def play_done(self, title: str, result: PlayResult) -> None: ...


def unit_states(ctx: RunContext, hosts: list[Host], unit: str) -> dict[str, str]:
    """`systemctl is-active unit` on each host (active, activating, inactive, failed, ...): one
    command per host, all at once."""
    def state(host: Host) -> str:
        r = ctx.pool.get(host).run(f"systemctl is-active {shlex.quote(unit)}", become=True, timeout=30)
        return r.stdout.strip() or "unknown"

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as ex:
        return dict(zip([h.name for h in hosts], ex.map(state, hosts)))


def units_running(ctx: RunContext, hosts: list[Host], unit: str) -> dict[str, bool]:
    """Whether `unit` is active on each host."""
    return {name: state == "active" for name, state in unit_states(ctx, hosts, unit).items()}


def would_change(ctx: RunContext, hosts: list[Host], roles: list[str],
                 vars_for_host: Callable[[Host], dict[str, Any]]) -> dict[str, set[str]]:
    """The hosts where a real run of these roles would change something (or could not be
    previewed), each with the handlers its changes notify (or an earlier run still owes)."""
    reporter = _Silent()
    runner = Runner(ctx.inventory, ctx.pool, ctx.command.templar(), vars_for_host,
                    replace(ctx.options, check=True), reporter)
    preview = runner.run(Play("preview", hosts, load_roles(roles, ctx.command.roles_dirs)))
    failed = {f.host for f in preview.failures}
    for f in preview.failures:  # said, not hidden: such a host is rolled whether it needs it or not
        ui.warn(f"could not preview the {', '.join(roles)} role on {f.host}, so it is rolled: "
                + f.describe().strip().splitlines()[0])
    changing = {h.name: reporter.notified.get(h.name, set()) for h in hosts
                if h.name in failed or preview.stats.get(h.name, HostStats()).changed}
    owed = ctx.options.pending
    if owed is not None:
        for h in hosts:
            for names in owed.get(h.name, roles).values():
                changing.setdefault(h.name, set()).update(names)
    return changing


def run_rolling(ctx: RunContext, title: str, hosts: list[Host], roles: list[str],
                vars_for_host: Callable[[Host], dict[str, Any]], unit: str,
                after_each: Callable[[Host], None] | None = None) -> None:
    """The roles on these hosts, rolling over those where `unit` already runs (see the module's docstring).

    after_each: a gate run after each rolled host (e.g. etcd back at quorum) before the next starts.
    """
    if ctx.options.check or len(hosts) < 2:
        run_play(ctx, title, hosts, roles, vars_for_host)
        return
    running = units_running(ctx, hosts, unit)
    fresh = [h for h in hosts if not running[h.name]]
    live = [h for h in hosts if running[h.name]]
    if fresh:
        run_play(ctx, title, fresh, roles, vars_for_host)
    if not live:
        return
    changing = would_change(ctx, live, roles, vars_for_host)
    rolling = [h for h in live if h.name in changing]
    if not rolling:
        ui.info(f"{title}: nothing to change on {', '.join(h.name for h in live)}")
        return
    for host in rolling:  # one at a time: the others keep serving meanwhile
        run_play(ctx, f"{title}: {host.name} ({rolling.index(host) + 1}/{len(rolling)}, rolling)", [host],
                 roles, vars_for_host)
        if after_each is not None:
            after_each(host)
