"""NodeRoles tells nodes to install from nodes to preview by the kubelet's state from the facts.

The state comes with the facts of the connect phase (one round trip per host, already
made); only hosts without such facts are asked on their own.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from k8sboot.binaries import components as comps
from k8sboot.kubelet_facts import kubelet_facts_script
from k8sboot.phases import connect, node_roll


def host(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, node_name=name)


def test_the_facts_ask_for_the_kubelets_state():
    assert kubelet_facts_script("kubelet") in connect.FACTS_SCRIPT


@pytest.mark.parametrize("facts_of_w3", [True, False])
def test_running_kubelets_are_previewed_the_others_installed(monkeypatch, facts_of_w3):
    hosts = [host("w1"), host("w2"), host("w3")]
    asked: list[list[str]] = []
    played: list[list[str]] = []
    previewed: list[list[str]] = []

    def unit_states(ctx: Any, hs: list[Any], unit: str) -> dict[str, str]:
        asked.append([h.name for h in hs])
        return {h.name: "active" for h in hs}

    monkeypatch.setattr(node_roll, "unit_states", unit_states)
    monkeypatch.setattr(node_roll, "run_play", lambda ctx, title, hs, roles, v: played.append([h.name for h in hs]))
    monkeypatch.setattr(node_roll, "would_change", lambda ctx, hs, roles, v: previewed.append([h.name for h in hs])
                        or {})
    facts = {"w1": {"kubelet_state": "active"}, "w2": {"kubelet_state": "inactive"}}
    if facts_of_w3:
        facts["w3"] = {"kubelet_state": "activating"}  # crash-looping: rolled too
    installed = {n: {comps.KUBELET: "abc"} for n in ("w1", "w2", "w3")}
    ctx = SimpleNamespace(
        hosts_in=lambda group: hosts,
        plan=SimpleNamespace(vars_for_host=lambda h: {}),
        options=SimpleNamespace(check=False),
        learned=SimpleNamespace(facts=facts, installed=installed, node_changes=None),
    )
    node_roll.NodeRoles().run(ctx)  # type: ignore[arg-type]
    assert asked == ([] if facts_of_w3 else [["w3"]])
    assert played == [["w2"]]
    assert previewed == [["w1", "w3"]]
