"""A phase that runs roles on the hosts of a group, through the engine."""

from __future__ import annotations

from dataclasses import dataclass

from k8sboot.phases.base import RunContext, run_play
from k8sboot.phases.rolling import run_rolling


@dataclass
class RolePhase:
    title: str
    roles: list[str]
    group: str
    # where this unit already runs, changes roll one host at a time (phases/rolling.py)
    rolling_unit: str | None = None

    def run(self, ctx: RunContext) -> None:
        hosts = ctx.hosts_in(self.group)
        if not hosts:
            return  # up --limit without this group's hosts
        if self.rolling_unit:
            run_rolling(ctx, self.title, hosts, self.roles, ctx.plan.vars_for_host, self.rolling_unit)
        else:
            run_play(ctx, self.title, hosts, self.roles, ctx.plan.vars_for_host)
