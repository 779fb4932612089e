"""`k8sboot stop | start | down | remove-node`: a cluster's life after `up`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from k8sboot import ui
from k8sboot.cluster_layout import CONTROL_PLANE, ETCD
from k8sboot.commands import up as up_command
from k8sboot.commands.context import build_context
from k8sboot.errors import InputError
from k8sboot.phases.base import Phase, RunContext, run_phases
from k8sboot.phases.sequences import boot_phases, down_phases, remove_node_phases, stop_phases


def _run(args: argparse.Namespace, phases_for: Callable[[RunContext], list[Phase]], done: str) -> int:
    started = time.monotonic()
    command = build_context(args)
    ctx = RunContext(command, command.pool(), command.run_options(forks=getattr(args, "forks", 10)),
                     ui.Reporter(verbose=getattr(args, "verbose", 0)))
    run_phases(phases_for(ctx), ctx)
    ui.info(f"{done} ({time.monotonic() - started:.1f}s)")
    return 0


def stop(args: argparse.Namespace) -> int:
    return _run(args, lambda ctx: stop_phases(),
                "stopped: all state kept; `k8sboot start` brings it back")


def start(args: argparse.Namespace) -> int:
    # boot the machines, then `up`: idempotent, it starts what is stopped and waits for Ready
    _run(args, lambda ctx: boot_phases(), "machines booted")
    args.check = args.diff = False
    return up_command.run(args)


def down(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("`down` resets every host and deletes the cluster's state: "
                             "pass --yes to confirm (no terminal to ask on)")
        answer = input("Reset every host, destroy the VMs and delete the cluster's state? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            ui.info("nothing done")
            return 0
    return _run(args, lambda ctx: down_phases(),
                "cluster removed")


def remove_node(args: argparse.Namespace) -> int:
    def phases(ctx: RunContext) -> list[Phase]:
        inv = ctx.inventory
        host = inv.hosts.get(args.name)
        if host is None:
            raise InputError(f"no host {args.name!r} in the inventory", file=str(inv.path))
        if host.in_group(CONTROL_PLANE) or host.in_group(ETCD):
            raise InputError(f"{args.name} runs etcd or the control plane: remove-node removes workers only")
        return remove_node_phases(host)

    return _run(args, phases, f"node {args.name} removed; take it out of the inventory's nodes group")
