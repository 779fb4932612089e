"""Which binaries the control planes get fetched ahead (phases/stage_binaries.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from k8sboot.binaries.components import ALL
from k8sboot.binaries.resolve import ResolvedBinary
from k8sboot.cluster_layout import CONTROL_PLANE
from k8sboot.phases.learned import Learned
from k8sboot.phases.stage_binaries import StageBinaries

BINARIES = {c: ResolvedBinary(c, Path(f"/b/{c}"), f"{c}-sha", "v1.20.2", "dir:/b") for c in ALL}


def wanted(installed: dict[str, dict[str, str | None]]) -> dict[str, list[str]]:
    hosts = [SimpleNamespace(name=n) for n in installed]
    ctx = SimpleNamespace(learned=Learned(binaries=BINARIES, installed=installed),
                          hosts_in=lambda group: hosts if group == CONTROL_PLANE else [])
    phase = StageBinaries(CONTROL_PLANE, ("kube-apiserver", "kube-controller-manager", "kube-scheduler"))
    return {h: [b.component for b in bs] for h, bs in phase.wanted(ctx).items()}  # type: ignore[arg-type]


def test_a_new_control_plane_gets_what_was_asked():
    assert wanted({"cp1": {}}) == {"cp1": ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]}


def test_a_binary_the_role_does_not_install_is_refused():
    # kubectl is the admin's tool, installed by no role: a staged copy would never be taken
    with pytest.raises(ValueError, match="kubectl"):
        StageBinaries(CONTROL_PLANE, ("kube-apiserver", "kubectl"))
    with pytest.raises(ValueError, match="kubelet"):
        StageBinaries(CONTROL_PLANE, ("kubelet",))


def test_what_already_runs_is_not_fetched_and_a_new_build_is():
    running = {"kube-apiserver": "kube-apiserver-sha", "kube-controller-manager": "kube-controller-manager-sha",
               "kube-scheduler": "kube-scheduler-sha"}
    assert wanted({"cp1": running, "cp2": {**running, "kube-apiserver": "older"}}) == {"cp2": ["kube-apiserver"]}


def test_the_phase_title_names_what_it_fetches():
    assert StageBinaries(CONTROL_PLANE, ("kube-apiserver",)).title == "fetch kube-apiserver"
    assert "," not in StageBinaries(CONTROL_PLANE, ("kube-apiserver", "kube-scheduler")).title
