"""A VM cluster k8sboot provisions itself: the shipped inventory/local-vm.yml, one libvirt VM.
Software-emulated here (TCG, LAB.md): slow, but it proves the provider and the roles on
a real Debian kernel (modules loaded by the node role, not built in): up, stop (the VM
shut off, still defined), down. The rerun that changes nothing and start after stop are
the default container cluster's test (test_default_cluster.py), on the same roles: under
TCG on this kind of machine each costs a minute or more (the VM's up alone takes ~9 min).
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.helpers import REPO, k8sboot, kubectl

pytestmark = [pytest.mark.lab, pytest.mark.vm]


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True,
                          check=False).stdout


INVENTORY = str(REPO / "inventory" / "local-vm.yml")
DOMAIN = "k8sboot-local-vm-local-vm"  # k8sboot-<cluster>-<host>
NETWORK = "k8sboot-local-vm"


def ready(home) -> dict[str, str]:
    kubeconfig = k8sboot("kubeconfig", "-i", INVENTORY, home=home).stdout.strip()
    out = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
            for n in json.loads(out)["items"]}


def test_the_vm_cluster_lives_up_stop_down(tmp_path):
    home = tmp_path
    try:
        r = k8sboot("up", "-i", INVENTORY, home=home, timeout=1800)  # TCG: minutes, more under load
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
        assert ready(home) == {"local-vm": "True"}
        kubeconfig = k8sboot("kubeconfig", "-i", INVENTORY, home=home).stdout.strip()
        info = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "node", "local-vm",
                               "-o", "jsonpath={.status.nodeInfo.kernelVersion}"],
                              capture_output=True, text=True, check=True).stdout
        assert info.endswith("-amd64")  # Debian's kernel in the VM, not the lab host's

        stop = k8sboot("stop", "-i", INVENTORY, home=home, timeout=600)
        assert stop.returncode == 0, stop.stdout[-3000:] + stop.stderr[-3000:]
        assert DOMAIN in virsh("list", "--all", "--name").split()  # shut off, still defined
        assert DOMAIN not in virsh("list", "--name").split()
    finally:
        d = k8sboot("down", "--yes", "-i", INVENTORY, home=home)
        assert d.returncode == 0, d.stdout[-3000:] + d.stderr[-3000:]
    assert DOMAIN not in virsh("list", "--all", "--name").split()
    assert NETWORK not in virsh("net-list", "--all", "--name").split()
    assert not (home / "clusters" / "local-vm").exists()
