"""Handlers a run notified but could not run, remembered in the cluster's state directory.

A task that changed a config notifies its handler (restart the service). If a
later task fails, or the run is interrupted, the handler does not run; without
a memory the next run finds the config up to date, notifies nothing, and the
service keeps running the old config for ever. Ansible has the same hole
(`--force-handlers` only helps within one run); this closes it: the next run
of the same role on the same host starts with those handlers notified.
The runner writes a task's handlers here before the task runs, so a run that
dies without any chance to clean up (SIGKILL) owes them too.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from k8sboot.errors import InputError


class PendingHandlers:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, list[str]]] | None = None  # host -> role -> names

    def _load(self) -> dict[str, dict[str, list[str]]]:
        if self._data is None:
            self._data = {}
            if self.path.exists():
                try:
                    raw = json.loads(self.path.read_text())
                    if not isinstance(raw, dict):
                        raise ValueError("not a mapping")
                    self._data = {
                        str(h): {str(r): [str(n) for n in names] for r, names in roles.items()}
                        for h, roles in raw.items()
                    }
                except (ValueError, AttributeError, TypeError, UnicodeDecodeError) as e:
                    raise InputError(
                        f"cannot read the handlers left to run ({e}); it lists restarts an earlier run "
                        "could not do: delete it and restart the cluster's services by hand",
                        file=str(self.path),
                    ) from e
        return self._data

    def get(self, host: str, roles: list[str]) -> dict[str, set[str]]:
        with self._lock:
            data = self._load().get(host, {})
            return {r: set(data.get(r, [])) for r in roles if data.get(r)}

    def record(self, host: str, pending: dict[str, set[str]]) -> None:
        """Set the handlers still owed on `host` for the given roles (an empty set clears one)."""
        with self._lock:
            data = self._load()
            before = json.dumps(data, sort_keys=True)
            roles = data.setdefault(host, {})
            for role, names in pending.items():
                if names:
                    roles[role] = sorted(names)
                else:
                    roles.pop(role, None)
            if not roles:
                data.pop(host, None)
            if json.dumps(data, sort_keys=True) != before:
                self._save(data)

    def _save(self, data: dict[str, dict[str, list[str]]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(self.path)


class HostHandlers:
    """One host's handlers through a play: notified, carried over from an earlier run, and the record.

    The record is kept ahead of the host: a task's handlers are written down as owed
    before the task runs (`ahead`), so a run killed between the change on the host and
    the handler (SIGKILL, a lost controller: no `finally` runs) still owes the restart.
    A handler an earlier run owes is notified where the run reaches a task that notifies
    it (`reach`), not at the first flush: it flushes where it would have then, after the
    tasks that install what it restarts (a kubelet restart owed since the kubelet's
    certificates must wait for the kubelet's unit file).
    """

    def __init__(self, store: PendingHandlers | None, host: str, roles: list[str]):
        self.store = store
        self.host = host
        self.notified: dict[str, set[str]] = {r: set() for r in roles}
        self.carried: dict[str, set[str]] = {r: set() for r in roles}
        if store is not None:
            for role, names in store.get(host, roles).items():
                self.carried[role] |= names
        self._recorded = self._owed()

    def _owed(self) -> dict[str, set[str]]:
        return {r: self.notified[r] | self.carried[r] for r in self.notified}

    def reach(self, role: str, notify: list[str]) -> None:
        """The run is at a task notifying `notify`: what an earlier run owes of it is notified now."""
        due = self.carried[role] & set(notify)
        self.notified[role] |= due
        self.carried[role] -= due

    def ahead(self, role: str, notify: list[str]) -> None:
        """The task about to run may notify these: owe them until they are settled."""
        if self.store is not None and not set(notify) <= self._recorded[role]:
            self._recorded[role] |= set(notify)
            self.store.record(self.host, {role: self._recorded[role]})

    def carry_the_rest(self) -> None:
        """The end of the play: owed handlers no task of this run notifies run now."""
        for role, names in self.carried.items():
            self.notified[role] |= names
            names.clear()

    def settle(self) -> None:
        """The record back to what is truly owed: handlers notified or carried, and not yet run."""
        owed = self._owed()
        if self.store is not None and owed != self._recorded:
            self.store.record(self.host, owed)
            self._recorded = owed
