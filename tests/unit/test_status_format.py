"""k8sboot status: how the table words the data (pure formatting)."""

from __future__ import annotations

import io

from rich.console import Console

from k8sboot.commands import status as cmd
from k8sboot.cluster_status import unregistered_node

READY = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": ""}


def node(conditions, **kw):
    return {
        "name": "n",
        "registered": True,
        "unschedulable": False,
        "conditions": conditions,
        "capacity": {"cpu": "2", "memory": "24684092Ki", "pods": "110"},
        "allocatable": {"cpu": "1900m", "memory": "1Gi", "pods": "110"},
        **kw,
    }


def test_memory_is_shown_in_gib_whatever_the_suffix():
    assert cmd.memory_gib("24684092Ki") == "23.5Gi"
    assert cmd.memory_gib("2Gi") == "2.0Gi"
    assert cmd.memory_gib("1073741824") == "1.0Gi"
    assert cmd.memory_gib("2G") == "1.9Gi"
    assert cmd.memory_gib(None) == "?"
    assert cmd.memory_gib("12e3") == "12e3"  # unparsed: shown as it is


def test_ready_text_says_why_a_node_is_not_ready():
    assert cmd.ready_text(node([READY])) == "Ready"
    assert cmd.ready_text(node([READY], unschedulable=True)) == "Ready,SchedulingDisabled"
    assert (
        cmd.ready_text(node([{**READY, "status": "Unknown", "reason": "NodeStatusUnknown"}]))
        == "Unknown (NodeStatusUnknown)"
    )
    assert cmd.ready_text(node([{**READY, "status": "False", "reason": ""}])) == "NotReady"
    assert cmd.ready_text(unregistered_node("wk9")) == "NotRegistered"


def test_pressure_lists_only_conditions_that_are_not_false():
    conds = [
        {"type": "MemoryPressure", "status": "False", "reason": "ok", "message": ""},
        {
            "type": "DiskPressure",
            "status": "True",
            "reason": "KubeletHasDiskPressure",
            "message": "",
        },
        {"type": "PIDPressure", "status": "Unknown", "reason": "", "message": ""},
        READY,
    ]
    assert (
        cmd.pressure_text(conds)
        == "DiskPressure=True (KubeletHasDiskPressure), PIDPressure=Unknown"
    )
    assert cmd.pressure_text([READY]) == "none"


def test_resources_are_allocatable_over_capacity():
    n = node([READY])
    assert cmd.resource_text(n, "cpu") == "1900m/2"
    assert cmd.resource_text(n, "memory") == "1.0Gi/23.5Gi"
    assert cmd.resource_text(unregistered_node("x"), "pods") == "-"


def test_problems_name_the_api_and_each_unreachable_host():
    data = {
        "cluster": "lab",
        "api": {"reachable": False, "url": "https://10.0.0.1:6443", "error": "connection refused"},
        "nodes": [],
        "hosts": [
            {"name": "wk1", "reachable": True, "error": None, "services": {}},
            {
                "name": "wk2",
                "reachable": False,
                "error": "wk2: unreachable at 10.0.0.3:22: timed out",
            },
        ],
    }
    assert cmd.problems(data) == [
        "cluster lab: the API at https://10.0.0.1:6443 does not answer: connection refused",
        "host wk2: wk2: unreachable at 10.0.0.3:22: timed out",
    ]


def test_the_table_shows_the_services_even_without_the_api(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cmd.ui, "console", Console(file=out, width=200, color_system=None))
    cmd.render_table(
        {
            "cluster": "lab",
            "api": {
                "reachable": False,
                "url": "https://10.0.0.1:6443",
                "error": "x",
                "version": None,
            },
            "nodes": [],
            "hosts": [
                {
                    "name": "cp1",
                    "address": "10.0.0.1",
                    "groups": ["etcd"],
                    "reachable": True,
                    "error": None,
                    "services": {"etcd": "active", "kube-apiserver": "failed"},
                }
            ],
        }
    )
    text = out.getvalue()
    assert "not answering" in text and "etcd active" in text and "kube-apiserver failed" in text


def test_a_stopped_machine_is_shown_as_such_and_not_dialled(monkeypatch):
    from k8sboot.cluster_status import read_services
    from k8sboot.inventory.model import Host

    class NoDialling:
        def get(self, host):  # noqa: ANN001, ANN201
            raise AssertionError("a stopped machine must not be dialled")

    host = Host(name="local", address="10.125.0.11", groups=["etcd", "control_plane", "nodes"])
    entry = read_services(NoDialling(), host, machine="stopped")  # type: ignore[arg-type]
    assert entry["machine"] == "stopped" and entry["reachable"] is False
    assert entry["error"] == "its machine is stopped (`k8sboot start` boots it)"

    out = io.StringIO()
    monkeypatch.setattr(cmd.ui, "console", Console(file=out, width=200, color_system=None))
    cmd.render_table({"cluster": "local", "nodes": [], "hosts": [entry],
                      "api": {"reachable": False, "url": "https://10.125.0.11:6443", "error": "x", "version": None}})
    header = next(line for line in out.getvalue().splitlines() if "HOST" in line)
    assert "MACHINE" in header
    assert "stopped" in out.getvalue() and "unreachable" in out.getvalue()
    assert cmd.problems({"cluster": "local", "api": {"reachable": True}, "hosts": [entry]}) == [
        "host local: its machine is stopped (`k8sboot start` boots it)"]


def test_hosts_without_a_provider_get_no_machine_column(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(cmd.ui, "console", Console(file=out, width=200, color_system=None))
    cmd.render_table({"cluster": "lab", "nodes": [], "api": {"reachable": False, "url": "u", "error": "x",
                                                             "version": None},
                      "hosts": [{"name": "cp1", "address": "10.0.0.1", "groups": ["etcd"], "reachable": True,
                                 "error": None, "services": {"etcd": "active"}}]})
    assert "MACHINE" not in out.getvalue()
