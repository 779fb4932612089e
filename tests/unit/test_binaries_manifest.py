"""The binaries manifest (binaries.json) and the cluster's Kubernetes version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k8sboot.binaries import ResolvedBinary, kubernetes_version, read_manifest, write_manifest
from k8sboot.errors import InputError
from k8sboot.state import ClusterState


def binary(component: str, version: str) -> ResolvedBinary:
    return ResolvedBinary(component, Path(f"/b/{component}"), f"{len(component):064x}", version,
                          "dir:/b")


def cluster(**versions: str) -> dict[str, ResolvedBinary]:
    base = {"etcd": "3.4.23", "kube-apiserver": "v1.20.2", "kube-controller-manager": "v1.20.2",
            "kube-scheduler": "v1.20.2", "kubelet": "v1.20.2", "kube-proxy": "v1.20.2"}
    base.update({k.replace("_", "-"): v for k, v in versions.items()})
    return {c: binary(c, v) for c, v in base.items()}


def test_manifest_round_trip(tmp_path: Path) -> None:
    state = ClusterState(tmp_path / "state")
    resolved = cluster(kubectl="v1.21.0")
    path = write_manifest(state, resolved)
    assert path == state.binaries_manifest
    data = json.loads(path.read_text())
    assert data["kubelet"] == {"path": "/b/kubelet", "sha256": f"{7:064x}", "version": "v1.20.2",
                               "source": "dir:/b"}
    assert read_manifest(state) == resolved


def test_manifest_absent_or_damaged(tmp_path: Path) -> None:
    state = ClusterState(tmp_path / "state")
    assert read_manifest(state) == {}
    state.ensure()
    state.binaries_manifest.write_text("{not json")
    with pytest.raises(InputError, match="damaged binaries manifest"):
        read_manifest(state)
    state.binaries_manifest.write_text('{"kubelet": {"path": "/x"}}')
    with pytest.raises(InputError, match="entry 'kubelet' lacks"):
        read_manifest(state)


def test_kubernetes_version_is_the_apiservers() -> None:
    assert kubernetes_version(cluster()) == "v1.20.2"
    # patch releases of one minor may mix (a node upgraded first)
    assert kubernetes_version(cluster(kubelet="v1.20.1", kube_apiserver="v1.20.4")) == "v1.20.4"
    # kubectl is a client: its own skew rules, not checked here
    assert kubernetes_version(cluster(kubectl="v1.21.0")) == "v1.20.2"


def test_minor_version_mismatch_is_an_error() -> None:
    with pytest.raises(InputError) as e:
        kubernetes_version(cluster(kubelet="v1.19.7"))
    msg = str(e.value)
    assert e.value.exit_code == 2
    assert "disagree in minor version" in msg
    assert "kubelet v1.19.7 (/b/kubelet)" in msg and "kube-apiserver v1.20.2" in msg


def test_no_kube_components_is_an_error() -> None:
    with pytest.raises(InputError, match="no Kubernetes component"):
        kubernetes_version({"etcd": binary("etcd", "3.4.23")})
