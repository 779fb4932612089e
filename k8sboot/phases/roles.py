"""A phase that runs roles on the hosts of a group, through the engine."""

from __future__ import annotations

from dataclasses import dataclass

from k8sboot.phases.base import RunContext, run_play


@dataclass
class RolePhase:
    title: str
    roles: list[str]
    group: str

    def run(self, ctx: RunContext) -> None:
        run_play(ctx, self.title, ctx.inventory.hosts_in(self.group), self.roles, ctx.plan.vars_for_host)
