"""Kubernetes' version-skew rules, checked before a roll starts.

The supported order of an upgrade is apiservers first, then the other control
plane components, then kubelets and kube-proxies; within one minor step at a
time. So, for the versions a roll goes from and to:
- no component moves more than one minor version in one roll (no skipping);
- no component goes down a minor version (a downgrade is not an upgrade);
- a kubelet or kube-proxy is never newer than the oldest apiserver the cluster
  will run, and at most two minors older (the rule of 1.20: n-2);
- controller-manager and scheduler are not newer than the apiserver.
Versions are compared by (major, minor): patch releases of one minor may mix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from k8sboot.upgrade.roll_plan import UNKNOWN, RollPlan

_VERSION = re.compile(r"^v?(\d+)\.(\d+)")
APISERVER = "kube-apiserver"
NODE_COMPONENTS = ("kubelet", "kube-proxy")
CONTROLLERS = ("kube-controller-manager", "kube-scheduler")
NODE_MAX_BEHIND = 2


def minor(version: str) -> tuple[int, int] | None:
    m = _VERSION.match(version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def skew_problems(plan: RollPlan, new_versions: Mapping[str, str]) -> list[str]:
    """Every rule the roll would break (empty when it may start). etcd is left out: its
    own rule (one minor at a time) is checked the same way by the first rule."""
    problems: list[str] = []
    for h in plan.hosts:
        for c in h.changes:
            old, new = minor(c.old_version), minor(c.new_version)
            if old is None or new is None or c.old_version == UNKNOWN:
                continue
            if old[0] != new[0] or new[1] > old[1] + 1:
                problems.append(f"{h.host}: {c.component} {c.old_version} -> {c.new_version} skips a minor "
                                f"version: upgrade one minor version at a time")
            elif new < old:
                problems.append(f"{h.host}: {c.component} {c.old_version} -> {c.new_version} is a downgrade "
                                f"across minor versions, which Kubernetes does not support")
    api = minor(new_versions.get(APISERVER, ""))
    if api is not None:
        for comp in CONTROLLERS:
            v = minor(new_versions.get(comp, ""))
            if v is not None and v > api:
                problems.append(f"{comp} {new_versions[comp]} would be newer than kube-apiserver "
                                f"{new_versions[APISERVER]}")
        for comp in NODE_COMPONENTS:
            v = minor(new_versions.get(comp, ""))
            if v is None:
                continue
            if v > api:
                problems.append(f"{comp} {new_versions[comp]} would be newer than kube-apiserver "
                                f"{new_versions[APISERVER]}: roll the apiservers to it first")
            elif v[0] == api[0] and api[1] - v[1] > NODE_MAX_BEHIND:
                problems.append(f"{comp} {new_versions[comp]} would be more than {NODE_MAX_BEHIND} minor "
                                f"versions older than kube-apiserver {new_versions[APISERVER]}")
    return problems

