"""The lab for the end-to-end tests: system containers reached over SSH like physical machines.

One session-scoped set of containers serves every test: three for the
cluster (e2e-*), two for the engine tests (eng-*). They boot in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.helpers import ssh, write_inventory
from tests.lab.containers import ContainerLab, LabHost

CLUSTER_HOSTS = ["e2e-cp1", "e2e-wk1", "e2e-wk2"]
ENGINE_HOSTS = ["eng-a", "eng-b"]


@pytest.fixture(scope="session")
def container_lab() -> Iterator[tuple[ContainerLab, dict[str, LabHost]]]:
    with ContainerLab() as lab:
        hosts = lab.start(CLUSTER_HOSTS + ENGINE_HOSTS)
        yield lab, {h.name: h for h in hosts}


@pytest.fixture(scope="session")
def lab_hosts(container_lab: tuple[ContainerLab, dict[str, LabHost]]) -> dict[str, LabHost]:
    return container_lab[1]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, lab_hosts: dict[str, LabHost]) -> Cluster:
    """Three hosts made into a cluster by `k8sboot up`, once for the whole session."""
    return make_cluster(tmp_path_factory.mktemp("k8sboot-home"), lab_hosts)


@pytest.fixture()
def engine_inventory(tmp_path: Path, lab_hosts: dict[str, LabHost]) -> Path:
    a, b = lab_hosts["eng-a"], lab_hosts["eng-b"]
    # the demo role must start from nothing on both hosts
    for h in (a, b):
        ssh(h, "systemctl disable --now k8sboot-demo 2>/dev/null; rm -rf /etc/k8sboot-demo "
               "/etc/systemd/system/k8sboot-demo.service; systemctl daemon-reload")
    return write_inventory(
        tmp_path / "engine.yml", "engine",
        {
            "eng-a": {"address": a.address, "groups": ["etcd", "control_plane", "nodes"]},
            "eng-b": {"address": b.address, "groups": ["nodes"], "user": "admin", "become": True},
        },
        key=a.key_path,
    )
