"""The rest of a cluster's life: stop, start, down, remove-node.

Each works from the inventory plus the cluster's state directory (machines a
provider made, certificates, the admin kubeconfig).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from k8sboot import ui
from k8sboot.errors import InputError, RunError
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext, run_play
from k8sboot.providers import provider_for


def run_role(ctx: RunContext, title: str, role: str, hosts: list[Host]) -> None:
    run_play(ctx, title, hosts, [role], lambda h: dict(h.vars))


def provisioned(ctx: RunContext) -> dict[str, list[Host]]:
    by_provider: dict[str, list[Host]] = {}
    for h in ctx.inventory.hosts.values():
        if h.provider and h.name in ctx.state.machines():
            by_provider.setdefault(h.provider, []).append(h)
    return by_provider


def reachable_static_hosts(ctx: RunContext) -> list[Host]:
    return [h for h in ctx.inventory.hosts.values() if not h.provider]


class StopServices:
    title = "stop services"

    def run(self, ctx: RunContext) -> None:
        hosts = [h for h in ctx.inventory.hosts.values() if h.address]
        # two plays, because hosts do not wait for each other within one: every host's
        # apiserver clients are stopped before any apiserver is (roles/stop/defaults)
        for stage in ("clients", "servers"):
            run_play(ctx, f"{self.title} ({stage})", hosts, ["stop"], _with_stage(stage))


def _with_stage(stage: str) -> Callable[[Host], dict[str, Any]]:
    return lambda h: {**h.vars, "stop_stage": stage}


class StopMachines:
    title = "shut machines down"

    def run(self, ctx: RunContext) -> None:
        for name in provisioned(ctx):
            provider_for(name).stop(ctx.inventory, ctx.state, ui.info)


class StartMachines:
    title = "boot machines"

    def run(self, ctx: RunContext) -> None:
        from k8sboot.inventory import apply_machines

        for name in provisioned(ctx):
            apply_machines(ctx.inventory, provider_for(name).start(ctx.inventory, ctx.state, ui.info))


class ResetHosts:
    """Undo `up` on hosts k8sboot did not make (the ones it made are destroyed instead)."""

    title = "reset hosts"

    def __init__(self, names: list[str] | None = None):
        self.names = names

    def run(self, ctx: RunContext) -> None:
        hosts = reachable_static_hosts(ctx) if self.names is None else \
            [ctx.inventory.hosts[n] for n in self.names]
        run_role(ctx, self.title, "reset", hosts)


class DestroyMachines:
    title = "destroy machines"

    def run(self, ctx: RunContext) -> None:
        for name in sorted({h.provider for h in ctx.inventory.hosts.values() if h.provider}):
            provider_for(name).destroy(ctx.inventory, ctx.state, ui.info)


class ForgetCluster:
    title = "forget the cluster"

    def run(self, ctx: RunContext) -> None:
        ctx.pool.let_go()
        if ctx.state.root.exists():
            shutil.rmtree(ctx.state.root)
        ui.info(f"  removed {ctx.state.root}")


class DeleteNode:
    title = "delete the Node object"

    def __init__(self, host: Host):
        self.host = host

    def run(self, ctx: RunContext) -> None:
        from kubernetes.client import CoreV1Api
        from kubernetes.client.rest import ApiException


        if not ctx.state.admin_kubeconfig.exists():
            raise InputError(f"cluster {ctx.inventory.name} has no kubeconfig: was it ever up?")
        try:
            CoreV1Api(ctx.api()).delete_node(self.host.node_name)
            ui.info(f"  node {self.host.node_name} deleted")
        except ApiException as e:
            if e.status != 404:
                raise RunError(f"deleting node {self.host.node_name}: {e.reason}") from e
            ui.info(f"  node {self.host.node_name} was not registered")
