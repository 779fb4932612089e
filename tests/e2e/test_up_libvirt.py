"""The default cluster (`k8sboot up` with no inventory): one libvirt VM k8sboot provisions itself.

Software-emulated here (TCG, LAB.md): slow, but it proves the provider, the
roles on a real Debian kernel (modules loaded by the node role, not built in)
and the whole life of the default cluster: up, rerun, stop, start, down.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.helpers import k8sboot, kubectl
from tests.e2e.test_engine_on_hosts import recap

pytestmark = [pytest.mark.lab, pytest.mark.vm]


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True,
                          check=False).stdout


def ready(home) -> dict[str, str]:  # noqa: ANN001
    kubeconfig = k8sboot("kubeconfig", home=home).stdout.strip()
    out = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
            for n in json.loads(out)["items"]}


def test_the_default_vm_cluster_lives_up_rerun_stop_start_down(tmp_path):
    home = tmp_path
    try:
        r = k8sboot("up", home=home, timeout=1800)  # software emulation: minutes, more under load
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
        assert ready(home) == {"local": "True"}
        kubeconfig = k8sboot("kubeconfig", home=home).stdout.strip()
        info = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "node", "local", "-o",
                               "jsonpath={.status.nodeInfo.kernelVersion}"],
                              capture_output=True, text=True, check=True).stdout
        assert info.endswith("-amd64")  # Debian's kernel in the VM, not the lab host's

        again = k8sboot("up", home=home)
        assert again.returncode == 0, again.stderr[-3000:]
        assert recap(again.stdout)["local"]["changed"] == 0

        assert k8sboot("stop", home=home).returncode == 0
        assert "k8sboot-local" in virsh("list", "--all", "--name")  # shut off, still defined
        assert "k8sboot-local" not in virsh("list", "--name")
        r = k8sboot("start", home=home, timeout=1800)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
        assert ready(home) == {"local": "True"}
    finally:
        d = k8sboot("down", "--yes", home=home)
        assert d.returncode == 0, d.stdout[-3000:] + d.stderr[-3000:]
    assert "k8sboot-local" not in virsh("list", "--all", "--name")
    assert "k8sboot-local" not in virsh("net-list", "--all", "--name")
    assert not (home / "clusters" / "local").exists()
