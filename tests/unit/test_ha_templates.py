"""The shipped HA templates rendered by k8sboot's own templar from a 3-control-plane plan's vars.

The vars are what a role sees: its defaults, then the plan's vars (as the runner layers them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sboot import cluster_layout as layout
from k8sboot.engine.templating import Templar
from k8sboot.inventory.model import Host, Inventory
from k8sboot.paths import ROLES_DIR, TEMPLATES_DIR
from k8sboot.plan import ClusterPlan, cluster_settings

ALL_ROLES = [layout.ETCD, layout.CONTROL_PLANE, layout.NODES]


def plan_of(addresses: list[str], workers: int = 1, cluster: dict[str, Any] | None = None) -> ClusterPlan:
    hosts: dict[str, Host] = {}
    groups: dict[str, list[str]] = {g: [] for g in layout.ROLE_GROUPS}
    for i, addr in enumerate(addresses, 1):
        hosts[f"cp{i}"] = Host(f"cp{i}", addr, groups=list(ALL_ROLES))
        for g in ALL_ROLES:
            groups[g].append(f"cp{i}")
    for i in range(1, workers + 1):
        hosts[f"w{i}"] = Host(f"w{i}", f"10.0.0.{20 + i}", groups=[layout.NODES])
        groups[layout.NODES].append(f"w{i}")
    inv = Inventory(None, {"name": "ha", **(cluster or {})}, hosts, groups)
    return ClusterPlan(inv, cluster_settings(inv), "v1.27.4", {}, Path("/state/pki"))


THREE = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]


def role_defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROLES_DIR / role / "defaults" / "main.yml").read_text()) or {}


def role_task(role: str, src: str) -> dict[str, Any]:
    """The args of the role's template task that renders `src`."""
    tasks = yaml.safe_load((ROLES_DIR / role / "tasks" / "main.yml").read_text())
    for task in tasks:
        args = task.get("ansible.builtin.template") or task.get("template")
        if args and args["src"] == src:
            return dict(args)
    raise AssertionError(f"role {role} has no template task for {src}")


def render(name: str, role: str, plan: ClusterPlan, host: str, **extra: Any) -> str:
    templar = Templar([TEMPLATES_DIR])
    variables = {**role_defaults(role), **plan.vars_for_host(plan.inventory.hosts[host]), **extra}
    return templar.render_file(name, variables)


def render_value(text: str, role: str, plan: ClusterPlan, host: str) -> Any:
    templar = Templar([TEMPLATES_DIR])
    return templar.render_value(text, {**role_defaults(role), **plan.vars_for_host(plan.inventory.hosts[host])})


def server_lines(cfg: str) -> list[str]:
    return [line.strip() for line in cfg.splitlines() if line.strip().startswith("server ")]


# -- haproxy.cfg ------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["cp2", "w1"])
def test_the_balancer_has_one_server_per_control_plane_on_its_apiserver_port(host):
    cfg = render("apiserver-lb/haproxy.cfg.j2", "node", plan_of(THREE), host)
    assert server_lines(cfg) == [f"server cp{i} 10.0.0.{10 + i}:6443" for i in (1, 2, 3)]


def test_the_balancer_binds_loopback_on_its_own_port_only():
    cfg = render("apiserver-lb/haproxy.cfg.j2", "node", plan_of(THREE), "w1")
    binds = [line.strip() for line in cfg.splitlines() if line.strip().startswith("bind ")]
    assert binds == [f"bind 127.0.0.1:{layout.APISERVER_LB_PORT}"] == ["bind 127.0.0.1:6444"]


def test_the_balancer_follows_the_clusters_ports():
    plan = plan_of(THREE, cluster={"apiserver_port": 8443, "apiserver_lb_port": 7443})
    cfg = render("apiserver-lb/haproxy.cfg.j2", "node", plan, "w1")
    assert "bind 127.0.0.1:7443" in cfg
    assert server_lines(cfg) == [f"server cp{i} 10.0.0.{10 + i}:8443" for i in (1, 2, 3)]


def test_an_ipv6_backend_is_given_to_haproxy_as_ipv6_at_address_port():
    cfg = render("apiserver-lb/haproxy.cfg.j2", "node", plan_of(["10.0.0.11", "fd00::12", "2001:db8::13"]), "w1")
    assert server_lines(cfg) == ["server cp1 10.0.0.11:6443", "server cp2 ipv6@fd00::12:6443",
                                 "server cp3 ipv6@2001:db8::13:6443"]


def test_backends_are_health_checked_over_tls_against_the_cluster_ca():
    cfg = render("apiserver-lb/haproxy.cfg.j2", "node", plan_of(THREE), "w1")
    assert "option httpchk GET /readyz" in cfg
    default_server = next(line for line in cfg.splitlines() if line.strip().startswith("default-server"))
    assert " check " in default_server and "check-ssl" in default_server
    assert "verify required" in default_server
    ca_file = re.search(r"ca-file (\S+)", default_server)
    assert ca_file and ca_file.group(1) == f"{layout.K8S_PKI_DIR}/ca.crt"
    # the CA is there on a worker too: every node host runs the balancer
    plan = plan_of(THREE)
    assert ca_file.group(1) in [f["dest"] for f in plan.pki_files(plan.inventory.hosts["w1"])[layout.NODES]]
    assert "mode tcp" in cfg
    assert "user haproxy" in cfg


# -- the balancer's unit ----------------------------------------------------------------

def test_the_unit_runs_haproxy_on_the_config_the_role_writes():
    plan = plan_of(THREE)
    unit = render("apiserver-lb/k8sboot-apiserver-lb.service.j2", "node", plan, "w1")
    cfg_dest = render_value(role_task("node", "apiserver-lb/haproxy.cfg.j2")["dest"], "node", plan, "w1")
    assert cfg_dest == f"{layout.K8S_CONFIG_DIR}/apiserver-lb.cfg"
    exec_start = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert exec_start == [f"ExecStart=/usr/sbin/haproxy -Ws -f {cfg_dest}"]
    assert f"ExecStartPre=/usr/sbin/haproxy -c -q -f {cfg_dest}" in unit.splitlines()
    assert "127.0.0.1:6444" in unit
    assert "Before=kubelet.service kube-proxy.service" in unit
    unit_dest = render_value(role_task("node", "apiserver-lb/k8sboot-apiserver-lb.service.j2")["dest"],
                             "node", plan, "w1")
    assert unit_dest == f"/etc/systemd/system/{layout.APISERVER_LB_UNIT}.service"


# -- etcd -------------------------------------------------------------------------------

def env_file(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_the_initial_cluster_env_file_names_every_member_of_a_new_cluster():
    env = env_file(render("etcd/initial-cluster.env.j2", "etcd", plan_of(THREE), "cp2"))
    assert env == {
        "ETCD_INITIAL_CLUSTER": ",".join(f"cp{i}=https://10.0.0.{10 + i}:2380" for i in (1, 2, 3)),
        "ETCD_INITIAL_CLUSTER_STATE": "new",
        "ETCD_INITIAL_CLUSTER_TOKEN": "ha-etcd",
    }


def test_a_joining_members_env_file_says_existing():
    env = env_file(render("etcd/initial-cluster.env.j2", "etcd", plan_of(THREE), "cp3",
                          etcd_initial_cluster="cp1=https://10.0.0.11:2380,cp3=https://10.0.0.13:2380",
                          etcd_initial_cluster_state="existing"))
    assert env["ETCD_INITIAL_CLUSTER_STATE"] == "existing"
    assert env["ETCD_INITIAL_CLUSTER"] == "cp1=https://10.0.0.11:2380,cp3=https://10.0.0.13:2380"


def test_the_etcd_unit_has_no_bootstrap_flags_and_reads_the_env_file_the_role_writes():
    plan = plan_of(THREE)
    unit = render("etcd/etcd.service.j2", "etcd", plan, "cp2")
    assert "--initial-cluster" not in unit  # nor -state / -token: all of them start so
    assert "--initial-advertise-peer-urls=https://10.0.0.12:2380" in unit
    env_dest = render_value(role_task("etcd", "etcd/initial-cluster.env.j2")["dest"], "etcd", plan, "cp2")
    assert env_dest == "/etc/etcd/initial-cluster.env"
    assert re.findall(r"^EnvironmentFile=(.*)$", unit, re.MULTILINE) == [env_dest]
    assert "--name=cp2 " in unit
    assert f"--data-dir={layout.ETCD_DATA_DIR} " in unit


def test_the_etcd_unit_is_the_same_whatever_the_membership():
    """A member joining later must not change a running member's unit (that would restart it)."""
    three = render("etcd/etcd.service.j2", "etcd", plan_of(THREE), "cp1")
    one = render("etcd/etcd.service.j2", "etcd", plan_of(THREE[:1]), "cp1")
    assert three == one


def test_the_env_file_is_written_once_unless_a_member_is_joining():
    task = role_task("etcd", "etcd/initial-cluster.env.j2")
    plan = plan_of(THREE)
    assert render_value(task["force"], "etcd", plan, "cp1") is False
    templar = Templar([TEMPLATES_DIR])
    joining = {**role_defaults("etcd"), **plan.vars_for_host(plan.inventory.hosts["cp1"]),
               "etcd_initial_cluster_rewrite": True}
    assert templar.render_value(task["force"], joining) is True
