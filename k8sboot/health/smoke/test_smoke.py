"""Smoke: a pod on every node from a locally made image, reached from every node directly
(routes + CNI) and through a ClusterIP Service (kube-proxy). Removed afterwards, also on failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.remote import http_request
from k8sboot.health.smoke.deployment import SmokeDeployment, deploy, remove

pytestmark = pytest.mark.group(layout.NODES)


@pytest.fixture(scope="module")
def smoke(inventory, cluster_state, kube_api) -> Iterator[SmokeDeployment]:
    try:
        yield deploy(inventory.hosts_in(layout.NODES), cluster_state, kube_api)
    finally:
        if not remove(kube_api):
            pytest.fail("namespace k8sboot-smoke was not gone within 90s of its deletion")


def test_smoke_image(host_name, smoke):
    """smoke image imported into containerd"""
    error = smoke.import_errors.get(host_name)
    assert error is None, f"cannot import the smoke image on {host_name}: {error}"


def test_smoke_pod(inventory_host, smoke):
    """smoke pod running"""
    pod = smoke.pods[inventory_host.name]
    assert pod.ready, f"pod {pod.name} on node {pod.node} is not running: {pod.problem}"


def _fetch(host, url: str, page: bytes) -> str | None:
    answer = http_request(host, url, timeout=5)
    if answer.ok and answer.body.strip() == page.decode().strip():
        return None
    return answer.describe()


def test_smoke_pods_reachable(host, host_name, smoke):
    """every smoke pod reachable from this host"""
    pods = smoke.ready_pods()
    assert pods, "no smoke pod is running anywhere"
    failures = []
    for owner, pod in pods:
        why = _fetch(host, f"http://{pod.ip}:{smoke.port}/", smoke.page)
        if why:
            failures.append(f"pod on {pod.node} ({pod.ip}): {why}")
    assert not failures, f"from {host_name}: " + "; ".join(failures)


# a pod just turned Ready reaches a Service through the endpoints controller and then each node's
# kube-proxy: seconds on a loaded machine, so the first answer may come a little later (a CI run
# saw this check fail right after the pods were Ready, and pass on every other run)
SERVICE_WITHIN = 15.0


def test_smoke_service(host, host_name, smoke):
    """smoke Service (ClusterIP) reachable from this host"""
    assert smoke.ready_pods(), "no smoke pod is running anywhere: the Service has no endpoint"
    url = f"http://{smoke.service_ip}:{smoke.port}/"
    deadline = time.monotonic() + SERVICE_WITHIN
    while (why := _fetch(host, url, smoke.page)) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert why is None, f"from {host_name}: Service {url} (tried for {SERVICE_WITHIN:.0f}s): {why}"
