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


def run_phase_with(tmp_path, monkeypatch: pytest.MonkeyPatch, etcd_created: bool, marker: object = None) -> list[str]:
    """EncryptSecrets.run on a state dir with an encryption config; returns the Secrets it rewrote."""
    from k8sboot.phases.learned import Learned
    from k8sboot.pki.encryption import FILE_NAME
    from k8sboot.state import ClusterState
    from tests.unit.test_ha_templates import THREE, plan_of

    state = ClusterState(tmp_path).ensure()
    state.pki_dir.mkdir(parents=True)
    (state.pki_dir / FILE_NAME).write_text("kind: EncryptionConfiguration\n")
    if marker is not None:
        state.write_json(state.root / encrypt_secrets.MARKER, marker)
    core = FakeCore([("kube-system", "token-a")], {})
    patch_core(monkeypatch, core)
    ctx = SimpleNamespace(options=SimpleNamespace(check=False), plan=plan_of(THREE), state=state,
                          learned=Learned(etcd_created=etcd_created), api=lambda: object(),
                          hosts_in=lambda group: [object()])  # a full run: the control plane included
    encrypt_secrets.EncryptSecrets().run(ctx)  # type: ignore[arg-type]
    assert state.read_json(state.root / encrypt_secrets.MARKER, {})["config_sha256"]  # done for this config
    return core.replaced


def test_a_new_etcd_needs_no_rewrite_an_existing_one_does(tmp_path, monkeypatch):
    # etcd made by this run: its apiservers wrote every Secret with the config
    assert run_phase_with(tmp_path / "new", monkeypatch, etcd_created=True) == []
    # etcd that ran before: what it holds may predate the config
    assert run_phase_with(tmp_path / "old", monkeypatch, etcd_created=False) == ["kube-system/token-a"]
    # a marker for another config (a new key) on a running etcd: again
    assert run_phase_with(tmp_path / "rekey", monkeypatch, etcd_created=False,
                          marker={"config_sha256": "other"}) == ["kube-system/token-a"]
