"""Which files each host role gets, where, and with which mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.pki import (
    PkiSpec,
    ensure_pki,
    files_for_host,
    read_for_upload,
    remote_mode,
    uploads_for_host,
)

SPEC = PkiSpec(
    "demo",
    control_planes=[("cp1", ["10.0.0.11"])],
    etcd_members=[("e1", ["10.0.0.31"])],
    nodes=[("n1", ["10.0.0.21"]), ("cp1", ["10.0.0.11"])],
)

CONTROL_PLANE = {
    "/etc/kubernetes/pki/ca.crt": "ca.crt",
    "/etc/kubernetes/pki/ca.key": "ca.key",
    "/etc/kubernetes/pki/apiserver.crt": "apiserver.crt",
    "/etc/kubernetes/pki/apiserver.key": "apiserver.key",
    "/etc/kubernetes/pki/apiserver-kubelet-client.crt": "apiserver-kubelet-client.crt",
    "/etc/kubernetes/pki/apiserver-kubelet-client.key": "apiserver-kubelet-client.key",
    "/etc/kubernetes/pki/apiserver-etcd-client.crt": "apiserver-etcd-client.crt",
    "/etc/kubernetes/pki/apiserver-etcd-client.key": "apiserver-etcd-client.key",
    "/etc/kubernetes/pki/etcd/ca.crt": "etcd/ca.crt",
    "/etc/kubernetes/pki/sa.key": "sa.key",
    "/etc/kubernetes/pki/sa.pub": "sa.pub",
    "/etc/kubernetes/pki/front-proxy-ca.crt": "front-proxy-ca.crt",
    "/etc/kubernetes/pki/front-proxy-client.crt": "front-proxy-client.crt",
    "/etc/kubernetes/pki/front-proxy-client.key": "front-proxy-client.key",
    "/etc/kubernetes/pki/encryption-config.yaml": "encryption-config.yaml",
    "/etc/kubernetes/admin.kubeconfig": "kubeconfigs/admin.kubeconfig",
    "/etc/kubernetes/controller-manager.kubeconfig": "kubeconfigs/controller-manager.kubeconfig",
    "/etc/kubernetes/scheduler.kubeconfig": "kubeconfigs/scheduler.kubeconfig",
}
ETCD_E1 = {
    "/etc/etcd/pki/ca.crt": "etcd/ca.crt",
    "/etc/etcd/pki/server.crt": "etcd/e1-server.crt",
    "/etc/etcd/pki/server.key": "etcd/e1-server.key",
    "/etc/etcd/pki/peer.crt": "etcd/e1-peer.crt",
    "/etc/etcd/pki/peer.key": "etcd/e1-peer.key",
    "/etc/etcd/pki/healthcheck-client.crt": "etcd/healthcheck-client.crt",
    "/etc/etcd/pki/healthcheck-client.key": "etcd/healthcheck-client.key",
}
NODE_N1 = {
    "/etc/kubernetes/pki/ca.crt": "ca.crt",
    "/etc/kubernetes/pki/kubelet.crt": "kubelet/n1.crt",
    "/etc/kubernetes/pki/kubelet.key": "kubelet/n1.key",
    "/etc/kubernetes/kubelet.kubeconfig": "kubeconfigs/kubelet-n1.kubeconfig",
    "/etc/kubernetes/kube-proxy.kubeconfig": "kubeconfigs/kube-proxy.kubeconfig",
}


def as_str(files: dict[str, Path]) -> dict[str, str]:
    return {remote: local.as_posix() for remote, local in files.items()}


def test_control_plane_files() -> None:
    assert as_str(files_for_host({"control_plane"}, "cp1")) == CONTROL_PLANE


def test_etcd_member_defaults_to_host_name() -> None:
    assert as_str(files_for_host({"etcd"}, "e1")) == ETCD_E1
    assert as_str(files_for_host({"etcd"}, "host-x", etcd_member="e1")) == ETCD_E1


def test_node_files_use_the_node_name() -> None:
    assert as_str(files_for_host({"nodes"}, "n1")) == NODE_N1
    assert as_str(files_for_host({"nodes"}, "host-x", node_name="n1")) == NODE_N1


def test_roles_combine_and_other_groups_are_ignored() -> None:
    files = as_str(files_for_host(["control_plane", "nodes", "etcd", "gpu"], "cp1"))
    assert set(files) == set(CONTROL_PLANE) | {r.replace("n1", "cp1") for r in NODE_N1} | set(
        ETCD_E1
    )
    assert files["/etc/kubernetes/pki/kubelet.crt"] == "kubelet/cp1.crt"
    assert files["/etc/etcd/pki/server.crt"] == "etcd/cp1-server.crt"
    assert list(files) == sorted(files)
    assert files_for_host({"bastion"}, "b1") == {}


def test_no_host_gets_the_etcd_ca_key() -> None:
    files = files_for_host({"control_plane", "etcd", "nodes"}, "cp1")
    assert all(local.as_posix() != "etcd/ca.key" for local in files.values())


@pytest.mark.parametrize(
    ("remote", "mode"),
    [
        ("/etc/kubernetes/pki/ca.key", 0o600),
        ("/etc/kubernetes/pki/sa.key", 0o600),
        ("/etc/etcd/pki/peer.key", 0o600),
        ("/etc/kubernetes/kubelet.kubeconfig", 0o600),
        ("/etc/kubernetes/pki/ca.crt", 0o644),
        ("/etc/kubernetes/pki/sa.pub", 0o644),
    ],
)
def test_remote_modes(remote: str, mode: int) -> None:
    assert remote_mode(remote) == mode


def test_every_listed_file_exists_after_ensure_pki(tmp_path: Path) -> None:
    root = tmp_path / "pki"
    ensure_pki(SPEC, root)
    for roles, host in [({"control_plane", "nodes"}, "cp1"), ({"etcd"}, "e1"), ({"nodes"}, "n1")]:
        for local in files_for_host(roles, host, pki_dir=root).values():
            assert local.is_absolute() and local.is_file(), local
        uploads = uploads_for_host(root, roles, host)
        assert uploads and all(u.content for u in uploads)
        assert all(u.mode == 0o600 for u in uploads if u.remote_path.endswith(".key"))


def test_reading_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ensure_pki"):
        read_for_upload(tmp_path / "nope.crt")
