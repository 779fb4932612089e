"""`k8sboot dev SRC_DIR`: the developer loop, from an edited Kubernetes tree to the new build running.

    k8sboot dev ~/src/kubernetes -i lab.yml --component kube-scheduler

1. build: the tree's own `make WHAT=cmd/<component>` (only the components
   asked for; by default every Kubernetes component the inventory runs). The
   build is reproducible (SOURCE_DATE_EPOCH, unless set, is 0: the binaries'
   build date is the only thing that would differ between two builds of the
   same source), so an unchanged component comes out byte-identical. When no
   file of the tree changed since the last dev build, nothing is built.
2. record: the binaries are copied into the cluster's state directory and
   recorded there (dev-binaries.json); `up` uses them in place of the
   inventory's for those components until `k8sboot dev --reset`.
3. roll out: `up` itself, so only hosts whose binary changed are touched,
   etcd is snapshotted, control planes restart one at a time, nodes are drained
   only when the kubelet changes.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from k8sboot import ui
from k8sboot.binaries import build_from_source
from k8sboot.binaries import components as comps
from k8sboot.binaries.components import components_for_groups
from k8sboot.binaries.manifest import read_dev_binaries, write_dev_binaries
from k8sboot.binaries.source_tree import tree_fingerprint
from k8sboot.commands.context import build_context
from k8sboot.context import CommandContext
from k8sboot.errors import InputError
from k8sboot.state_lock import cluster_lock

DEV_BIN_DIR = "dev-bin"  # under the cluster's state directory
FINGERPRINT_FILE = "dev-source.json"
REPRODUCIBLE_DATE = "0"


def wanted_components(asked: list[str] | None, inventory_groups: set[str]) -> list[str]:
    """The components to build: those asked for (checked), else every Kubernetes server
    component the inventory runs (etcd is not built from a Kubernetes tree)."""
    running = [c for c in components_for_groups(inventory_groups) if c in comps.KUBE_SERVER]
    if not asked:
        return running
    problems = [f"--component {c}: the inventory runs no {c}" + (
        " (etcd is not part of Kubernetes: point cluster.binaries.etcd at your etcd)" if c.startswith("etcd")
        else f"; it runs {', '.join(running)}") for c in asked if c not in running]
    if problems:
        raise InputError("\n".join(problems))
    return list(dict.fromkeys(asked))


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    command = build_context(args)
    # the whole loop, not only its `up`: the dev builds recorded below are that run's binaries
    with cluster_lock(command.state, command.inventory.name):
        return _build_and_roll(args, command, started)


def _build_and_roll(args: argparse.Namespace, command: CommandContext, started: float) -> int:
    from k8sboot.commands import up

    state = command.state.ensure()
    if args.reset:
        dropped = sorted(read_dev_binaries(state))
        write_dev_binaries(state, {})
        (state.root / FINGERPRINT_FILE).unlink(missing_ok=True)
        ui.info(f"dev: forgot the dev builds of {', '.join(dropped) or 'nothing'}; rolling back to the "
                f"inventory's binaries")
        return up.run(args)
    if not args.src_dir:
        raise InputError("give the Kubernetes source tree to build from (k8sboot dev SRC_DIR), or --reset")
    src = Path(args.src_dir).expanduser()
    groups = {g for h in command.inventory.hosts.values() for g in h.groups}
    components = wanted_components(args.component, groups)
    env = {"SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", REPRODUCIBLE_DATE)}
    out_dir = state.root / DEV_BIN_DIR
    recorded = read_dev_binaries(state)
    fingerprint = tree_fingerprint(src.resolve(), components, {**os.environ, **env}) if src.is_dir() else ""
    last = state.read_json(state.root / FINGERPRINT_FILE, {}) if fingerprint else {}
    up_to_date = bool(fingerprint) and last == {"fingerprint": fingerprint} and \
        all(c in recorded and recorded[c].is_file() for c in components)

    build_started = time.monotonic()
    if up_to_date:
        ui.info(f"dev: {src}: no file changed since the last dev build of {', '.join(components)}: nothing to build")
    else:
        def log(line: str) -> None:
            print(line, flush=True)  # make's own lines, verbatim

        build_from_source(src, components, out_dir, log, extra_env=env)
    build_seconds = time.monotonic() - build_started

    builds = {**recorded, **{c: out_dir / c for c in components}}
    previous = dict(recorded)
    write_dev_binaries(state, builds)
    try:
        rollout_started = time.monotonic()
        code = up.run(args)
        rollout_seconds = time.monotonic() - rollout_started
    except BaseException:
        if args.check:
            write_dev_binaries(state, previous)  # a preview records nothing
        raise
    if args.check:
        write_dev_binaries(state, previous)
    elif not up_to_date and fingerprint:
        state.write_json(state.root / FINGERPRINT_FILE, {"fingerprint": fingerprint})
    ui.info(f"dev: build {build_seconds:.1f}s ({'skipped' if up_to_date else ', '.join(components)}), "
            f"rollout {rollout_seconds:.1f}s, total {time.monotonic() - started:.1f}s")
    return code
