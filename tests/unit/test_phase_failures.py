"""Phases under failure: every failing chain is reported; the admin kubeconfig is never readable by others."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sboot.commands.kubeconfig import merge_kubeconfig
from k8sboot.engine.runner import RunOptions
from k8sboot.errors import RunError
from k8sboot.phases.base import RunContext
from k8sboot.phases.parallel import ConcurrentChains
from k8sboot.ui import Reporter


@dataclass
class Fails:
    title: str

    def run(self, ctx: RunContext) -> None:
        raise RunError(f"{self.title} broke on cp1")


@dataclass
class Works:
    title: str
    ran: list[str]

    def run(self, ctx: RunContext) -> None:
        self.ran.append(self.title)


def context() -> RunContext:
    return RunContext(command=None, pool=None, options=RunOptions(), reporter=Reporter(live=False))  # type: ignore[arg-type]


def test_when_both_chains_fail_both_failures_are_reported():
    ran: list[str] = []
    chains = ConcurrentChains("etcd + control plane | nodes",
                              [[Fails("etcd"), Works("control plane", ran)], [Fails("nodes")]])
    ctx = context()
    with pytest.raises(RunError) as e:
        chains.run(ctx)
    assert "etcd broke on cp1" in str(e.value) and "nodes broke on cp1" in str(e.value)
    assert ran == []  # a chain stops at its first failure
    assert {t for t, _ in ctx.timings} == {"etcd", "nodes"}


def test_one_failing_chain_is_reported_as_it_is_and_the_other_chain_finishes():
    ran: list[str] = []
    with pytest.raises(RunError, match="nodes broke"):
        ConcurrentChains("x", [[Works("etcd", ran), Works("control plane", ran)], [Fails("nodes")]]).run(context())
    assert ran == ["etcd", "control plane"]


def _kubeconfig(server: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "users": [{"name": "u", "user": {"client-key-data": "c2VjcmV0"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def test_a_merged_kubeconfig_is_0600_from_its_first_byte_even_with_a_permissive_umask(tmp_path, monkeypatch):
    source = tmp_path / "admin.kubeconfig"
    source.write_text(yaml.safe_dump(_kubeconfig("https://10.0.0.1:6443")))
    target = tmp_path / "kube" / "config"
    target.parent.mkdir()
    target.write_text(yaml.safe_dump(_kubeconfig("https://other:6443")))
    target.chmod(0o644)
    seen: list[int] = []
    real_open = os.open

    def spying_open(path: Any, flags: int, mode: int = 0o777, *a: Any, **kw: Any) -> int:
        fd = real_open(path, flags, mode, *a, **kw)
        if str(path).startswith(str(target.parent)) and flags & os.O_CREAT:
            seen.append(stat.S_IMODE(os.fstat(fd).st_mode))  # the mode at creation, before any write
        return fd

    monkeypatch.setattr(os, "open", spying_open)
    old = os.umask(0)
    try:
        merge_kubeconfig(source, target, "lab")
    finally:
        os.umask(old)
    assert seen and all(m == 0o600 for m in seen), seen
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert yaml.safe_load(target.read_text())["current-context"] == "lab"
    assert Path(target).read_text().count("other:6443") == 1  # the user's own entries kept


@dataclass
class ApiTimesOut:
    title: str

    def run(self, ctx: RunContext) -> None:
        from urllib3.exceptions import MaxRetryError, ReadTimeoutError

        cause = ReadTimeoutError(None, "/api/v1/nodes", "Read timed out.")  # type: ignore[arg-type]
        raise MaxRetryError(None, "/api/v1/nodes", cause)  # type: ignore[arg-type]


def test_an_api_error_no_phase_expected_is_one_line_naming_the_phase_not_a_traceback():
    ctx = context()
    with pytest.raises(RunError, match=r"^roll nodes: the apiserver did not answer as expected \(ReadTimeoutError\)"):
        ConcurrentChains("x", [[ApiTimesOut("roll nodes")], [Works("nodes", [])]]).run(ctx)
    assert {t for t, _ in ctx.timings} == {"roll nodes", "nodes"}
