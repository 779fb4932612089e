"""The lab for the end-to-end tests: system containers reached over SSH like physical machines.

One session-scoped set of containers serves every test: three for the
cluster (e2e-*), two for the engine tests (eng-*). They boot in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster, make_cluster
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
