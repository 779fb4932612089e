"""The lab for the end-to-end tests: system containers reached over SSH like physical machines.

One session-scoped set of containers serves every test: three for the
cluster (e2e-*), two for the engine tests (eng-*). They boot in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
