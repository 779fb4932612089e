"""Which binaries the control planes get fetched ahead (phases/stage_binaries.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from k8sboot.binaries.components import ALL
from k8sboot.binaries.resolve import ResolvedBinary
from k8sboot.cluster_layout import CONTROL_PLANE
from k8sboot.phases.learned import Learned
from k8sboot.phases.stage_binaries import StageBinaries

BINARIES = {c: ResolvedBinary(c, Path(f"/b/{c}"), f"{c}-sha", "v1.20.2", "dir:/b") for c in ALL}


def wanted(installed: dict[str, dict[str, str | None]]) -> dict[str, list[str]]:
    hosts = [SimpleNamespace(name=n) for n in installed]
    ctx = SimpleNamespace(learned=Learned(binaries=BINARIES, installed=installed),
                          inventory=SimpleNamespace(hosts_in=lambda group: hosts if group == CONTROL_PLANE else []))
    return {h: [b.component for b in bs] for h, bs in StageBinaries(CONTROL_PLANE).wanted(ctx).items()}  # type: ignore[arg-type]


def test_a_new_control_plane_gets_the_three_binaries_its_role_installs():
    # kubectl is the admin's tool, installed by no role: a staged copy would never be taken
    assert wanted({"cp1": {}}) == {"cp1": ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]}


def test_what_already_runs_is_not_fetched_and_a_new_build_is():
    running = {"kube-apiserver": "kube-apiserver-sha", "kube-controller-manager": "kube-controller-manager-sha",
               "kube-scheduler": "kube-scheduler-sha"}
    assert wanted({"cp1": running, "cp2": {**running, "kube-apiserver": "older"}}) == {"cp2": ["kube-apiserver"]}


def test_the_phase_title_names_the_group():
    assert StageBinaries(CONTROL_PLANE).title == "fetch control plane binaries"
