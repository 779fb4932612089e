"""`k8sboot provision` / `k8sboot destroy`: the machines providers make for the inventory."""

from __future__ import annotations

import argparse
import time

from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.errors import InputError
from k8sboot.providers import provider_for


def _providers(ctx) -> list[str]:  # noqa: ANN001
    names = sorted({h.provider for h in ctx.inventory.hosts.values() if h.provider})
    if not names:
        raise InputError("no host of this inventory has a provider (provider: lxc, libvirt or vagrant): "
                         "nothing to provision", file=str(ctx.inventory.path))
    return names


def provision(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    started = time.monotonic()
    for name in _providers(ctx):
        machines = provider_for(name).provision(ctx.inventory, ctx.state, ui.info)
        for host, m in sorted(machines.items()):
            ui.info(f"  {host:<12} {m['address']}:{m.get('port', 22)} as {m.get('user', 'root')} ({name})")
    ui.info(f"provisioned in {time.monotonic() - started:.1f}s; machines recorded in {ctx.state.machines_file}")
    return 0


def destroy(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    for name in _providers(ctx):
        provider_for(name).destroy(ctx.inventory, ctx.state, ui.info)
    ui.info(f"destroyed the machines of cluster {ctx.inventory.name}")
    return 0
