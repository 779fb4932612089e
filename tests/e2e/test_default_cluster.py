"""The default cluster (`k8sboot up` with no inventory, what `make up` runs): one LXC
system container that k8sboot makes itself, then its whole life: up, a rerun that
changes nothing, stop, start, down. The container provider is checked from outside
k8sboot with LXC's own tools.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from k8sboot.inventory import load_inventory
from k8sboot.providers.lxc.names import bridge_name, container_name, lxc_path
from k8sboot.providers.lxc.settings import LxcSettings
from tests.e2e.helpers import REPO, k8sboot, kubectl
from tests.e2e.test_engine_on_hosts import recap

pytestmark = [pytest.mark.lab]

INVENTORY = load_inventory(REPO / "inventory" / "local.yml")
HOST = INVENTORY.hosts["local"]
LXCPATH = lxc_path(LxcSettings.from_inventory(INVENTORY), INVENTORY)
CONTAINER = container_name(INVENTORY, HOST)
BRIDGE = bridge_name(INVENTORY)


def lxc_state() -> str:
    if not (LXCPATH / CONTAINER / "config").exists():
        return "absent"
    return subprocess.run(["lxc-info", "-P", str(LXCPATH), "-n", CONTAINER, "-s", "-H"],
                          capture_output=True, text=True, check=False).stdout.strip()


def bridge_exists() -> bool:
    return subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True,
                          check=False).returncode == 0


def nodes(home: Path) -> dict[str, dict[str, str]]:
    kubeconfig = k8sboot("kubeconfig", home=home).stdout.strip()
    out = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {n["metadata"]["name"]: {"ready": {c["type"]: c["status"]
                                              for c in n["status"]["conditions"]}["Ready"],
                                    "kernel": n["status"]["nodeInfo"]["kernelVersion"],
                                    "address": next(a["address"] for a in n["status"]["addresses"]
                                                    if a["type"] == "InternalIP")}
            for n in json.loads(out)["items"]}


def test_the_default_container_cluster_lives_up_rerun_stop_start_down(tmp_path: Path) -> None:
    home = tmp_path
    assert lxc_state() == "absent", f"a leftover {CONTAINER} in {LXCPATH}: remove it first"
    try:
        up = k8sboot("up", home=home, timeout=900)
        assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
        assert lxc_state() == "RUNNING"
        machine = json.loads((home / "clusters" / "local" / "machines.json").read_text())["local"]
        assert (machine["provider"], machine["address"], machine["container"]) == \
            ("lxc", "10.125.0.11", CONTAINER)
        seen = nodes(home)
        assert seen["local"]["ready"] == "True"
        assert seen["local"]["address"] == "10.125.0.11"
        # a container runs on this machine's own kernel (a VM would report Debian's)
        assert seen["local"]["kernel"] == subprocess.run(["uname", "-r"], capture_output=True,
                                                         text=True, check=True).stdout.strip()

        again = k8sboot("up", home=home)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert recap(again.stdout)["local"]["changed"] == 0
        assert "already running" in again.stdout + again.stderr
        # the preview found nothing to change, so the roll ran no play (a preview that failed on a
        # probe skipped in check mode once made every no-op rerun run the node role a second time)
        assert "nodes: nothing to change on local" in again.stdout, again.stdout[-3000:]
        assert "nodes without drain" not in again.stdout, again.stdout[-3000:]

        stop = k8sboot("stop", home=home, timeout=300)
        assert stop.returncode == 0, stop.stdout[-3000:] + stop.stderr[-3000:]
        assert lxc_state() == "STOPPED"  # shut down, its disk kept
        assert (LXCPATH / CONTAINER / "rootfs" / "etc/kubernetes").is_dir()
        status = k8sboot("status", "-o", "json", home=home, timeout=120)
        assert status.returncode == 1, status.stdout[-3000:] + status.stderr[-3000:]
        data = json.loads(status.stdout)
        host = data["hosts"][0]
        assert (host["machine"], host["reachable"]) == ("stopped", False), host
        assert "host local: its machine is stopped" in status.stderr + status.stdout
        # nor are the API and etcd dialled on a machine that is known to be stopped (seconds of timeouts)
        assert data["api"]["error"] == "its machine (local) is stopped (`k8sboot start` boots it)", data["api"]
        assert data["etcd"]["summary"].startswith("etcd cannot be asked: its machine (local)"), data["etcd"]

        start = k8sboot("start", home=home, timeout=600)
        assert start.returncode == 0, start.stdout[-4000:] + start.stderr[-4000:]
        assert lxc_state() == "RUNNING"
        assert nodes(home)["local"]["ready"] == "True"
    finally:
        down = k8sboot("down", "--yes", home=home, timeout=300)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert lxc_state() == "absent"
    assert not LXCPATH.exists()
    assert not bridge_exists()
    assert not (home / "clusters" / "local").exists()
