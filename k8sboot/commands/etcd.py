"""`k8sboot etcd status | snapshot [FILE] | restore FILE`: the etcd cluster, from here.

    k8sboot etcd status -i my.yml            # a table, then "quorum: 3/3 healthy (needs 2), leader: cp2"
    k8sboot etcd status -i my.yml -o json    # the same data for scripts
    k8sboot etcd snapshot -i my.yml          # <state dir>/etcd-snapshots/<cluster>-<UTC time>.db

Both talk to the inventory's etcd members directly (https://<node ip>:<client port>)
with the local PKI's etcd health-check client certificate: no SSH, no etcdctl.
`status` exits 1 when etcd has no quorum.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from k8sboot import cluster_layout as layout
from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.commands.phased import confirmed, run_phased
from k8sboot.errors import InputError, K8sbootError
from k8sboot.etcd import (
    EtcdClient,
    EtcdTLS,
    Member,
    MemberStatus,
    QuorumReport,
    local_tls,
    quorum_report,
)
from k8sboot.etcd.report import NOT_ASKED, NOT_STARTED
from k8sboot.connection.reach import Reach
from k8sboot.etcd.snapshot import default_snapshot_path, take_snapshot
from k8sboot.inventory.model import Inventory
from k8sboot.phases.sequences import etcd_restore_phases
from k8sboot.plan import etcd_endpoints as plan_etcd_endpoints

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


# -- pure -----------------------------------------------------------------------
def etcd_endpoints(inventory: Inventory) -> dict[str, str]:
    """endpoint -> member name, for every etcd host of the inventory, in inventory order."""
    hosts = inventory.hosts_in(layout.ETCD)
    if not hosts:
        raise InputError("the inventory has no etcd hosts (group `etcd`)",
                         file=str(inventory.path) if inventory.path else None)
    return plan_etcd_endpoints(hosts)


def human_size(n: int | None) -> str:
    """20480 -> '20.0 KiB'; None -> '-'."""
    if n is None:
        return "-"
    size = float(n)
    for unit in _UNITS:
        if size < 1024 or unit == _UNITS[-1]:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def status_rows(statuses: Sequence[MemberStatus], members: Sequence[Member],
                names: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per endpoint asked, then one per member no endpoint stands for (e.g. one
    added but not started yet)."""
    by_id = {m.id: m for m in members}
    by_url = {u.rstrip("/"): m for m in members for u in m.client_urls}
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for s in statuses:
        member = by_id.get(s.member_id) if s.member_id is not None else None
        member = member or by_url.get(s.endpoint)
        if member is not None:
            seen.add(member.id)
        member_id = member.id if member else s.member_id
        rows.append({
            "name": (member.name if member and member.name else None)
            or names.get(s.endpoint) or s.endpoint,
            "endpoint": s.endpoint,
            "member_id": f"{member_id:x}" if member_id is not None else None,
            "healthy": s.healthy,
            "leader": s.is_leader,
            "db_size": s.db_size,
            "raft_index": s.raft_index,
            "version": s.version,
            "error": s.error,
        })
    for m in members:
        if m.id in seen:
            continue
        rows.append({
            "name": m.name or f"{m.id:x}",
            "endpoint": m.client_urls[0] if m.client_urls else None,
            "member_id": f"{m.id:x}",
            "healthy": False,
            "leader": False,
            "db_size": None,
            "raft_index": None,
            "version": None,
            "error": NOT_STARTED if not m.name and not m.client_urls else NOT_ASKED,
        })
    return rows


def status_data(cluster: str, rows: list[dict[str, Any]], report: QuorumReport,
                members_error: str | None = None) -> dict[str, Any]:
    """What `-o json` prints."""
    return {
        "cluster": cluster,
        "members": rows,
        "members_error": members_error,
        "quorum": {
            "ok": report.ok,
            "healthy": report.healthy,
            "total": report.total,
            "needed": report.needed,
            "leader": report.leader,
            "down": [{"name": name, "error": why} for name, why in report.down],
        },
        "summary": report.summary(),
    }


def status_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(pad_edge=False)
    for col in ("MEMBER", "ENDPOINT", "HEALTHY", "LEADER", "DB SIZE", "RAFT INDEX", "VERSION",
                "ERROR"):
        t.add_column(col, no_wrap=col != "ERROR")
    for r in rows:
        t.add_row(
            escape(r["name"]),
            escape(r["endpoint"] or "-"),
            "[green]yes[/]" if r["healthy"] else "[red]no[/]",
            "[bold]yes[/]" if r["leader"] else "no",
            human_size(r["db_size"]),
            str(r["raft_index"]) if r["raft_index"] is not None else "-",
            escape(r["version"] or "-"),
            f"[red]{escape(r['error'])}[/]" if r["error"] else "",
        )
    return t


def summary_markup(report: QuorumReport) -> str:
    return f"[green]{escape(report.summary())}[/]" if report.ok else \
        f"[bold red]{escape(report.summary())}[/]"


# -- I/O --------------------------------------------------------------------------
def _gather(endpoints: Sequence[str], tls: EtcdTLS, timeout: float, reach: Reach
            ) -> tuple[list[MemberStatus], list[Member], str | None]:
    """Every endpoint's status, then the member list from one that answered."""
    statuses = EtcdClient(endpoints, tls, timeout, reach).statuses()
    answering = [s.endpoint for s in statuses if s.member_id is not None]
    if not answering:
        return statuses, [], "no member answered"
    try:
        return statuses, EtcdClient(answering, tls, timeout, reach).members(), None
    except K8sbootError as exc:  # a member that answers status may still refuse the list
        return statuses, [], str(exc)


def status(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    names = etcd_endpoints(ctx.inventory)
    with ctx.pool() as pool:  # members behind a bastion are asked through it
        pool.know(list(ctx.inventory.hosts.values()))
        statuses, members, members_error = _gather(list(names), local_tls(ctx.state.pki_dir),
                                                   args.timeout, pool.reach)
    rows = status_rows(statuses, members, names)
    report = quorum_report(statuses, members, names)
    if getattr(args, "output", "table") == "json":
        print(json.dumps(status_data(ctx.inventory.name, rows, report, members_error), indent=2))
    else:
        ui.console.print(status_table(rows))
        if members_error and statuses and any(s.member_id is not None for s in statuses):
            ui.warn(f"member list: {members_error}")
        ui.console.print(summary_markup(report), soft_wrap=True)
    return 0 if report.ok else 1


def snapshot(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    names = etcd_endpoints(ctx.inventory)
    if args.file:
        dest = Path(args.file).expanduser()
        if dest.is_dir():
            dest = dest / default_snapshot_path(dest, ctx.inventory.name).name
    else:
        dest = default_snapshot_path(ctx.state.ensure().root, ctx.inventory.name)
    with ctx.pool() as pool:
        pool.know(list(ctx.inventory.hosts.values()))
        taken = take_snapshot(names, local_tls(ctx.state.pki_dir), dest, args.timeout, pool.reach)
    role = "the leader" if taken.from_leader else "not the leader"
    ui.console.print(f"snapshot of etcd in [bold]{escape(ctx.inventory.name)}[/] from "
                     f"{escape(taken.member)} ({role}): {escape(str(taken.path))}")
    ui.console.print(f"  {human_size(taken.size)} ({taken.size} bytes) in {taken.seconds:.2f}s")
    return 0


def restore(args: argparse.Namespace) -> int:
    snapshot_file = Path(args.file).expanduser().resolve()
    if not snapshot_file.is_file():
        raise InputError("no such snapshot file", file=str(snapshot_file))
    if snapshot_file.stat().st_size == 0:  # here, not after the control plane was stopped
        raise InputError("the snapshot file is empty", file=str(snapshot_file))
    if not confirmed(args, "`etcd restore` replaces every etcd member's data and restarts the control plane",
                     f"Stop the control plane and replace etcd's data on every member with {snapshot_file}?"):
        return 0
    started = time.monotonic()
    code = run_phased(args, lambda ctx: etcd_restore_phases(snapshot_file),
                      f"etcd restored from {snapshot_file}")
    ui.info(f"  restore took {time.monotonic() - started:.1f}s; the previous data of each member is kept "
            f"beside its data dir as <data dir>.before-restore")
    return code
