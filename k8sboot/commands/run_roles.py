"""`k8sboot run ROLE...`: run roles on the inventory's hosts, as ansible-playbook would."""

from __future__ import annotations

import argparse
import time

from k8sboot import ui
from k8sboot.commands.context import build_context, host_vars, limit_hosts
from k8sboot.engine.runner import Play, Runner, load_roles
from k8sboot.errors import Interrupted, RunError


def run(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    hosts = limit_hosts(ctx.inventory, args.limit)
    roles = load_roles(args.roles, ctx.roles_dirs)
    options = ctx.run_options(
        check=args.check, diff=args.diff, forks=args.forks,
        tags=set(args.tags or []), skip_tags=set(args.skip_tags or []),
    )
    started = time.monotonic()
    with ctx.pool() as pool:
        runner = Runner(ctx.inventory, pool, ctx.templar(), host_vars, options,
                        ui.Reporter(verbose=args.verbose, diff=args.diff))
        try:
            result = runner.run(Play(" + ".join(args.roles), hosts, roles))
        except KeyboardInterrupt:
            raise Interrupted(options.control.interrupted) from None
    ui.print_recap(result, time.monotonic() - started)
    if result.failures:
        raise RunError(f"{len(result.failures)} host(s) failed")
    return 0
