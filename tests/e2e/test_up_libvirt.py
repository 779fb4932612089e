"""`k8sboot up` on a libvirt VM that k8sboot provisions itself: a one-node cluster.

Software-emulated here (TCG, LAB.md): slow, but it proves the provider and the
roles on a real kernel (modules loaded by the node role, not built in).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.helpers import BINARIES, k8sboot, kubectl
from tests.e2e.test_engine_on_hosts import recap

pytestmark = [pytest.mark.lab, pytest.mark.vm]


def test_a_provisioned_vm_becomes_a_ready_one_node_cluster(tmp_path):
    inv = tmp_path / "vm.yml"
    inv.write_text(json.dumps({
        "cluster": {"name": "vmone", "binaries": BINARIES,
                    "provider": {"type": "libvirt", "network": "192.168.151.0/24"}},
        "hosts": {"vm1": {"provider": "libvirt", "groups": ["etcd", "control_plane", "nodes"],
                          "cpus": 2, "memory": 2048}},
    }))
    try:
        r = k8sboot("up", "-i", str(inv), home=tmp_path)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
        kubeconfig = k8sboot("kubeconfig", "-i", str(inv), home=tmp_path).stdout.strip()
        out = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        nodes = json.loads(out)["items"]
        assert [n["metadata"]["name"] for n in nodes] == ["vm1"]
        ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
        assert ready == "True"
        # a real Debian kernel: the VM's node info is not the lab host's
        assert nodes[0]["status"]["nodeInfo"]["kernelVersion"].endswith("-amd64")

        again = k8sboot("up", "-i", str(inv), home=tmp_path)
        assert again.returncode == 0, again.stderr[-3000:]
        assert recap(again.stdout)["vm1"]["changed"] == 0
    finally:
        d = k8sboot("destroy", "-i", str(inv), home=tmp_path)
        assert d.returncode == 0, d.stderr
    listed = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
                            capture_output=True, text=True).stdout
    assert "vmone" not in listed
