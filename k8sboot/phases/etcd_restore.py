"""Phases of `k8sboot etcd restore FILE`: every member rebuilt from one snapshot, under a new cluster token.

The control plane stops first (nothing writes while etcd is replaced); every
member stops; each member's data dir is rebuilt from the snapshot by
`etcdctl snapshot restore` on its own host (the previous data dir is kept
beside it, as <data dir>.before-restore); the members start together and
reach a quorum; then the control plane starts again. A new token keeps the
restored members from ever talking to a member of the old cluster.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from k8sboot import ui
from k8sboot.cluster_layout import CONTROL_PLANE, ETCD, GROUP_UNITS, REMOTE_BIN_DIR
from k8sboot.errors import InputError, RunError
from k8sboot.etcd.report import quorum_report
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext
from k8sboot.plan import etcd_endpoints

UPLOAD = "/var/lib/k8sboot/etcd-restore.db"
ETCDCTL = f"{REMOTE_BIN_DIR}/etcdctl"
QUORUM_TIMEOUT = 120.0


def on_each(ctx: RunContext, hosts: list[Host], what: str, command_for: Callable[[Host], str],
            timeout: float = 300) -> None:
    """One command per host, all at once; every failure reported together."""
    def one(host: Host) -> str | None:
        r = ctx.pool.get(host).run(command_for(host), become=True, timeout=timeout)
        return None if r.ok else f"{host.name}: {r.stderr_tail(5) or r.stdout[-500:] or f'exit code {r.rc}'}"

    with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as ex:
        failures = [f for f in ex.map(one, hosts) if f]
    if failures:
        raise RunError(f"{what} failed:\n  " + "\n  ".join(failures))


def restore_command(ctx: RunContext, host: Host, token: str, stamp: str) -> str:
    plan = ctx.plan
    data = plan.remote_dirs(host)["etcd_data_dir"].rstrip("/")
    q = shlex.quote
    restored, previous = f"{data}.restoring", f"{data}.before-restore"
    restore = " ".join([
        "ETCDCTL_API=3", q(ETCDCTL), "snapshot", "restore", q(UPLOAD),
        f"--name={q(plan.etcd_name(host))}",
        f"--initial-cluster={q(plan.vars_for_host(host)['etcd_initial_cluster'])}",
        f"--initial-cluster-token={q(token)}",
        f"--initial-advertise-peer-urls={q(plan.etcd_peer_url(host))}",
        f"--data-dir={q(restored)}",
    ])
    # the previous data stays until the next restore: a way back if the snapshot was the wrong one
    return (f"set -e; rm -rf {q(restored)}; {restore} >/dev/null; "
            f"rm -rf {q(previous)}; if [ -e {q(data)} ]; then mv {q(data)} {q(previous)}; fi; "
            f"mv {q(restored)} {q(data)}; chmod 700 {q(data)}; rm -f {q(UPLOAD)}; "
            f"echo restored {q(stamp)}")


class StopControlPlane:
    title = "stop the control plane"

    def run(self, ctx: RunContext) -> None:
        units = " ".join(GROUP_UNITS[CONTROL_PLANE])
        on_each(ctx, ctx.inventory.hosts_in(CONTROL_PLANE), "stopping the control plane",
                lambda h: f"systemctl stop {units}")


class RestoreEtcd:
    title = "restore etcd"

    def __init__(self, snapshot: Path):
        self.snapshot = snapshot

    def run(self, ctx: RunContext) -> None:
        if not self.snapshot.is_file() or self.snapshot.stat().st_size == 0:
            raise InputError(f"{self.snapshot}: no such snapshot (or it is empty)")
        members = ctx.inventory.hosts_in(ETCD)
        on_each(ctx, members, "looking for etcdctl",
                lambda h: f"test -x {shlex.quote(ETCDCTL)} || {{ echo 'no {ETCDCTL}: add binaries.etcdctl to the "
                          f"inventory and run `k8sboot up` once' >&2; exit 1; }}")
        on_each(ctx, members, "stopping etcd", lambda h: "systemctl stop etcd")
        started = time.monotonic()

        def upload(host: Host) -> str | None:
            r = ctx.pool.get(host).put(UPLOAD, self.snapshot, mode="600", become=True)
            return None if r.ok else f"{host.name}: {r.stderr_tail(3)}"

        with ThreadPoolExecutor(max_workers=max(1, len(members))) as ex:
            failures = [f for f in ex.map(upload, members) if f]
        if failures:
            raise RunError("copying the snapshot failed:\n  " + "\n  ".join(failures))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        token = f"{ctx.inventory.name}-etcd-restored-{stamp}"
        on_each(ctx, members, "etcdctl snapshot restore", lambda h: restore_command(ctx, h, token, stamp))
        ui.info(f"  {len(members)} member(s) rebuilt from {self.snapshot} ({time.monotonic() - started:.1f}s)")
        on_each(ctx, members, "starting etcd", lambda h: "systemctl start --no-block etcd")
        self._wait_for_quorum(ctx, members)

    @staticmethod
    def _wait_for_quorum(ctx: RunContext, members: list[Host]) -> None:
        names = etcd_endpoints(members)
        client = ctx.etcd(members, timeout=3)
        deadline = time.monotonic() + QUORUM_TIMEOUT
        while True:
            statuses = client.statuses()
            report = quorum_report(statuses, [], names)
            if report.ok and report.healthy == len(members) and report.leader:
                ui.info(f"  {report.summary()}")
                return
            if time.monotonic() > deadline:
                raise RunError(f"etcd did not come back after the restore: {report.summary()}")
            time.sleep(1)
