"""etcd members: the service, its client port, its health and the member list, over TLS."""

from __future__ import annotations

import json

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.remote import http_request
from k8sboot.health.units import assert_listening, assert_unit_running_and_enabled

pytestmark = pytest.mark.group(layout.ETCD)

PKI = layout.ETCD_PKI_DIR
CACERT = f"{PKI}/ca.crt"
CERT = f"{PKI}/healthcheck-client.crt"
KEY = f"{PKI}/healthcheck-client.key"
URL = layout.https_url("127.0.0.1", layout.ETCD_CLIENT_PORT)


def test_etcd_running(host):
    """etcd active and enabled"""
    assert_unit_running_and_enabled(host, "etcd")


def test_etcd_client_port(host):
    """etcd client port 2379 listening"""
    assert_listening(host, layout.ETCD_CLIENT_PORT, "etcd clients")


def test_etcd_health(host):
    """etcd endpoint healthy (TLS)"""
    answer = http_request(host, f"{URL}/health", cacert=CACERT, cert=CERT, key=KEY)
    assert answer.ok, f"{URL}/health: {answer.describe()}"
    assert json.loads(answer.body).get("health") == "true", f"{URL}/health: {answer.body.strip()}"


def test_etcd_members(host, inventory, plan):
    """etcd members match the inventory"""
    # the v3 gateway: etcdctl is not necessarily installed
    answer = http_request(host, f"{URL}/v3/cluster/member/list", method="POST", body="{}",
                          cacert=CACERT, cert=CERT, key=KEY)
    assert answer.ok, f"member list: {answer.describe()}"
    members = json.loads(answer.body).get("members") or []
    names = sorted(
        m.get("name") or f"(unstarted {','.join(m.get('peerURLs') or [])})" for m in members
    )
    expected = sorted(plan.etcd_name(h) for h in inventory.hosts_in(layout.ETCD))
    assert names == expected, (
        f"members {', '.join(names)}; the inventory's etcd group: {', '.join(expected)}"
    )
