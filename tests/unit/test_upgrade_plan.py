"""The plan of a roll, the version-skew rules, and which node changes need a drain: pure logic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from k8sboot.binaries.source_tree import tree_fingerprint
from k8sboot.commands.dev import wanted_components
from k8sboot.engine.runner import load_roles
from k8sboot.errors import InputError
from k8sboot.inventory.model import Host
from k8sboot.paths import ROLES_DIR
from k8sboot.phases.node_roll import batches, needs_drain
from k8sboot.upgrade.roll_plan import UNKNOWN, Wanted, build_roll_plan
from k8sboot.upgrade.skew import skew_problems

A, B, C = "a" * 64, "b" * 64, "c" * 64
STAGES = [("etcd", ["e1", "e2"], ["etcd"]),
          ("control plane", ["cp1"], ["kube-apiserver", "kube-scheduler"]),
          ("nodes", ["cp1", "n1"], ["kubelet", "kube-proxy"])]


def test_only_installed_binaries_that_differ_are_in_the_plan_in_stage_order():
    installed = {"e1": {"etcd": A}, "e2": {"etcd": B},
                 "cp1": {"kube-apiserver": A, "kube-scheduler": A, "kubelet": A, "kube-proxy": None},
                 "n1": {}}
    wanted = {"etcd": Wanted(B, "3.5.16"), "kube-apiserver": Wanted(A, "v1.20.2"),
              "kube-scheduler": Wanted(C, "v1.20.3"), "kubelet": Wanted(C, "v1.20.3"),
              "kube-proxy": Wanted(C, "v1.20.3")}
    plan = build_roll_plan(STAGES, installed, wanted, {A: "3.4.23"})
    assert [(h.stage, h.host, sorted(h.components)) for h in plan.hosts] == [
        ("etcd", "e1", ["etcd"]),                     # e2 already runs the new build
        ("control plane", "cp1", ["kube-scheduler"]),  # the apiserver is unchanged
        ("nodes", "cp1", ["kubelet"]),                 # kube-proxy not installed yet: a first install
    ]                                                  # n1 has nothing installed: not part of the roll
    assert plan.hosts[0].changes[0].describe() == f"etcd: 3.4.23 ({A[:12]}) -> 3.5.16 ({B[:12]})"
    assert plan.hosts[1].changes[0].old_version == "3.4.23"  # known by sha, whatever the component
    assert plan.changing("cp1", "nodes") == {"kubelet"}
    assert plan.lines()[:2] == ["etcd: e1", f"    etcd: 3.4.23 ({A[:12]}) -> 3.5.16 ({B[:12]})"]


def test_an_unchanged_cluster_has_an_empty_plan():
    installed = {"e1": {"etcd": A}}
    assert build_roll_plan(STAGES, installed, {"etcd": Wanted(A, "3.4.23")}, {}).empty


def plan_of(component: str, old: str, new: str):
    return build_roll_plan([("nodes", ["h"], [component])], {"h": {component: A}},
                           {component: Wanted(B, new)}, {A: old} if old != UNKNOWN else {})


@pytest.mark.parametrize(("component", "old", "new", "problem"), [
    ("kubelet", "v1.20.2", "v1.20.3-dev.1", None),
    ("kube-apiserver", "v1.20.2", "v1.21.0", None),
    ("kube-apiserver", "v1.20.2", "v1.22.1", "skips a minor version"),
    ("kube-apiserver", "v1.21.0", "v1.20.2", "downgrade"),
    ("etcd", "3.4.23", "3.5.16", None),
    ("etcd", "3.3.1", "3.5.16", "skips a minor version"),
    ("kubelet", UNKNOWN, "v1.22.0", None),  # an old version nobody recorded cannot be judged
])
def test_skew_of_one_component(component: str, old: str, new: str, problem: str | None):
    problems = skew_problems(plan_of(component, old, new), {})
    assert (problems == []) if problem is None else (problem in problems[0]), problems


def test_a_kubelet_newer_than_the_apiserver_is_refused_and_one_three_minors_older_too():
    plan = build_roll_plan([], {}, {}, {})
    assert "newer than kube-apiserver" in skew_problems(plan, {"kube-apiserver": "v1.20.2",
                                                              "kubelet": "v1.21.0"})[0]
    assert "more than 2 minor" in skew_problems(plan, {"kube-apiserver": "v1.23.0", "kubelet": "v1.20.2"})[0]
    assert "newer than kube-apiserver" in skew_problems(plan, {"kube-apiserver": "v1.20.2",
                                                              "kube-scheduler": "v1.21.0"})[0]
    assert skew_problems(plan, {"kube-apiserver": "v1.20.2", "kubelet": "v1.20.3-k8sboot.1"}) == []


def test_only_kubelet_or_containerd_restarts_drain_a_node():
    assert needs_drain({"restart kubelet"})
    assert needs_drain({"restart containerd", "restart kube-proxy"})
    assert not needs_drain({"restart kube-proxy"})
    assert not needs_drain({"reload apiserver-lb"})
    assert not needs_drain(set())  # a sysctl, say: nothing restarts
    assert not needs_drain({"kubelet certificates changed"})  # certs renew: pods run on through it


def test_new_kubelet_credentials_restart_the_kubelet_without_a_drain_and_its_binary_drains():
    (role,) = load_roles(["node"], [ROLES_DIR])
    notified = {t.name: set(t.notify) for t in role.tasks}
    restart = next(h for h in role.handlers if h.name == "restart kubelet")
    assert notified["Install the kubelet's certificates and kubeconfig"] == {"kubelet certificates changed"}
    assert "kubelet certificates changed" in restart.listen  # the kubelet does restart for them
    assert not needs_drain(notified["Install the kubelet's certificates and kubeconfig"])
    assert needs_drain(notified["Install kubelet"]) and needs_drain(notified["Write the kubelet configuration"])


def test_batches_of_max_unavailable():
    hosts = [Host(f"h{i}", "10.0.0.1") for i in range(5)]
    assert [[h.name for h in b] for b in batches(hosts, 2)] == [["h0", "h1"], ["h2", "h3"], ["h4"]]
    assert len(batches(hosts, 1)) == 5


def test_the_dev_loop_builds_what_the_inventory_runs_or_what_was_asked():
    groups = {"control_plane", "nodes"}
    assert wanted_components(None, groups) == ["kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                               "kubelet", "kube-proxy"]
    assert wanted_components(["kube-scheduler"], groups) == ["kube-scheduler"]
    with pytest.raises(InputError, match="etcd is not part of Kubernetes"):
        wanted_components(["etcd"], groups)
    with pytest.raises(InputError, match="the inventory runs no kube-apiserver"):
        wanted_components(["kube-apiserver"], {"nodes"})


def test_the_tree_fingerprint_changes_with_a_file_or_the_version_env_not_with_the_output(tmp_path: Path):
    (tmp_path / "cmd").mkdir()
    f = tmp_path / "cmd" / "main.go"
    f.write_text("package main\n")
    (tmp_path / "_output").mkdir()
    first = tree_fingerprint(tmp_path, ["kubelet"], {})
    (tmp_path / "_output" / "kubelet").write_text("built")
    assert tree_fingerprint(tmp_path, ["kubelet"], {}) == first
    assert tree_fingerprint(tmp_path, ["kube-proxy"], {}) != first
    version = tmp_path.parent / "v.env"
    version.write_text("KUBE_GIT_VERSION=v1\n")
    with_file = tree_fingerprint(tmp_path, ["kubelet"], {"KUBE_GIT_VERSION_FILE": str(version)})
    assert with_file != first
    version.write_text("KUBE_GIT_VERSION=v2\n")
    assert tree_fingerprint(tmp_path, ["kubelet"], {"KUBE_GIT_VERSION_FILE": str(version)}) != with_file
    st = f.stat()
    f.write_text("package main // edited\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert tree_fingerprint(tmp_path, ["kubelet"], {}) != first


@pytest.mark.parametrize("argv", [["up"], ["start"], ["dev", "/src"], ["up", "--max-unavailable", "2"]])
def test_every_command_that_runs_up_has_the_roll_options(argv: list[str]):
    from k8sboot.cli import build_parser
    from k8sboot.commands.up import roll_options
    from k8sboot.inventory.model import Inventory

    args = build_parser().parse_args(argv)
    opts = roll_options(args, Inventory(None, {"name": "t"}, {}, {}))
    assert opts.max_unavailable == (2 if "2" in argv else 1) and opts.drain_timeout == 300.0


def test_max_unavailable_must_be_a_positive_whole_number(capsys):
    from k8sboot.cli import build_parser

    for bad in ("0", "-1", "two"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["up", "--max-unavailable", bad])
    assert "--max-unavailable" in capsys.readouterr().err
