"""A phase that runs roles on the hosts of a group, through the engine."""

from __future__ import annotations

from dataclasses import dataclass

from k8sboot.engine.runner import Play, Runner, load_roles
from k8sboot.errors import RunError
from k8sboot.phases.base import RunContext


@dataclass
class RolePhase:
    title: str
    roles: list[str]
    group: str

    def run(self, ctx: RunContext) -> None:
        assert ctx.plan is not None
        hosts = ctx.inventory.hosts_in(self.group)
        roles = load_roles(self.roles, ctx.command.roles_dirs)
        runner = Runner(ctx.inventory, ctx.pool, ctx.command.templar(), ctx.plan.vars_for_host,
                        ctx.options, ctx.reporter)
        result = runner.run(Play(self.title, hosts, roles))
        ctx.result.merge(result)
        if result.failures:
            raise RunError(
                f"{self.title} failed on {', '.join(f.host for f in result.failures)}:\n"
                + "\n".join(f.describe() for f in result.failures)
            )
