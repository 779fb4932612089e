"""A snapshot of etcd from the healthiest member, into a file: for `etcd snapshot` and before a roll."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from k8sboot.errors import InputError, K8sbootError
from k8sboot.connection.reach import DIRECT, Reach
from k8sboot.etcd.client import EtcdClient, EtcdTLS, EtcdUnavailable, MemberStatus

SNAPSHOT_DIR = "etcd-snapshots"  # under the cluster's state directory


@dataclass(frozen=True)
class SnapshotTaken:
    path: Path
    member: str
    from_leader: bool
    size: int
    seconds: float


def default_snapshot_path(state_root: Path, cluster: str, now: datetime | None = None) -> Path:
    """<state dir>/etcd-snapshots/<cluster>-<YYYYmmddTHHMMSSZ>.db, the time in UTC."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return state_root / SNAPSHOT_DIR / f"{cluster}-{stamp}.db"


def snapshot_sources(statuses: Sequence[MemberStatus]) -> list[MemberStatus]:
    """The healthy members, the leader first."""
    healthy = [s for s in statuses if s.healthy]
    return sorted(healthy, key=lambda s: not s.is_leader)


def take_snapshot(names: Mapping[str, str], tls: EtcdTLS, dest: Path, timeout: float,
                  reach: Reach = DIRECT) -> SnapshotTaken:
    """Stream a snapshot from the leader (or another healthy member) to dest (0600, checked).

    names: client endpoint -> member name, for every member.
    """
    statuses = EtcdClient(list(names), tls, timeout, reach).statuses()
    sources = snapshot_sources(statuses)
    if not sources:
        down = "".join(f"\n  {names.get(s.endpoint, s.endpoint)} ({s.endpoint}): {s.error}" for s in statuses)
        raise K8sbootError(f"etcd: no healthy member to take a snapshot from:{down}")
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    failures: list[tuple[str, str]] = []
    for source in sources:
        started = time.monotonic()
        try:
            size = EtcdClient([source.endpoint], tls, timeout, reach).snapshot(dest)
        except EtcdUnavailable as exc:
            failures.extend(exc.failures)
            continue
        except OSError as exc:
            raise InputError(f"cannot write the snapshot: {exc.strerror or exc}", file=str(dest)) from None
        return SnapshotTaken(dest, names.get(source.endpoint, source.endpoint), source.is_leader, size,
                             time.monotonic() - started)
    raise EtcdUnavailable("the snapshot request", failures)
