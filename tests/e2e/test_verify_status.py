"""`k8sboot verify` (testinfra suite, --smoke) and `k8sboot status` on the lab cluster.

Healthy first; then a unit is stopped on wk2 and both commands must say so, naming
the host and the check, and recover once the unit runs again. Each test that breaks
something puts it back (and waits for the node to be Ready) before it ends.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
import yaml

from tests.e2e.cluster import Cluster
from tests.e2e.helpers import k8sboot, ssh

pytestmark = pytest.mark.lab

SMOKE_NAMESPACE = "k8sboot-smoke"
# the node controller's grace period (40 s in 1.20) plus its monitor period, with margin
NOT_READY_WITHIN = 90.0
READY_WITHIN = 90.0

USER_CHECK = '''
import pytest

pytestmark = pytest.mark.group("nodes")


def test_debian_bookworm(host):
    """runs Debian bookworm"""
    assert host.system_info.codename == "bookworm"
'''


# -- helpers ----------------------------------------------------------------------
def verify(cluster: Cluster, *args: str):
    return k8sboot("verify", "-i", str(cluster.inventory), *args, home=cluster.home)


def status_json(cluster: Cluster) -> tuple[int, dict[str, Any]]:
    r = k8sboot("status", "-i", str(cluster.inventory), "-o", "json", home=cluster.home)
    return r.returncode, json.loads(r.stdout)


def table_rows(stdout: str) -> list[tuple[str, str, str, str]]:
    """(host, check, result, why) from the verify table; wrapped cells are joined."""
    rows: list[list[str]] = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) != 4:
            continue
        if cells[2]:  # a new row has its result; a continuation line does not
            rows.append(cells)
        elif rows:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
    return [tuple(r) for r in rows]  # type: ignore[misc]


def failing(stdout: str) -> list[tuple[str, str, str]]:
    return [(h, c, w) for h, c, res, w in table_rows(stdout) if res == "FAIL"]


def node(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["name"] == name)


def wait_node_ready(cluster: Cluster, name: str, ready: bool, within: float) -> dict[str, Any]:
    """Poll `status -o json` until the API says the node is Ready (ready=True) or is not."""
    deadline = time.monotonic() + within
    while True:
        _, data = status_json(cluster)
        reachable = data["api"]["reachable"]
        state = node(data, name)["ready"] if reachable else None  # None also: Ready=Unknown
        if reachable and (state is True) == ready:
            return data
        assert time.monotonic() < deadline, f"{name}: Ready={state} after {within:.0f}s"
        time.sleep(2)


def start_units(cluster: Cluster, host: str, *units: str) -> None:
    code, out = ssh(cluster.hosts[host], "systemctl start " + " ".join(units))
    assert code == 0, out


# -- healthy ----------------------------------------------------------------------
def test_verify_passes_on_a_healthy_cluster_with_user_tests_and_a_junit_report(
    cluster: Cluster, tmp_path
):
    mine = tmp_path / "my-checks"
    mine.mkdir()
    (mine / "test_os.py").write_text(USER_CHECK)
    report = tmp_path / "verify.xml"

    started = time.monotonic()
    r = verify(cluster, "--tests", str(mine), "--junitxml", str(report))
    took = time.monotonic() - started
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    print(f"verify: {took:.1f}s")

    rows = table_rows(r.stdout)
    assert rows and all(res in ("PASS", "WARN") for _, _, res, _ in rows), failing(r.stdout)
    checks = {(h, c) for h, c, _, _ in rows}
    # by role: etcd and control-plane checks only on cp1, node checks on every node
    assert ("cp1", "etcd members match the inventory") in checks
    assert ("cp1", "kube-apiserver /readyz ok (cluster CA)") in checks
    assert not any(h != "cp1" and c.startswith("etcd") for h, c in checks)
    for h in ("cp1", "wk1", "wk2"):
        assert (h, "binaries match the recorded sha256") in checks
        assert (h, "kubelet active and enabled") in checks
        assert (h, "node Ready in the API, heartbeat recent") in checks
        assert (h, "runs Debian bookworm") in checks  # the user's own check, same `host` fixture
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) == len(rows)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def test_status_json_and_yaml_hold_every_node_and_host(cluster: Cluster):
    started = time.monotonic()
    code, data = status_json(cluster)
    print(f"status -o json: {time.monotonic() - started:.1f}s")
    assert code == 0
    assert data["api"]["reachable"] and data["api"]["version"] == "v1.20.2"
    assert data["api"]["url"].startswith(f"https://{cluster.hosts['cp1'].address}:")
    assert {n["name"] for n in data["nodes"]} == {"cp1", "wk1", "wk2"}
    for n in data["nodes"]:
        addresses = {a["type"]: a["address"] for a in n["addresses"]}
        assert (
            addresses["InternalIP"] == cluster.hosts[n["name"]].address and "Hostname" in addresses
        )
        conditions = {c["type"]: c for c in n["conditions"]}
        assert conditions["Ready"]["status"] == "True" and n["ready"] is True
        for pressure in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            assert conditions[pressure]["status"] == "False" and conditions[pressure]["reason"]
        for res in ("cpu", "memory", "pods"):
            assert n["capacity"][res] and n["allocatable"][res]
        # the API's own field names, as `kubectl get node -o json` shows them
        info = n["nodeInfo"]
        assert info["kubeletVersion"] == info["kubeProxyVersion"] == "v1.20.2"
        assert info["containerRuntimeVersion"].startswith("containerd://")
        assert info["kernelVersion"] and info["osImage"] and n["podCIDR"]
        assert {"lastHeartbeatTime", "lastTransitionTime"} <= set(conditions["Ready"])
    hosts = {h["name"]: h for h in data["hosts"]}
    assert list(hosts["cp1"]["services"]) == [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "containerd",
        "kubelet",
        "kube-proxy",
        "k8sboot-pod-routes",
    ]
    assert hosts["wk1"]["services"] == {
        "containerd": "active",
        "kubelet": "active",
        "kube-proxy": "active",
        "k8sboot-pod-routes": "active",
    }
    assert all(state == "active" for h in hosts.values() for state in h["services"].values())

    y = k8sboot("status", "-i", str(cluster.inventory), "-o", "yaml", home=cluster.home)
    assert y.returncode == 0
    as_yaml = yaml.safe_load(y.stdout)
    assert as_yaml.keys() == data.keys() and [n["name"] for n in as_yaml["nodes"]] == [
        n["name"] for n in data["nodes"]
    ]

    table = k8sboot("status", "-i", str(cluster.inventory), home=cluster.home)
    assert table.returncode == 0 and "v1.20.2" in table.stdout
    assert all(name in table.stdout for name in ("cp1", "wk1", "wk2", "kube-scheduler"))


# -- a stopped kubelet ------------------------------------------------------------
def test_a_stopped_kubelet_fails_verify_and_turns_the_node_not_ready_then_both_recover(
    cluster: Cluster,
):
    code, out = ssh(cluster.hosts["wk2"], "systemctl stop kubelet")
    assert code == 0, out
    try:
        r = verify(cluster)
        assert r.returncode == 1, r.stdout[-3000:]
        fails = failing(r.stdout)
        assert ("wk2", "kubelet active and enabled", "kubelet is inactive") in fails, fails
        assert any(h == "wk2" and c == "kubelet healthz ok" for h, c, _ in fails), fails
        assert {h for h, _, _ in fails} == {"wk2"}, fails  # nothing else blamed
        assert "failing: wk2" in r.stdout + r.stderr

        started = time.monotonic()
        data = wait_node_ready(cluster, "wk2", False, NOT_READY_WITHIN)
        print(f"wk2 not Ready after {time.monotonic() - started:.0f}s")
        wk2 = node(data, "wk2")
        ready = next(c for c in wk2["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "Unknown" and ready["reason"] == "NodeStatusUnknown"
        assert (
            next(h for h in data["hosts"] if h["name"] == "wk2")["services"]["kubelet"]
            == "inactive"
        )
        assert node(data, "wk1")["ready"] is True
    finally:
        start_units(cluster, "wk2", "kubelet")
    wait_node_ready(cluster, "wk2", True, READY_WITHIN)
    r = verify(cluster)
    assert r.returncode == 0, failing(r.stdout)


# -- smoke -----------------------------------------------------------------------
def test_verify_smoke_runs_a_pod_on_every_node_and_reaches_it_from_every_node(cluster: Cluster):
    started = time.monotonic()
    r = verify(cluster, "--smoke")
    print(f"verify --smoke: {time.monotonic() - started:.1f}s")
    assert r.returncode == 0, failing(r.stdout) or r.stdout[-3000:] + r.stderr[-2000:]
    rows = {(h, c): res for h, c, res, _ in table_rows(r.stdout)}
    for h in ("cp1", "wk1", "wk2"):
        for check in (
            "smoke image imported into containerd",
            "smoke pod running",
            "every smoke pod reachable from this host",
            "smoke Service (ClusterIP) reachable from this host",
        ):
            assert rows[(h, check)] == "PASS"
    assert SMOKE_NAMESPACE not in cluster.kubectl("get", "namespaces", "-o", "name")


def test_verify_smoke_names_the_node_whose_containerd_is_stopped(cluster: Cluster):
    code, out = ssh(
        cluster.hosts["wk2"], "systemctl stop containerd"
    )  # the kubelet needs it: it stops too
    assert code == 0, out
    try:
        r = verify(cluster, "--smoke")
        assert r.returncode == 1, r.stdout[-3000:]
        fails = failing(r.stdout)
        image = next(
            w for h, c, w in fails if (h, c) == ("wk2", "smoke image imported into containerd")
        )
        assert "containerd is inactive on wk2" in image
        pod = next(w for h, c, w in fails if (h, c) == ("wk2", "smoke pod running"))
        assert "node wk2" in pod
        # the other nodes still ran their pods and reach each other and the Service
        rows = {(h, c): res for h, c, res, _ in table_rows(r.stdout)}
        for h in ("cp1", "wk1"):
            assert rows[(h, "smoke pod running")] == "PASS"
            assert rows[(h, "smoke Service (ClusterIP) reachable from this host")] == "PASS"
        assert SMOKE_NAMESPACE not in cluster.kubectl(
            "get", "namespaces", "-o", "name"
        )  # removed on failure too
    finally:
        start_units(cluster, "wk2", "containerd", "kubelet")
    wait_node_ready(cluster, "wk2", True, READY_WITHIN)
