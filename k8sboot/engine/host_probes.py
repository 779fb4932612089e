"""A role's look at one host, read in one round trip before its tasks run.

Before a role runs on a host, the runner asks each task's module what it
will look at (the paths of the template, copy and file modules, the units of
the systemd module) and reads all of it at once (connection/host_look.py).
A module then takes its facts from here instead of a round trip of its own,
as long as nothing on the host has changed since: the first task that
changes something (or fails, or runs handlers) drops the lot, and later
tasks look for themselves as before. What is not here (a path that could not
be read, a task whose arguments were not known yet) a module asks itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from k8sboot.connection.host_look import HostLook, PathFacts, Runs, look_at


@dataclass
class Wants:
    """What one task's module will look at."""

    paths: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)


class HostProbes:
    def __init__(self) -> None:
        self._looks: dict[bool, HostLook] = {}  # by become

    def read(self, conn: Runs, wants: dict[bool, Wants], timeout: float) -> None:
        for become, want in wants.items():
            self._looks[become] = look_at(conn, want.paths, want.units, become=become, timeout=timeout)

    def path(self, path: str, become: bool) -> PathFacts | None:
        look = self._looks.get(become)
        return look.paths.get(path) if look else None

    def unit(self, unit: str, become: bool) -> dict[str, str] | None:
        look = self._looks.get(become)
        found = look.units.get(unit) if look else None
        return dict(found) if found is not None else None

    def forget(self) -> None:
        """Something on the host changed: every fact may be stale."""
        self._looks.clear()
