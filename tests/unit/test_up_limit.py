"""`up --limit`: which hosts a limited run may work on, refused before any host is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8sboot.commands.up import limited_nodes
from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory


def inventory(tmp_path: Path):
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump({"cluster": {"name": "c"}, "hosts": {
        "cp1": {"address": "192.0.2.1", "groups": ["etcd", "control_plane", "nodes"]},
        "wk1": {"address": "192.0.2.2", "groups": ["nodes"]},
        "wk2": {"address": "192.0.2.3", "groups": ["nodes"]},
        "lb": {"address": "192.0.2.4", "groups": ["etcd"]},
    }}))
    return load_inventory(path)


@pytest.fixture
def admin(tmp_path: Path) -> Path:
    (tmp_path / "admin.kubeconfig").write_text("apiVersion: v1\n")
    return tmp_path / "admin.kubeconfig"


def test_no_limit_is_every_host(tmp_path: Path, admin: Path) -> None:
    assert limited_nodes(inventory(tmp_path), None, admin) is None


def test_nodes_by_name_or_group(tmp_path: Path, admin: Path) -> None:
    inv = inventory(tmp_path)
    assert limited_nodes(inv, "wk2", admin) == {"wk2"}
    assert limited_nodes(inv, "wk1, wk2", admin) == {"wk1", "wk2"}


@pytest.mark.parametrize("limit, words", [
    ("cp1", ["cp1", "etcd and control_plane", "without --limit"]),
    ("lb", ["lb", "not in the nodes group"]),
    ("nodes", ["cp1", "etcd and control_plane"]),  # the group holds the control plane's host too
    ("wk9", ["wk9", "neither a host nor a group"]),
])
def test_etcd_control_plane_and_unknown_hosts_are_refused_by_name(tmp_path: Path, admin: Path, limit: str,
                                                                  words: list[str]) -> None:
    with pytest.raises(InputError) as refused:
        limited_nodes(inventory(tmp_path), limit, admin)
    for word in words:
        assert word in str(refused.value)


def test_a_cluster_never_brought_up_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has not been brought up yet"):
        limited_nodes(inventory(tmp_path), "wk1", tmp_path / "none" / "admin.kubeconfig")
