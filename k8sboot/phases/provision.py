"""Phase: make the machines the inventory asks a provider for (nothing for plain hosts)."""

from __future__ import annotations

import importlib

from k8sboot import ui
from k8sboot.inventory import apply_machines
from k8sboot.phases.base import RunContext

PROVIDER_MODULES = {"libvirt": "k8sboot.providers.libvirt", "vagrant": "k8sboot.providers.vagrant"}


def provider_for(name: str):  # noqa: ANN201 - a provider module
    return importlib.import_module(PROVIDER_MODULES[name])


class Provision:
    title = "provision"

    def run(self, ctx: RunContext) -> None:
        wanted = sorted({h.provider for h in ctx.inventory.hosts.values() if h.provider})
        for name in wanted:
            machines = provider_for(name).provision(ctx.inventory, ctx.state, ui.info)
            apply_machines(ctx.inventory, machines)
