"""An inventory file with one all-in-one host a provider makes, for the providers' settings tests."""

from __future__ import annotations

from pathlib import Path


def provider_inventory(tmp_path: Path, cluster_provider: str, host_provider: str) -> Path:
    """`cluster.provider` as given (YAML), one host `a` made by `host_provider`."""
    path = tmp_path / "inv.yml"
    path.write_text(f"cluster:\n  name: demo\n  provider: {cluster_provider}\n"
                    f"hosts:\n  a: {{provider: {host_provider}, groups: [etcd, control_plane, nodes]}}\n")
    return path
