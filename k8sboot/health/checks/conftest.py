"""Fixtures the shipped checks share (the per-host ones come from k8sboot.health.plugin)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from k8sboot.binaries import components as comps
from k8sboot.binaries.manifest import read_manifest
from k8sboot.binaries.resolve import ResolvedBinary
from k8sboot.connection.file_digest import sha256_command
from k8sboot.inventory.model import Inventory
from k8sboot.plan import ClusterPlan, cluster_settings
from k8sboot.state import ClusterState
from k8sboot.cluster_status import short_reason


@pytest.fixture(scope="session")
def manifest(cluster_state: ClusterState) -> dict[str, ResolvedBinary]:
    recorded = read_manifest(cluster_state)
    if not recorded:
        pytest.fail(
            f"no binaries recorded in {cluster_state.binaries_manifest}: run `k8sboot up` first"
        )
    return recorded


@pytest.fixture(scope="session")
def plan(inventory: Inventory, cluster_state: ClusterState) -> ClusterPlan:
    # only the inventory-derived parts (names, addresses, ports) are used: no facts, no binaries
    return ClusterPlan(inventory, cluster_settings(inventory), "", {}, cluster_state.pki_dir)


@pytest.fixture(scope="session")
def node_views(kube_api: Any) -> dict[str, Any]:
    """The nodes as the API sees them, read once per run."""
    from k8sboot.cluster_api import node_views as read_nodes

    try:
        return read_nodes(kube_api)
    except Exception as e:  # noqa: BLE001 - any client error means the same: no answer
        pytest.fail(f"the API at {kube_api.configuration.host} does not answer: {short_reason(e)}")


@pytest.fixture(scope="session")
def node_heartbeats(kube_api: Any, node_views: dict[str, Any]) -> dict[str, Any]:
    """Each kubelet's latest sign of life (Lease renewal or status post), read once per run."""
    from k8sboot.cluster_api import node_heartbeats as read_heartbeats

    try:
        return read_heartbeats(kube_api, node_views)
    except Exception as e:  # noqa: BLE001 - any client error means the same: no answer
        pytest.fail(f"the API at {kube_api.configuration.host} does not answer: {short_reason(e)}")


@pytest.fixture(scope="session")
def installed_sha256(
    inventory: Inventory, manifest: dict[str, ResolvedBinary], testinfra_hosts: Callable[[str], Any]
) -> dict[str, dict[str, str] | Exception]:
    """host -> {remote path: sha256} of every recorded binary it has, hashed on all hosts at once.

    Hashing a control plane's 400 MB takes a second or so: in parallel, not one host after another.
    """
    # each printed as "<sha256> <path>"; one that is missing prints nothing (its check says so)
    script = "; ".join(f"d=$({sha256_command(path)} 2>/dev/null) && printf '%s %s\\n' \"$d\" {shlex.quote(path)}"
                       for path in (comps.remote_path(c) for c in sorted(manifest)))

    def digest(name: str) -> dict[str, str] | Exception:
        try:
            out = testinfra_hosts(name).run(script).stdout
        except Exception as e:  # noqa: BLE001 - reported by that host's check, not here
            return e
        return {p: d for d, p in (line.split(None, 1) for line in out.splitlines() if " " in line)}

    names = list(inventory.hosts)
    with ThreadPoolExecutor(max_workers=max(1, min(10, len(names)))) as ex:
        return dict(zip(names, ex.map(digest, names)))
