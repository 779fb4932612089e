"""`k8sboot verify`: the cluster's health, checked on every host by a testinfra suite.

Exit codes: 0 every check passed (warnings allowed), 1 a check failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import time

from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.health.runner import run_checks
from k8sboot.health.summary import summary_line, summary_table


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    ctx = build_context(args)
    outcome = run_checks(
        ctx.inventory,
        ctx.state,
        user_dirs=getattr(args, "tests", None),
        smoke=getattr(args, "smoke", False),
        cis=getattr(args, "cis", False),
        junitxml=getattr(args, "junitxml", None),
        verbose=getattr(args, "verbose", 0),
        connect_timeout=getattr(args, "connect_timeout", 10.0),
    )
    ui.console.print(
        summary_table(outcome.results, title=f"k8sboot verify: cluster {ctx.inventory.name}")
    )
    line = f"{summary_line(outcome.results)} in {time.monotonic() - started:.1f}s"
    if getattr(args, "junitxml", None):
        ui.info(f"junit report: {args.junitxml}")
    if outcome.exit_code:
        ui.error(line)
    else:
        ui.info(f"[green]{line}[/]")
    return outcome.exit_code
