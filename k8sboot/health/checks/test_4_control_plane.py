"""Control plane hosts: the three components, their ports, /readyz and the serving cert."""

from __future__ import annotations

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.health.certs import normalise_address, san_values
from k8sboot.health.remote import http_request
from k8sboot.health.units import assert_listening, assert_unit_running_and_enabled
from k8sboot.plan import node_ip

pytestmark = pytest.mark.group(layout.CONTROL_PLANE)

UNITS = layout.GROUP_UNITS[layout.CONTROL_PLANE]
PORTS = layout.GROUP_PORTS[layout.CONTROL_PLANE]
CA = f"{layout.K8S_PKI_DIR}/ca.crt"


@pytest.mark.parametrize("unit", UNITS)
def test_control_plane_unit(host, unit):
    """{unit} active and enabled"""
    assert_unit_running_and_enabled(host, unit)


@pytest.mark.parametrize("port", sorted(PORTS))
def test_control_plane_port(host, port, plan):
    """port {port} listening"""
    if port == 6443:
        port = int(plan.settings["apiserver_port"])
    assert_listening(host, port, PORTS.get(port, "kube-apiserver"))


def test_apiserver_readyz(host, inventory_host, plan):
    """kube-apiserver /readyz ok (cluster CA)"""
    ip = node_ip(inventory_host)
    url = f"https://{f'[{ip}]' if ':' in ip else ip}:{plan.settings['apiserver_port']}/readyz"
    answer = http_request(host, url, cacert=CA)
    assert answer.ok and answer.body.strip() == "ok", f"{url}: {answer.describe()}"


def test_apiserver_cert_sans(host, inventory_host):
    """apiserver certificate names this host"""
    sans = san_values(host.file("/etc/kubernetes/pki/apiserver.crt").content)
    wanted = {normalise_address(a) for a in (node_ip(inventory_host), inventory_host.address) if a}
    missing = sorted(wanted - sans)
    assert not missing, f"SANs lack {', '.join(missing)} (have {', '.join(sorted(sans))})"
