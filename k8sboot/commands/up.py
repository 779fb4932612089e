"""`k8sboot up`: from an inventory to Ready nodes (the phases are listed in phases/sequences.py)."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

from k8sboot import ui
from k8sboot.cluster_layout import CONTROL_PLANE, ETCD, NODES
from k8sboot.commands.context import build_context, limit_hosts
from k8sboot.errors import InputError, K8sbootError
from k8sboot.inventory.model import Inventory
from k8sboot.phases.base import Phase, RunContext, run_phases
from k8sboot.phases.sequences import up_phases
from k8sboot.upgrade.options import RollOptions


def roll_options(args: argparse.Namespace, inventory: Inventory) -> RollOptions:
    ready = inventory.vars.get("ready_timeout") or inventory.cluster.get("ready_timeout") or 300
    defaults = RollOptions()  # `start` runs `up` too, with the roll flags it may not have
    return RollOptions(max_unavailable=getattr(args, "max_unavailable", defaults.max_unavailable),
                       force_drain=getattr(args, "force_drain", defaults.force_drain),
                       drain_timeout=getattr(args, "drain_timeout", defaults.drain_timeout),
                       ready_timeout=float(ready))


def limited_nodes(inventory: Inventory, limit: str | None, admin_kubeconfig: Path) -> frozenset[str] | None:
    """`--limit`'s hosts, refused before any host is touched unless each is a node alone in a
    cluster `up` made before: etcd and the control plane change only with every host in view."""
    if not limit:
        return None
    hosts = limit_hosts(inventory, limit)
    where = str(inventory.path)
    for host in hosts:
        if not host.in_group(NODES):
            raise InputError(f"--limit: {host.name} is not in the {NODES} group; --limit works on nodes",
                             file=where)
        other = [g for g in (ETCD, CONTROL_PLANE) if host.in_group(g)]
        if other:
            raise InputError(f"--limit: {host.name} is in {' and '.join(other)}: those change only in a "
                             "full `up` (without --limit)", file=where)
    if not admin_kubeconfig.exists():
        raise InputError(f"--limit adds nodes to a running cluster, and {inventory.name} has not been brought "
                         "up yet: run `k8sboot up` without --limit first", file=where)
    return frozenset(h.name for h in hosts)


def run_and_report(phases: list[Phase], ctx: RunContext, started: float) -> tuple[K8sbootError | None, float]:
    """The phases of `up` (or a variant of it), then the recap and the timings, even when a phase
    failed: (the failure, seconds since `started`)."""
    failed: K8sbootError | None = None
    try:
        run_phases(phases, ctx)
    except K8sbootError as e:
        failed = e
    if ctx.result.stats:
        ui.print_recap(ctx.result)
    total = time.monotonic() - started
    _report_transfers(ctx)
    ui.info("timings: " + ", ".join(f"{t} {s:.1f}s" for t, s in ctx.timings) + f"; total {total:.1f}s")
    return failed, total


def _report_transfers(ctx: RunContext) -> None:
    """How the large binaries reached the hosts: a host that could not fetch them is slower, and says why."""
    offer = ctx.pool.offer
    for host, why in sorted(offer.fallbacks.items()):
        ui.warn(f"{host}: {why}; its binaries went through SSH instead (slower)")
    if offer.fetched or offer.uploaded:
        ui.info(f"binaries: {offer.fetched} fetched by the hosts over HTTP (sha256-checked), "
                f"{offer.uploaded} uploaded through SSH")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if not args.check:
        # rbac, roll nodes and wait for Ready talk to the API even on a rerun that changes nothing; the
        # kubernetes client takes ~0.4 s to import: it loads while the first phases wait on SSH
        threading.Thread(target=lambda: __import__("k8sboot.cluster_api"), daemon=True).start()
    command = build_context(args)
    limit = limited_nodes(command.inventory, getattr(args, "limit", None), command.state.admin_kubeconfig)
    options = command.run_options(check=args.check, diff=args.diff, forks=args.forks)
    ctx = RunContext(command, command.pool(), options, ui.Reporter(verbose=args.verbose, diff=args.diff),
                     roll=roll_options(args, command.inventory), limit=limit)
    failed, total = run_and_report(up_phases(), ctx, started)
    if failed:
        raise failed
    ui.info(f"[green]cluster {command.inventory.name} is up[/] ({ctx.result.changed} changed, {total:.1f}s)")
    return 0
