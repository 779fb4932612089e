"""The pytest plugin `k8sboot verify` runs with: fixtures, per-host parametrization, results.

Registered as an object (pytest.main(plugins=[VerifyPlugin(...)])) so the fixtures
see the inventory k8sboot already loaded; test files from `--tests DIR` get the
same fixtures because a plugin's fixtures are visible everywhere.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra.host

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.pool import ConnectionPool
from k8sboot.health.hosts import testinfra_host
from k8sboot.health.results import CheckResult, HealthWarning, check_label, finish, merge_outcome
from k8sboot.inventory.model import Host, Inventory
from k8sboot.plan import cluster_settings, uses_apiserver_lb
from k8sboot.state import ClusterState

GROUP_MARKER = "group"
# checks of the local apiserver load balancer: collected only where nodes run one
LB_MARKER = "apiserver_lb"


def hosts_for(inventory: Inventory, groups: list[str]) -> list[Host]:
    """The hosts a test runs on: every host, or those in any of `groups` (inventory order)."""
    if not groups:
        return list(inventory.hosts.values())
    return [h for h in inventory.hosts.values() if any(h.in_group(g) for g in groups)]


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # skips: (file, line, "Skipped: reason")
        return str(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)
    return str(longrepr or "")


class VerifyPlugin:
    def __init__(self, inventory: Inventory, state: ClusterState, connect_timeout: float = 10.0):
        self.inventory = inventory
        self.state = state
        self.connect_timeout = connect_timeout
        self.results: dict[str, CheckResult] = {}
        self._hosts: dict[str, testinfra.host.Host] = {}
        self._lock = threading.Lock()

    # -- hooks -----------------------------------------------------------------
    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers", f"{GROUP_MARKER}(*names): run only on the hosts of these inventory groups"
        )
        config.addinivalue_line(
            "markers", f"{LB_MARKER}: only for clusters whose nodes run the local apiserver balancer"
        )

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "host_name" not in metafunc.fixturenames:
            return
        # the closest marker wins: a function's own narrows its module's pytestmark
        marker = metafunc.definition.get_closest_marker(GROUP_MARKER)
        groups = list(marker.args) if marker else []
        names = [h.name for h in hosts_for(self.inventory, groups)]
        metafunc.parametrize("host_name", names, ids=names)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not uses_apiserver_lb(self.inventory, cluster_settings(self.inventory)):
            # not a check that fails or is skipped: one that does not apply to this cluster
            dropped = [i for i in items if i.get_closest_marker(LB_MARKER)]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
                items[:] = [i for i in items if not i.get_closest_marker(LB_MARKER)]
        for order, item in enumerate(items):
            params = dict(getattr(getattr(item, "callspec", None), "params", {}))
            doc = getattr(getattr(item, "function", None), "__doc__", None)
            name = getattr(item, "originalname", None) or item.name
            self.results[item.nodeid] = CheckResult(
                host=str(params.get("host_name", "-")),
                check=check_label(name, doc, params),
                order=order,
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.results.get(report.nodeid)
        if result is not None:
            merge_outcome(
                result,
                report.when,
                report.outcome,
                _message(report) if report.outcome != "passed" else "",
            )

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str, location: Any
    ) -> None:
        # what a check meant to say (warnings.warn / HealthWarning), not libraries' deprecations
        cat = warning_message.category
        if (
            when == "runtest"
            and nodeid in self.results
            and (cat is UserWarning or issubclass(cat, HealthWarning))
        ):
            self.results[nodeid].warnings.append(str(warning_message.message))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        for h in self._hosts.values():
            h.backend.close()  # only the connections that were opened

    def final_results(self) -> list[CheckResult]:
        out = sorted(self.results.values(), key=lambda r: r.order)
        for r in out:
            finish(r)
        return out

    # -- fixtures --------------------------------------------------------------
    @pytest.fixture
    def inventory_host(self, host_name: str) -> Host:
        return self.inventory.hosts[host_name]

    def testinfra_host(self, name: str) -> testinfra.host.Host:
        """One testinfra host (one SSH connection) per inventory host for the whole run."""
        with self._lock:
            h = self._hosts.get(name)
            if h is None:
                h = testinfra_host(
                    self.inventory.hosts[name], self.state.known_hosts, self.connect_timeout
                )
                self._hosts[name] = h
        return h

    @pytest.fixture
    def host(self, inventory_host: Host) -> testinfra.host.Host:
        return self.testinfra_host(inventory_host.name)

    @pytest.fixture(scope="session")
    def testinfra_hosts(self) -> Callable[[str], testinfra.host.Host]:
        """name -> testinfra host, for checks that ask every host at once (in threads)."""
        return self.testinfra_host

    # named explicitly: the methods must not shadow the attributes of the same name
    @pytest.fixture(scope="session", name="inventory")
    def _inventory(self) -> Inventory:
        return self.inventory

    @pytest.fixture(scope="session", name="cluster_state")
    def _cluster_state(self) -> ClusterState:
        return self.state

    @pytest.fixture(scope="session")
    def kube_api(self) -> Iterator[Any]:
        from k8sboot.cluster_api import api_client  # the kubernetes client is slow to import

        path: Path = self.state.admin_kubeconfig
        if not path.exists():
            pytest.fail(f"no admin kubeconfig at {path}: run `k8sboot up` first")
        from k8sboot.plan import apiserver_urls

        # k8sboot's own connections reach the API of hosts behind a bastion (connection/reach.py)
        with ConnectionPool(KnownHosts(self.state.known_hosts), self.connect_timeout) as pool:
            pool.know(list(self.inventory.hosts.values()))
            api = api_client(path, apiserver_urls(self.inventory), pool.reach)
            yield api
            api.close()
