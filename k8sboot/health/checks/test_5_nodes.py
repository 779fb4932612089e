"""Nodes: containerd, kubelet, kube-proxy and the pod routes agent run, the kubelet is healthy, the API says Ready."""

from __future__ import annotations

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.remote import http_request
from k8sboot.health.units import assert_unit_running_and_enabled
from k8sboot.node_heartbeat import NODE_LEASE_NAMESPACE

pytestmark = pytest.mark.group(layout.NODES)

UNITS = layout.GROUP_UNITS[layout.NODES]


@pytest.mark.parametrize("unit", UNITS)
def test_node_unit(host, unit):
    """{unit} active and enabled"""
    assert_unit_running_and_enabled(host, unit)


def test_pod_routes_agent(host):
    """pod routes agent active and enabled"""
    assert_unit_running_and_enabled(host, layout.POD_ROUTES_UNIT)


def test_kubelet_healthz(host):
    """kubelet healthz ok"""
    answer = http_request(host, "http://127.0.0.1:10248/healthz")
    assert answer.ok and answer.body.strip() == "ok", f"kubelet healthz: {answer.describe()}"


def test_node_ready(inventory_host, node_views, node_heartbeats):
    """node Ready in the API, heartbeat recent"""
    name = inventory_host.node_name
    view = node_views.get(name)
    assert view is not None, f"node {name} is not registered with the apiserver"
    assert view.is_ready, f"node {name} is not Ready: Ready={view.ready} {view.reason}"
    # Ready stays True for ~50 s after a kubelet stops talking to the apiserver (until the lifecycle
    # controller notices): the heartbeat tells now
    beat = node_heartbeats.get(name)
    assert beat is not None, f"node {name} is Ready but its kubelet never posted a heartbeat"
    assert beat.fresh, (f"node {name} is Ready but its kubelet's last heartbeat was {beat.age:.0f}s ago (it renews "
                        f"its Lease in {NODE_LEASE_NAMESPACE} every 10 s when it reaches the apiserver): "
                        "it will turn Unknown")


@pytest.mark.apiserver_lb
def test_apiserver_load_balancer(host, plan):
    """local apiserver load balancer answers /readyz (several control planes)"""
    assert_unit_running_and_enabled(host, layout.APISERVER_LB_UNIT)
    url = f"https://127.0.0.1:{plan.settings['apiserver_lb_port']}/readyz"
    answer = http_request(host, url, cacert=f"{layout.K8S_PKI_DIR}/ca.crt")
    assert answer.ok and answer.body.strip() == "ok", f"load balancer {url}: {answer.describe()}"
