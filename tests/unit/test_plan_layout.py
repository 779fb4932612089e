"""The plan takes remote paths and ports from one place, and follows an inventory that moves them."""

from __future__ import annotations

from pathlib import Path

from k8sboot import cluster_layout as layout
from k8sboot.inventory.model import Host, Inventory
from k8sboot.plan import ClusterPlan, cluster_settings


def plan_for(**host_vars: object) -> tuple[ClusterPlan, Host]:
    host = Host("cp1", "10.0.0.11", groups=[layout.ETCD, layout.CONTROL_PLANE, layout.NODES], vars=dict(host_vars))
    inv = Inventory(None, {"name": "t"}, {"cp1": host},
                    {layout.ETCD: ["cp1"], layout.CONTROL_PLANE: ["cp1"], layout.NODES: ["cp1"]})
    return ClusterPlan(inv, cluster_settings(inv), "v1.20.2", {}, Path("/state/pki")), host


def test_certificates_go_where_the_units_look_for_them_when_the_inventory_moves_the_directory():
    plan, host = plan_for(etcd_pki_dir="/srv/etcd-pki")
    variables = plan.vars_for_host(host)
    assert variables["etcd_pki_dir"] == "/srv/etcd-pki"
    etcd_dests = [f["dest"] for f in plan.pki_files(host)[layout.ETCD]]
    assert etcd_dests and all(d.startswith("/srv/etcd-pki/") for d in etcd_dests)
    assert not any(d.startswith(layout.ETCD_PKI_DIR) for g in plan.pki_files(host).values() for d in
                   (f["dest"] for f in g))


def test_by_default_every_remote_path_and_port_is_the_layouts():
    plan, host = plan_for()
    variables = plan.vars_for_host(host)
    for key, value in layout.REMOTE_DIR_VARS.items():
        assert variables[key] == value
    assert variables["etcd_servers"] == f"https://10.0.0.11:{layout.ETCD_CLIENT_PORT}"
    assert variables["api_server_url"] == f"https://10.0.0.11:{layout.APISERVER_PORT}"


def test_an_etcd_member_on_another_port_is_dialled_on_that_port():
    plan, host = plan_for(etcd_client_port=12379, etcd_peer_port=12380)
    variables = plan.vars_for_host(host)
    assert variables["etcd_servers"] == "https://10.0.0.11:12379"
    assert variables["etcd_initial_cluster"] == "cp1=https://10.0.0.11:12380"
