"""Phase: make the machines the inventory asks a provider for (nothing for plain hosts)."""

from __future__ import annotations

from k8sboot import ui
from k8sboot.inventory import apply_machines
from k8sboot.phases.base import RunContext
from k8sboot.providers import provider_for


class Provision:
    title = "provision"

    def run(self, ctx: RunContext) -> None:
        wanted = sorted({h.provider for h in ctx.inventory.hosts.values() if h.provider})
        for name in wanted:
            machines = provider_for(name).provision(ctx.inventory, ctx.state, ui.info)
            apply_machines(ctx.inventory, machines)
