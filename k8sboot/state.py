"""The cluster's state directory: everything k8sboot keeps between runs.

Layout (``~/.k8sboot/clusters/<name>/`` unless ``K8SBOOT_HOME`` or the
inventory's ``cluster.state_dir`` says otherwise)::

    known_hosts        host keys recorded on first contact
    machines.json      machines a provider made: name -> address, port, user, key, ...
    pki/               CA, certificates, keys (0600), kubeconfigs
    binaries.json      the resolved binaries: component -> path, sha256, version
    admin.kubeconfig   the admin kubeconfig printed by `k8sboot kubeconfig`
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8sboot.errors import InputError
from k8sboot.machine import Machine

# the fields of a machines.json record that are read back, and their JSON types
_MACHINE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "address": str, "port": int, "user": str, "key": str}


def k8sboot_home() -> Path:
    return Path(os.environ.get("K8SBOOT_HOME", Path.home() / ".k8sboot")).expanduser()


@dataclass(frozen=True)
class ClusterState:
    root: Path

    @classmethod
    def for_cluster(cls, name: str, state_dir: Any = None) -> ClusterState:
        if state_dir is not None and (not isinstance(state_dir, str) or "\0" in state_dir):
            # the inventory layer checks this too; a caller passing raw settings must not crash
            raise InputError(f"cluster.state_dir must be a directory path (a string), not "
                             f"{state_dir!r:.60}")
        try:
            root = Path(state_dir).expanduser() if state_dir else \
                k8sboot_home() / "clusters" / name
        except RuntimeError as exc:  # ~nosuchuser/state
            raise InputError(f"cluster.state_dir {state_dir!r:.60}: {exc}") from None
        return cls(root)

    def ensure(self) -> ClusterState:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def machines_file(self) -> Path:
        return self.root / "machines.json"

    @property
    def binaries_manifest(self) -> Path:
        return self.root / "binaries.json"

    @property
    def builds_seen(self) -> Path:
        """sha256 -> version of every binary this cluster was given: a roll names old versions by it."""
        return self.root / "builds-seen.json"

    @property
    def dev_binaries(self) -> Path:
        """component -> path of builds `k8sboot dev` made; they override the inventory's."""
        return self.root / "dev-binaries.json"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / "snapshots"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    def read_json(self, path: Path, default: Any) -> Any:
        """The file's JSON, or default when it does not exist. Any damage (not UTF-8, not
        JSON, nested too deep) is a ValueError, which each reader turns into an InputError."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return default
        except OSError as exc:
            raise InputError(f"cannot read this state file: {exc.strerror}",
                             file=str(path)) from None
        try:
            return json.loads(data.decode("utf-8"))
        except RecursionError:
            raise ValueError("nested too deeply") from None

    def write_json(self, path: Path, data: Any) -> None:
        """Write atomically so an interrupted run never leaves half a file."""
        self.ensure()
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    def machines(self) -> dict[str, Machine]:
        """name -> Machine (address, port, user, key, ...); checked, because every command
        reads it. The file's records are converted here, and back in save_machines."""
        path = self.machines_file
        try:
            data = self.read_json(path, {})
        except ValueError as exc:  # incl. JSON and UTF-8 decoding errors
            raise InputError(f"damaged state file ({_one_line(str(exc))}): fix it, or remove "
                             f"it if the machines it records are gone", file=str(path)) from None
        if not isinstance(data, dict):
            raise InputError("damaged state file: expected a JSON object of machine name -> "
                             "record", file=str(path))
        for name, record in data.items():
            problem = _machine_problem(record)
            if problem:
                raise InputError(f"damaged state file: machine {name!r:.60} {problem}; fix it, or "
                                 f"remove the file if the machines are gone", file=str(path))
        return {name: Machine.from_record(name, record) for name, record in data.items()}

    def save_machines(self, machines: Mapping[str, Machine]) -> None:
        self.write_json(self.machines_file,
                        {name: machine.to_record() for name, machine in machines.items()})


def _machine_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "is not a JSON object"
    for field, kind in _MACHINE_FIELDS.items():
        value = record.get(field)
        if value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"has {field} {value!r:.60}, not a {getattr(kind, '__name__', kind)}"
        if isinstance(value, str) and any(ord(c) < 32 or c == "\x7f" for c in value):
            return f"has a control character in {field}"
    port = record.get("port")
    if port is not None and not 1 <= port <= 65535:
        return f"has port {port}, not 1-65535"
    return None


def _one_line(text: str) -> str:
    return " ".join(text.split())
