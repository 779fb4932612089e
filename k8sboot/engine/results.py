"""Task outcomes, per-host counts and failures, in the terms Ansible users know."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the modules bring in paramiko and jinja2; the UI needs only these counts
    from k8sboot.engine.modules.base import ModuleResult

OK, CHANGED, FAILED, SKIPPED, UNREACHABLE = "ok", "changed", "failed", "skipped", "unreachable"


@dataclass
class TaskOutcome:
    status: str
    result: ModuleResult
    ignored: bool = False


@dataclass
class HostStats:
    ok: int = 0  # as in Ansible's recap, `ok` includes the changed tasks
    changed: int = 0
    unreachable: int = 0
    failed: int = 0
    skipped: int = 0
    ignored: int = 0
    seconds: float = 0.0

    def add(self, outcome: TaskOutcome) -> None:
        if outcome.status == SKIPPED:
            self.skipped += 1
        elif outcome.status == UNREACHABLE:
            self.unreachable += 1
        elif outcome.status == FAILED and not outcome.ignored:
            self.failed += 1
        else:
            self.ok += 1
            if outcome.status == CHANGED:
                self.changed += 1
            if outcome.ignored:
                self.ignored += 1

    def merge(self, other: "HostStats") -> None:
        for f in ("ok", "changed", "unreachable", "failed", "skipped", "ignored", "seconds"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


@dataclass
class Failure:
    host: str
    task: str
    msg: str
    cmd: str | None = None
    rc: int | None = None
    stderr_tail: str = ""
    unreachable: bool = False

    def describe(self) -> str:
        lines = [f"{self.host}: {'UNREACHABLE' if self.unreachable else 'FAILED'} at task [{self.task}]: {self.msg}"]
        if self.cmd:
            lines.append(f"  command: {self.cmd}")
        if self.rc is not None:
            lines.append(f"  exit code: {self.rc}")
        if self.stderr_tail:
            lines.extend("  | " + line for line in self.stderr_tail.splitlines())
        return "\n".join(lines)


@dataclass
class PlayResult:
    stats: dict[str, HostStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.stats.values())

    def merge(self, other: "PlayResult") -> None:
        with _MERGE_LOCK:  # phases may run side by side (phases/parallel.py)
            for host, st in other.stats.items():
                self.stats.setdefault(host, HostStats()).merge(st)
            self.failures.extend(other.failures)


_MERGE_LOCK = threading.Lock()
