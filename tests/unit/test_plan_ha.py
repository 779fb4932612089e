"""HA in the plan: when nodes run the local apiserver balancer, what each client dials, the etcd bootstrap vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.errors import InputError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.plan import ClusterPlan, apiserver_urls, cluster_settings, uses_apiserver_lb

ALL_ROLES = [layout.ETCD, layout.CONTROL_PLANE, layout.NODES]


def inventory(control_planes: int = 3, workers: int = 0, cluster: dict[str, Any] | None = None,
              all_vars: dict[str, Any] | None = None,
              addresses: dict[str, str | None] | None = None) -> Inventory:
    """`control_planes` stacked hosts (etcd + control plane + node) cp1.., then `workers` w1.."""
    hosts: dict[str, Host] = {}
    groups: dict[str, list[str]] = {g: [] for g in layout.ROLE_GROUPS}
    for i in range(1, control_planes + 1):
        name = f"cp{i}"
        addr = (addresses or {}).get(name, f"10.0.0.{10 + i}")
        hosts[name] = Host(name, addr, groups=list(ALL_ROLES))
        for g in ALL_ROLES:
            groups[g].append(name)
    for i in range(1, workers + 1):
        name = f"w{i}"
        hosts[name] = Host(name, f"10.0.0.{20 + i}", groups=[layout.NODES])
        groups[layout.NODES].append(name)
    return Inventory(None, {"name": "ha", **(cluster or {})}, hosts, groups, vars=dict(all_vars or {}))


def plan_of(inv: Inventory) -> ClusterPlan:
    return ClusterPlan(inv, cluster_settings(inv), "v1.27.4", {}, Path("/state/pki"))


def lb(inv: Inventory) -> bool:
    return uses_apiserver_lb(inv, cluster_settings(inv))


# -- uses_apiserver_lb ------------------------------------------------------------------

def test_auto_is_the_default_and_means_two_or_more_control_planes():
    assert cluster_settings(inventory(1))["apiserver_lb"] == "auto"
    assert lb(inventory(1)) is False
    assert lb(inventory(2)) is True
    assert lb(inventory(3, workers=2)) is True
    assert lb(inventory(1, cluster={"apiserver_lb": "auto"})) is False


def test_workers_do_not_count_as_control_planes():
    assert lb(inventory(1, workers=4)) is False


@pytest.mark.parametrize("value", [True, "true", "yes", "Yes", "on", 1])
def test_true_spellings_turn_the_balancer_on_even_for_one_control_plane(value):
    assert lb(inventory(1, cluster={"apiserver_lb": value})) is True


@pytest.mark.parametrize("value", [False, "false", "no", "off", 0])
def test_false_spellings_turn_it_off_even_for_three(value):
    assert lb(inventory(3, cluster={"apiserver_lb": value})) is False


def test_the_all_level_vars_may_set_it_too():
    assert lb(inventory(1, all_vars={"apiserver_lb": "yes"})) is True
    assert lb(inventory(3, all_vars={"apiserver_lb": False})) is False


@pytest.mark.parametrize("value", ["maybe", "sometimes", 2, ""])
def test_a_bad_value_is_an_input_error_naming_the_setting(value):
    inv = inventory(3, cluster={"apiserver_lb": value})
    with pytest.raises(InputError, match=r"cluster\.apiserver_lb"):
        lb(inv)
    with pytest.raises(InputError, match=r"cluster\.apiserver_lb"):
        plan_of(inv).vars_for_host(inv.hosts["cp1"])


@pytest.mark.parametrize("value", ["auto", True, "yes"])
def test_an_api_endpoint_of_the_users_own_disables_the_balancer(value):
    inv = inventory(3, cluster={"api_endpoint": "https://vip.example:6443", "apiserver_lb": value})
    assert lb(inv) is False
    assert plan_of(inv).uses_apiserver_lb is False
    assert plan_of(inv).vars_for_host(inv.hosts["cp2"])["apiserver_lb_enabled"] is False


# -- what clients dial -------------------------------------------------------------------

def test_with_the_balancer_kubelets_dial_loopback_on_the_balancers_port():
    plan = plan_of(inventory(3, workers=1))
    assert plan.api_server_url == f"https://127.0.0.1:{layout.APISERVER_LB_PORT}"
    assert layout.APISERVER_LB_PORT != layout.APISERVER_PORT
    for host in plan.inventory.hosts.values():
        v = plan.vars_for_host(host)
        assert v["api_server_url"] == f"https://127.0.0.1:{layout.APISERVER_LB_PORT}"
        assert v["apiserver_lb_enabled"] is True
        assert v["apiserver_lb_port"] == layout.APISERVER_LB_PORT


def test_the_balancers_port_follows_the_inventory():
    plan = plan_of(inventory(2, cluster={"apiserver_lb_port": "7443"}))
    assert plan.api_server_url == "https://127.0.0.1:7443"
    assert plan.vars_for_host(plan.inventory.hosts["cp1"])["apiserver_lb_port"] == 7443


def test_without_the_balancer_kubelets_dial_the_first_control_plane():
    plan = plan_of(inventory(1, workers=2))
    assert plan.api_server_url == f"https://10.0.0.11:{layout.APISERVER_PORT}"
    off = plan_of(inventory(3, cluster={"apiserver_lb": "no", "apiserver_port": 8443}))
    assert off.api_server_url == "https://10.0.0.11:8443"


def test_an_api_endpoint_wins_for_every_client():
    inv = inventory(3, cluster={"api_endpoint": "https://vip.example:6443"})
    plan = plan_of(inv)
    assert plan.api_server_url == "https://vip.example:6443"
    assert plan.admin_server_url == "https://vip.example:6443"
    assert plan.vars_for_host(inv.hosts["cp3"])["api_server_url"] == "https://vip.example:6443"


@pytest.mark.parametrize("cluster", [{}, {"apiserver_lb": True}, {"apiserver_lb": "auto"}])
@pytest.mark.parametrize("count", [1, 3])
def test_the_admin_kubeconfig_never_points_at_the_loopback_balancer(cluster, count):
    plan = plan_of(inventory(count, cluster=cluster))
    assert plan.admin_server_url == f"https://10.0.0.11:{layout.APISERVER_PORT}"
    assert "127.0.0.1" not in plan.admin_server_url


def test_an_ipv6_control_plane_is_bracketed_in_its_urls():
    inv = inventory(2, addresses={"cp1": "fd00::11", "cp2": "fd00::12"})
    plan = plan_of(inv)
    assert plan.admin_server_url == f"https://[fd00::11]:{layout.APISERVER_PORT}"
    assert apiserver_urls(inv) == [f"https://[fd00::11]:{layout.APISERVER_PORT}",
                                   f"https://[fd00::12]:{layout.APISERVER_PORT}"]


# -- the vars the roles receive ------------------------------------------------------------

def test_every_host_gets_every_control_plane_as_a_balancer_backend():
    inv = inventory(3, workers=2)
    plan = plan_of(inv)
    want = [{"name": f"cp{i}", "address": f"10.0.0.{10 + i}", "port": layout.APISERVER_PORT} for i in (1, 2, 3)]
    for host in inv.hosts.values():
        assert plan.vars_for_host(host)["apiserver_lb_backends"] == want
    assert plan.vars_for_host(inv.hosts["w1"])["apiserver_lb_unit"] == layout.APISERVER_LB_UNIT


def test_a_backend_is_the_hosts_ip_var_and_the_clusters_apiserver_port():
    inv = inventory(2, cluster={"apiserver_port": "8443"})
    inv.hosts["cp2"].vars["ip"] = "192.168.5.12"
    backends = plan_of(inv).vars_for_host(inv.hosts["cp1"])["apiserver_lb_backends"]
    assert backends == [{"name": "cp1", "address": "10.0.0.11", "port": 8443},
                        {"name": "cp2", "address": "192.168.5.12", "port": 8443}]


def test_etcd_bootstraps_a_new_cluster_with_the_clusters_token_and_data_dir():
    inv = inventory(3)
    plan = plan_of(inv)
    for host in inv.hosts.values():
        v = plan.vars_for_host(host)
        assert v["etcd_initial_cluster_state"] == "new"
        assert v["etcd_initial_cluster_token"] == "ha-etcd"
        assert v["etcd_data_dir"] == layout.ETCD_DATA_DIR == "/var/lib/etcd"
        assert v["etcd_initial_cluster"] == ",".join(
            f"cp{i}=https://10.0.0.{10 + i}:{layout.ETCD_PEER_PORT}" for i in (1, 2, 3))
        assert v["etcd_servers"] == ",".join(
            f"https://10.0.0.{10 + i}:{layout.ETCD_CLIENT_PORT}" for i in (1, 2, 3))


def test_the_etcd_data_dir_and_member_name_follow_the_host():
    inv = inventory(3)
    inv.hosts["cp2"].vars.update(etcd_data_dir="/srv/etcd", etcd_member_name="etcd-b")
    plan = plan_of(inv)
    assert plan.vars_for_host(inv.hosts["cp2"])["etcd_data_dir"] == "/srv/etcd"
    assert plan.vars_for_host(inv.hosts["cp1"])["etcd_data_dir"] == "/var/lib/etcd"
    assert plan.remote_dirs(inv.hosts["cp2"])["etcd_data_dir"] == "/srv/etcd"
    assert "etcd-b=https://10.0.0.12:2380" in plan.vars_for_host(inv.hosts["cp1"])["etcd_initial_cluster"]
    assert ClusterPlan.etcd_name(inv.hosts["cp2"]) == "etcd-b"


def test_etcd_urls_need_no_plan():
    host = Host("e1", "10.1.0.5", vars={"etcd_client_port": 12379, "etcd_peer_port": 12380})
    assert ClusterPlan.etcd_client_url(host) == "https://10.1.0.5:12379"
    assert ClusterPlan.etcd_peer_url(host) == "https://10.1.0.5:12380"
    assert ClusterPlan.etcd_peer_url(Host("e2", "fd00::5")) == f"https://[fd00::5]:{layout.ETCD_PEER_PORT}"


def test_the_cluster_name_is_in_the_etcd_token():
    inv = inventory(1, cluster={"name": "prod"})
    assert plan_of(inv).vars_for_host(inv.hosts["cp1"])["etcd_initial_cluster_token"] == "prod-etcd"


# -- apiserver_urls ----------------------------------------------------------------------

def test_apiserver_urls_lists_every_control_plane_in_inventory_order():
    inv = inventory(3, workers=2)
    assert apiserver_urls(inv) == [f"https://10.0.0.{10 + i}:{layout.APISERVER_PORT}" for i in (1, 2, 3)]


def test_apiserver_urls_follow_the_apiserver_port_and_skip_hosts_without_an_address():
    inv = inventory(3, cluster={"apiserver_port": 8443}, addresses={"cp2": None})
    assert apiserver_urls(inv) == ["https://10.0.0.11:8443", "https://10.0.0.13:8443"]


def test_apiserver_urls_use_the_ip_var_over_the_ssh_address():
    inv = inventory(2, addresses={"cp2": None})
    inv.hosts["cp2"].vars["ip"] = "10.9.0.2"
    assert apiserver_urls(inv) == ["https://10.0.0.11:6443", "https://10.9.0.2:6443"]


def test_apiserver_urls_is_only_the_api_endpoint_when_there_is_one():
    inv = inventory(3, cluster={"api_endpoint": "https://vip.example:443"})
    assert apiserver_urls(inv) == ["https://vip.example:443"]
