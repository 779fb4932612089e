"""k8sboot verify's pytest plugin, run in-process on test files that need no SSH.

Checks parametrization by inventory group (ids name the host), user test files
beside the shipped ones, warnings, failure reasons and the JUnit report.
"""

from __future__ import annotations

import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.health.plugin import VerifyPlugin, hosts_for
from k8sboot.health.results import FAIL, PASS, WARN
from k8sboot.health.runner import pytest_args, run_checks
from k8sboot.inventory.model import Host, Inventory
from k8sboot.state import ClusterState


def inventory() -> Inventory:
    hosts = {
        "cp1": Host("cp1", "10.0.0.1", groups=["etcd", "control_plane", "nodes"]),
        "wk1": Host("wk1", "10.0.0.2", groups=["nodes"], vars={"node_name": "worker-1"}),
        "db": Host("db", "10.0.0.3", groups=["extra"]),
    }
    return Inventory(
        None,
        {"name": "t"},
        hosts,
        {"etcd": ["cp1"], "control_plane": ["cp1"], "nodes": ["cp1", "wk1"], "extra": ["db"]},
    )


USER_CHECKS = '''
import warnings
import pytest

pytestmark = pytest.mark.group("nodes")

def test_node_name(inventory_host, host_name):
    """node name set"""
    name = inventory_host.node_name
    assert name == host_name, f"{host_name} is called {name}"

@pytest.mark.group("etcd")
def test_only_etcd(host_name, inventory):
    assert host_name in inventory.groups["etcd"]

def test_warns(host_name):
    """a warning"""
    warnings.warn(f"look at {host_name}")
'''


def run_plugin(tmp_path: Path, body: str) -> tuple[int, VerifyPlugin]:
    tests = tmp_path / "mine"
    tests.mkdir()
    # a file name of its own: modules stay imported between in-process pytest runs
    (tests / f"test_{tmp_path.name}.py").write_text(textwrap.dedent(body))
    plugin = VerifyPlugin(inventory(), ClusterState(tmp_path / "state"))
    junit = tmp_path / "report.xml"
    old = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        code = pytest.main(pytest_args([tests], junit, 0), plugins=[plugin])
    finally:
        if old is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = old
    return int(code), plugin


def test_hosts_for_groups_keeps_inventory_order():
    inv = inventory()
    assert [h.name for h in hosts_for(inv, [])] == ["cp1", "wk1", "db"]
    assert [h.name for h in hosts_for(inv, ["extra", "etcd"])] == ["cp1", "db"]


def test_checks_run_per_host_of_their_group_and_report_host_check_result(tmp_path):
    code, plugin = run_plugin(tmp_path, USER_CHECKS)
    got = {(r.host, r.check): (r.status, r.why) for r in plugin.final_results()}
    assert code == 1
    assert got == {
        ("cp1", "node name set"): (PASS, ""),
        ("wk1", "node name set"): (FAIL, "wk1 is called worker-1"),
        # the function's own marker narrows the module's: only etcd hosts
        ("cp1", "only etcd"): (PASS, ""),
        ("cp1", "a warning"): (WARN, "look at cp1"),
        ("wk1", "a warning"): (WARN, "look at wk1"),
    }
    cases = ET.parse(tmp_path / "report.xml").getroot().iter("testcase")
    assert {c.get("name") for c in cases} >= {"test_node_name[wk1]", "test_only_etcd[cp1]"}


def test_a_check_that_needs_no_host_is_reported_under_a_dash(tmp_path):
    code, plugin = run_plugin(
        tmp_path, "def test_cluster_wide(inventory):\n    assert inventory.name == 't'\n"
    )
    assert code == 0
    [r] = plugin.final_results()
    assert (r.host, r.check, r.status) == ("-", "cluster wide", PASS)


def test_a_missing_tests_dir_is_bad_input_before_any_host_is_touched(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        run_checks(inventory(), ClusterState(tmp_path), user_dirs=[str(tmp_path / "nope")])
