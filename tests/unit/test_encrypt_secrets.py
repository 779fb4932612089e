"""Rewriting every Secret once encryption at rest is on: conflicts retried, deletions skipped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from k8sboot.errors import RunError
from k8sboot.phases import encrypt_secrets


class FakeCore:
    def __init__(self, secrets: list[tuple[str, str]], fail: dict[str, list[int]]):
        self.secrets = [SimpleNamespace(metadata=SimpleNamespace(namespace=ns, name=n)) for ns, n in secrets]
        self.fail = fail  # name -> statuses to answer, in order, before succeeding
        self.replaced: list[str] = []
        self.reads: list[str] = []

    def list_secret_for_all_namespaces(self, **_: Any) -> Any:
        return SimpleNamespace(items=self.secrets)

    def replace_namespaced_secret(self, name: str, ns: str, body: Any, **_: Any) -> None:
        statuses = self.fail.get(name, [])
        if statuses:
            raise ApiException(status=statuses.pop(0), reason="test")
        self.replaced.append(f"{ns}/{name}")

    def read_namespaced_secret(self, name: str, ns: str, **_: Any) -> Any:
        self.reads.append(name)
        return SimpleNamespace(metadata=SimpleNamespace(namespace=ns, name=name))


def patch_core(monkeypatch: pytest.MonkeyPatch, core: FakeCore) -> None:
    import kubernetes.client

    monkeypatch.setattr(kubernetes.client, "CoreV1Api", lambda api: core)


def test_every_secret_is_written_again_a_conflict_is_read_and_retried_a_deleted_one_skipped(monkeypatch):
    core = FakeCore([("default", "a"), ("kube-system", "b"), ("default", "gone")], {"b": [409], "gone": [404]})
    patch_core(monkeypatch, core)
    assert encrypt_secrets.rewrite_secrets(object()) == 2
    assert core.replaced == ["default/a", "kube-system/b"] and core.reads == ["b"]


def test_another_error_names_the_secret(monkeypatch):
    core = FakeCore([("default", "a")], {"a": [403]})
    patch_core(monkeypatch, core)
    with pytest.raises(RunError, match="default/a"):
        encrypt_secrets.rewrite_secrets(object())
