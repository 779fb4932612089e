"""Ten hosts from nothing with the lxc provider (1 control plane + 9 nodes): all Ready,
a rerun changes nothing, an eleventh node joins without any change on the other ten, a
twelfth joins with `--limit` without the others even being connected to, and down leaves
no container, bridge or state behind. Its own cluster ("ten") on its
own network, so it shares nothing with the other tests.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from k8sboot.inventory import load_inventory
from k8sboot.providers.lxc.names import bridge_name, lxc_path
from k8sboot.providers.lxc.settings import LxcSettings
from tests.e2e.helpers import BINARIES, k8sboot, kubectl
from tests.e2e.test_engine_on_hosts import recap

pytestmark = [pytest.mark.lab]

NETWORK = "10.126.0.0/24"


def write(path: Path, count: int) -> Path:
    hosts = {f"n{i:02d}": {"groups": ["etcd", "control_plane", "nodes"] if i == 1 else ["nodes"]}
             for i in range(1, count + 1)}
    path.write_text(yaml.safe_dump({
        "cluster": {"name": "ten", "binaries": BINARIES,
                    "provider": {"type": "lxc", "network": NETWORK}},
        "defaults": {"provider": "lxc"},
        "hosts": hosts}, sort_keys=False))
    return path


def ready(home: Path, inventory: Path) -> dict[str, str]:
    kubeconfig = k8sboot("kubeconfig", "-i", str(inventory), home=home).stdout.strip()
    out = subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "json"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
            for n in json.loads(out)["items"]}


def transfers(output: str) -> tuple[int, int] | None:
    """(fetched over HTTP, uploaded through SSH) from up's "binaries:" line; None when none moved."""
    m = re.search(r"^binaries: (\d+) fetched by the hosts over HTTP .*?, (\d+) uploaded through SSH$",
                  output, re.MULTILINE)
    return (int(m.group(1)), int(m.group(2))) if m else None


def changed_hosts(output: str) -> set[str]:
    return set(re.findall(r"^(?:\d\d:\d\d:\d\d )?changed: \[([^\]]+)\]", output, re.MULTILINE))


def connected(output: str) -> set[str]:
    """The hosts the connect phase reached: one facts line each ("  n12   debian 12 x86_64 ...")."""
    return set(re.findall(r"^\s+(n\d\d)\s+debian ", output, re.MULTILINE))


def test_ten_containers_become_ready_then_an_eleventh_changes_only_itself(tmp_path: Path) -> None:
    home = tmp_path / "home"
    inventory = write(tmp_path / "ten.yml", 10)
    loaded = load_inventory(inventory)
    lxcpath = lxc_path(LxcSettings.from_inventory(loaded), loaded)
    assert not lxcpath.exists(), f"leftovers of an earlier run in {lxcpath}"
    try:
        up = k8sboot("up", "-i", str(inventory), home=home, timeout=1200)
        assert up.returncode == 0, up.stdout[-5000:] + up.stderr[-5000:]
        assert ready(home, inventory) == {f"n{i:02d}": "True" for i in range(1, 11)}
        # the binaries came by HTTP from the controller, none through paramiko: kubelet and
        # kube-proxy on every node, and n01's etcd and control plane on top
        fetched, uploaded = transfers(up.stdout) or (0, -1)
        assert (fetched >= 2 * 10 + 4, uploaded) == (True, 0), up.stdout[-3000:]
        assert "went through SSH instead" not in up.stderr, up.stderr[-3000:]

        again = k8sboot("up", "-i", str(inventory), home=home)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert {h: c["changed"] for h, c in recap(again.stdout).items()} == \
            {f"n{i:02d}": 0 for i in range(1, 11)}
        assert transfers(again.stdout) is None  # nothing to move on a rerun

        inventory = write(inventory, 11)
        grown = k8sboot("up", "-i", str(inventory), home=home, timeout=600)
        assert grown.returncode == 0, grown.stdout[-5000:] + grown.stderr[-5000:]
        assert changed_hosts(grown.stdout) == {"n11"}, grown.stdout[-5000:]
        assert transfers(grown.stdout) == (2, 0), grown.stdout[-3000:]
        assert ready(home, inventory) == {f"n{i:02d}": "True" for i in range(1, 12)}

        # a twelfth with --limit (kubespray's scale.yml --limit): no other host is even connected to
        inventory = write(inventory, 12)
        limited = k8sboot("up", "-i", str(inventory), "--limit", "n12", home=home, timeout=600)
        assert limited.returncode == 0, limited.stdout[-5000:] + limited.stderr[-5000:]
        assert connected(limited.stdout) == {"n12"}, limited.stdout[-5000:]
        assert set(recap(limited.stdout)) == {"n12"} and changed_hosts(limited.stdout) == {"n12"}, \
            limited.stdout[-5000:]
        assert ready(home, inventory) == {f"n{i:02d}": "True" for i in range(1, 13)}
        refused = k8sboot("up", "-i", str(inventory), "--limit", "n01", home=home)
        assert refused.returncode == 2 and "n01 is in etcd and control_plane" in refused.stderr, \
            refused.stdout[-2000:] + refused.stderr[-2000:]
    finally:
        down = k8sboot("down", "--yes", "-i", str(inventory), home=home, timeout=600)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
    assert not lxcpath.exists()
    assert subprocess.run(["ip", "link", "show", bridge_name(loaded)], capture_output=True,
                          check=False).returncode != 0
