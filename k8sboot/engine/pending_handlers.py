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
