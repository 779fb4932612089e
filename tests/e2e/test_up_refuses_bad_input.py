"""Bad input and unfit hosts stop `k8sboot up` with one clear error, before anything is installed."""

from __future__ import annotations

import hashlib

import pytest

from tests.e2e.helpers import BINARIES, KUBE_BIN, k8sboot, ssh, write_inventory
from tests.lab.containers import LabHost

pytestmark = pytest.mark.lab

NOWHERE = "10.123.0.251"  # nothing answers there: any attempt to connect would fail differently


def test_missing_binaries_are_reported_before_any_host_is_touched(tmp_path, lab_hosts):
    inv = write_inventory(tmp_path / "inv.yml", "nobin",
                          {"h": {"address": NOWHERE, "groups": ["etcd", "control_plane", "nodes"]}},
                          key=lab_hosts["eng-a"].key_path,
                          binaries={"dir": str(tmp_path / "no-such-dir"), "etcd": {"path": "/usr/bin/etcd"}})
    r = k8sboot("up", "-i", str(inv), home=tmp_path)
    assert r.returncode == 2
    assert "kube-apiserver" in r.stderr and "no-such-dir" in r.stderr
    assert "unreachable" not in r.stderr


def test_a_wrong_checksum_is_reported_before_any_host_is_touched(tmp_path, lab_hosts):
    kubelet = KUBE_BIN / "kubelet"
    wrong = hashlib.sha256(b"not the kubelet").hexdigest()
    inv = write_inventory(tmp_path / "inv.yml", "badsum",
                          {"h": {"address": NOWHERE, "groups": ["etcd", "control_plane", "nodes"]}},
                          key=lab_hosts["eng-a"].key_path,
                          binaries={**BINARIES, "kubelet": {"url": f"file://{kubelet}", "sha256": wrong}})
    r = k8sboot("up", "-i", str(inv), home=tmp_path)
    assert r.returncode == 2
    assert "kubelet" in r.stderr and "sha256" in r.stderr.lower()


def test_a_port_in_use_fails_preflight_naming_host_and_port(tmp_path, lab_hosts):
    host: LabHost = lab_hosts["eng-a"]
    code, out = ssh(host, "systemd-run --unit squatter socat TCP-LISTEN:6443,fork,reuseaddr /dev/null "
                          "&& sleep 0.5 && ss -Htln sport = :6443")
    assert code == 0 and "6443" in out, out
    try:
        inv = write_inventory(tmp_path / "inv.yml", "squat",
                              {"eng-a": {"address": host.address, "groups": ["etcd", "control_plane", "nodes"]}},
                              key=host.key_path, binaries=BINARIES)
        r = k8sboot("up", "-i", str(inv), home=tmp_path)
        assert r.returncode == 1
        assert "eng-a" in r.stderr and "port 6443" in r.stderr and "socat" in r.stderr
        # nothing was installed
        code, out = ssh(host, "ls /usr/local/bin/etcd /usr/local/bin/kube-apiserver /etc/kubernetes 2>&1")
        assert "No such file" in out and "/usr/local/bin/etcd\n" not in out
    finally:
        ssh(host, "systemctl stop squatter")
