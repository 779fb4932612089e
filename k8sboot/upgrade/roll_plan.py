"""The plan of a roll: per host, which binaries change, from which version to which.

Built before any host is touched, from two facts: the sha256 of each binary as
installed on each host (one command per host) and the binaries `up` is about
to install. A host where a component is not installed yet is not part of the
roll (a first install waits for nothing). The old version of an installed
binary comes from the builds this cluster ran before (the state directory
remembers every sha256 -> version it installed); one it never saw is
"unknown".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Change:
    component: str
    old_sha256: str
    old_version: str
    new_sha256: str
    new_version: str

    def describe(self) -> str:
        return (f"{self.component}: {self.old_version} ({self.old_sha256[:12]}) -> "
                f"{self.new_version} ({self.new_sha256[:12]})")


@dataclass(frozen=True)
class HostRoll:
    host: str
    stage: str  # "etcd", "control plane" or "nodes": the order in which stages roll
    changes: tuple[Change, ...]

    @property
    def components(self) -> set[str]:
        return {c.component for c in self.changes}


@dataclass
class RollPlan:
    hosts: list[HostRoll] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.hosts

    def stage(self, stage: str) -> list[HostRoll]:
        return [h for h in self.hosts if h.stage == stage]

    def changing(self, host: str, stage: str) -> set[str]:
        return {c for h in self.hosts if h.host == host and h.stage == stage for c in h.components}

    def lines(self) -> list[str]:
        """Host by host, component by component, in the order the roll takes them."""
        out: list[str] = []
        for h in self.hosts:
            out.append(f"{h.stage}: {h.host}")
            out.extend(f"    {c.describe()}" for c in h.changes)
        return out


@dataclass(frozen=True)
class Wanted:
    sha256: str
    version: str


def build_roll_plan(stages: Sequence[tuple[str, Sequence[str], Sequence[str]]],
                    installed: Mapping[str, Mapping[str, str | None]],
                    wanted: Mapping[str, Wanted],
                    known_versions: Mapping[str, str]) -> RollPlan:
    """stages: (stage, hosts in it, components of it), in roll order.

    installed: host -> component -> sha256 on the host (None: not installed).
    wanted: component -> what `up` installs. known_versions: sha256 -> version.
    """
    plan = RollPlan()
    for stage, hosts, components in stages:
        for host in hosts:
            on_host = installed.get(host, {})
            changes = []
            for comp in components:
                old, new = on_host.get(comp), wanted.get(comp)
                if old is None or new is None or old == new.sha256:
                    continue
                changes.append(Change(comp, old, known_versions.get(old, UNKNOWN), new.sha256, new.version))
            if changes:
                plan.hosts.append(HostRoll(host, stage, tuple(changes)))
    return plan
