"""The same roles under ansible-playbook: `k8sboot export`, then each tool finds nothing to change after the other.

Clean hosts (ans-*), described by a kubespray INI inventory, are brought up by
ansible-playbook from the exported directory; `k8sboot up` with that same INI
inventory then changes nothing. The other way round, on the
session's shared cluster that `k8sboot up` made: ansible-playbook changes nothing.
The steps depend on each other and run in order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.cluster import Cluster
from tests.e2e.helpers import BINARIES, REPO, k8sboot, kubectl, wait_for_pod_routes
from tests.e2e.test_engine_on_hosts import recap
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

NAMES = ["ans-cp1", "ans-wk1", "ans-wk2"]
PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def ansible_recap(output: str) -> dict[str, dict[str, int]]:
    """`cp1   : ok=54   changed=0   unreachable=0 ...` -> {cp1: {ok: 54, changed: 0, ...}}"""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


def export_and_play(home: Path, inventory: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    r = k8sboot("export", str(directory), "-i", str(inventory), "--in-containers", "--force", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    env = {**os.environ, "ANSIBLE_CONFIG": str(directory / "ansible.cfg"),
           "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1"}
    # a native inventory is exported as inventory.yml; Ansible reads a kubespray one as it is
    written = directory / "inventory.yml"
    ansible_inventory = written if written.exists() else inventory
    return subprocess.run([PLAYBOOK, "-i", str(ansible_inventory), str(directory / "site.yml")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=900,
                          stdin=subprocess.DEVNULL)


class Fresh:
    """Clean hosts described by a kubespray inventory (INI + group_vars), as kubespray users
    have them: both tools read that same directory. (The shared cluster's is native.)"""

    def __init__(self, home: Path, hosts: dict[str, LabHost]):
        self.home = home
        self.hosts = hosts
        spray = home / "mycluster"
        (spray / "group_vars").mkdir(parents=True)
        (spray / "group_vars" / "all.yml").write_text(yaml.safe_dump(
            {"k8sboot_cluster": {"name": "ans", "binaries": BINARIES}}, sort_keys=False))
        address = {n: hosts[f"ans-{n}"].address for n in ("cp1", "wk1", "wk2")}
        (spray / "hosts.ini").write_text(
            "[all]\n"
            f"cp1 ansible_host={address['cp1']} ip={address['cp1']}\n"
            f"wk1 ansible_host={address['wk1']} ip={address['wk1']} ansible_user=admin ansible_become=true\n"
            f"wk2 ansible_host={address['wk2']} ip={address['wk2']}\n\n"
            "[kube_control_plane]\ncp1\n\n[etcd]\ncp1\n\n[kube_node]\ncp1\nwk1\nwk2\n\n"
            "[k8s_cluster:children]\nkube_control_plane\nkube_node\n\n"
            f"[all:vars]\nansible_user=root\nansible_ssh_private_key_file={hosts['ans-cp1'].key_path}\n")
        self.inventory = spray / "hosts.ini"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fresh]:
    lab = ContainerLab()
    try:
        hosts = {h.name: h for h in lab.start(NAMES)}
        yield Fresh(tmp_path_factory.mktemp("ans-home"), hosts)
    finally:
        lab.destroy(NAMES)


def test_1_ansible_playbook_brings_up_clean_hosts_from_the_export(fresh: Fresh):
    r = export_and_play(fresh.home, fresh.inventory, fresh.home / "exported")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert set(ansible_recap(r.stdout)) == {"cp1", "wk1", "wk2"}, r.stdout[-2000:]
    kubeconfig = fresh.home / "clusters" / "ans" / "admin.kubeconfig"
    nodes = subprocess.run([kubectl(), "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
                           capture_output=True, text=True, timeout=60)
    assert nodes.returncode == 0, nodes.stderr
    assert sorted(line.split()[:2] for line in nodes.stdout.splitlines()) == \
        [["cp1", "Ready"], ["wk1", "Ready"], ["wk2", "Ready"]], nodes.stdout
    # the pod network: each node's routes agent, as the pod_routes play left it, routes the others' pods
    nodes = subprocess.run([kubectl(), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json"],
                           capture_output=True, text=True, timeout=60, check=True)
    cidrs = {n["metadata"]["name"]: n["spec"]["podCIDR"] for n in json.loads(nodes.stdout)["items"]}
    wait_for_pod_routes({n: fresh.hosts[f"ans-{n}"] for n in ("cp1", "wk1", "wk2")}, cidrs)


def test_2_after_ansible_k8sboot_up_changes_nothing(fresh: Fresh):
    r = k8sboot("up", "-i", str(fresh.inventory), home=fresh.home)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert {h: c["changed"] for h, c in recap(r.stdout).items()} == {"cp1": 0, "wk1": 0, "wk2": 0}, \
        "\n".join(line for line in r.stdout.splitlines() if "changed:" in line)


def test_3_after_k8sboot_ansible_playbook_changes_nothing(cluster: Cluster, tmp_path: Path):
    """The shared cluster, made from clean hosts by `k8sboot up`, exported and played."""
    r = export_and_play(cluster.home, cluster.inventory, tmp_path / "exported")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    counts = ansible_recap(r.stdout)
    assert {h: c["changed"] for h, c in counts.items()} == {"cp1": 0, "wk1": 0, "wk2": 0}, \
        "\n".join(line for line in r.stdout.splitlines() if line.startswith("changed:") or "TASK" in line)[-4000:]
