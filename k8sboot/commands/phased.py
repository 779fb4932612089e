"""What commands that change hosts share: a confirmation before destroying, and one way to run phases."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.errors import InputError
from k8sboot.phases.base import Phase, RunContext, run_phases


def confirmed(args: argparse.Namespace, what: str, question: str) -> bool:
    """--yes, or a yes typed at the terminal; with no terminal to ask on, an error."""
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise InputError(f"{what}: pass --yes to confirm (no terminal to ask on)")
    if input(f"{question} [y/N] ").strip().lower() in ("y", "yes"):
        return True
    ui.info("nothing done")
    return False


def run_phased(args: argparse.Namespace, phases_for: Callable[[RunContext], list[Phase]], done: str) -> int:
    started = time.monotonic()
    command = build_context(args)
    ctx = RunContext(command, command.pool(), command.run_options(forks=getattr(args, "forks", DEFAULT_FORKS)),
                     ui.Reporter(verbose=getattr(args, "verbose", 0)))
    run_phases(phases_for(ctx), ctx)
    ui.info(f"{done} ({time.monotonic() - started:.1f}s)")
    return 0
