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
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def k8sboot_home() -> Path:
    return Path(os.environ.get("K8SBOOT_HOME", Path.home() / ".k8sboot")).expanduser()


@dataclass(frozen=True)
class ClusterState:
    root: Path

    @classmethod
    def for_cluster(cls, name: str, state_dir: str | None = None) -> "ClusterState":
        root = Path(state_dir).expanduser() if state_dir else k8sboot_home() / "clusters" / name
        return cls(root)

    def ensure(self) -> "ClusterState":
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
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    def read_json(self, path: Path, default: Any) -> Any:
        if not path.exists():
            return default
        return json.loads(path.read_text())

    def write_json(self, path: Path, data: Any) -> None:
        """Write atomically so an interrupted run never leaves half a file."""
        self.ensure()
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    def machines(self) -> dict[str, dict[str, Any]]:
        return self.read_json(self.machines_file, {})

    def save_machines(self, machines: dict[str, dict[str, Any]]) -> None:
        self.write_json(self.machines_file, machines)
