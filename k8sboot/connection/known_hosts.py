"""Host keys, recorded on first contact in the cluster's own known_hosts file.

A key that differs from the recorded one stops the run (HostKeyChangedError)
unless the caller accepts new keys on purpose (`--accept-new-host-keys`, for a
host that was really reinstalled).
"""

from __future__ import annotations

import threading
from pathlib import Path

import paramiko

from k8sboot.errors import HostKeyChangedError


def known_hosts_name(address: str, port: int) -> str:
    # the same spelling OpenSSH uses, so `ssh -o UserKnownHostsFile=...` agrees
    return address if port == 22 else f"[{address}]:{port}"


class KnownHosts:
    def __init__(self, path: Path, accept_changed: bool = False):
        self.path = path
        self.accept_changed = accept_changed
        self._lock = threading.Lock()
        self._keys = paramiko.HostKeys()
        if path.exists():
            self._keys.load(str(path))

    def check(self, host: str, address: str, port: int, key: paramiko.PKey) -> None:
        """Record an unknown key; raise if a recorded key differs."""
        name = known_hosts_name(address, port)
        with self._lock:
            recorded = self._keys.lookup(name)
            if recorded is not None and key.get_name() in recorded:
                if recorded[key.get_name()] == key:
                    return
                if not self.accept_changed:
                    raise HostKeyChangedError(
                        f"{host}: the host key of {name} changed "
                        f"(recorded {recorded[key.get_name()].fingerprint}, now {key.fingerprint}). "
                        f"If the machine was reinstalled on purpose, rerun with "
                        f"--accept-new-host-keys; recorded keys are in {self.path}"
                    )
                # replace every recorded key: the machine is a new one
                del self._keys[name]
            self._keys.add(name, key.get_name(), key)
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        self._keys.save(str(tmp))
        tmp.replace(self.path)

    def forget(self, address: str, port: int) -> None:
        name = known_hosts_name(address, port)
        with self._lock:
            if self._keys.lookup(name) is not None:
                del self._keys[name]
                self._save()
