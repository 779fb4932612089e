"""A cluster's whole life on system containers: grow, shrink, stop, start, down.

Its own four hosts (life-*), so the shared cluster of the other tests is not
touched by the destructive steps. The steps depend on each other and run in order.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import BINARIES, k8sboot, kubectl, ssh, start_times, write_inventory
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

NAMES = ["life-cp1", "life-wk1", "life-wk2", "life-wk3"]
LEFTOVERS = ("ls -d /usr/local/bin/kube* /usr/local/bin/etcd /etc/kubernetes /etc/etcd /var/lib/etcd "
             "/var/lib/kubelet /var/lib/kube-proxy /var/lib/k8sboot /etc/cni "
             "/etc/systemd/system/kube* /etc/systemd/system/etcd.service "
             "/etc/systemd/system/k8sboot-pod-routes.service /etc/sysctl.d/99-k8sboot.conf "
             "/etc/modules-load.d/k8sboot.conf /etc/containerd/config.toml.k8sboot-* 2>/dev/null; "
             "systemctl list-units --all --no-legend 'kube*' 'etcd*' 'k8sboot-pod-routes*' | grep -v not-found; "
             "ip link show cni0 2>/dev/null; iptables-save | grep -c -e KUBE- -e CNI- ; true")


class Life:
    def __init__(self, home: Path, hosts: dict[str, LabHost]):
        self.home = home
        self.hosts = hosts
        self.inventory = home / "life.yml"
        self.write(["cp1", "wk1", "wk2"])

    def write(self, names: list[str], broken: str | None = None) -> None:
        groups = {"cp1": ["etcd", "control_plane", "nodes"]}
        write_inventory(self.inventory, "life", {
            n: {"address": self.hosts[n].address, "groups": groups.get(n, ["nodes"]),
                **({"user": "admin", "become": True} if n == "wk1" else {}),
                # a kubelet that cannot start: for the not-Ready diagnosis
                **({"vars": {"kubelet_extra_args": {"no-such-flag": "1"}}} if n == broken else {})}
            for n in names
        }, key=self.hosts["cp1"].key_path, binaries=BINARIES)

    def k8sboot(self, *args: str) -> subprocess.CompletedProcess[str]:
        return k8sboot(*args, "-i", str(self.inventory), home=self.home)

    def ready_nodes(self) -> dict[str, str]:
        kc = self.home / "clusters" / "life" / "admin.kubeconfig"
        out = subprocess.run([kubectl(), "--kubeconfig", str(kc), "get", "nodes", "-o", "json"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
                for n in json.loads(out)["items"]}


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory):
    lab = ContainerLab()
    started = lab.start(NAMES)
    hosts = {h.name.removeprefix("life-"): h for h in started}
    try:
        yield Life(tmp_path_factory.mktemp("life"), hosts)
    finally:
        lab.destroy(NAMES)


def changed_tasks(output: str, host: str) -> list[str]:
    return re.findall(rf"^(?:\d\d:\d\d:\d\d )?changed: \[{host}\] (\S+) :", output, re.M)


def test_1_up_then_adding_a_node_installs_only_that_node(life: Life):
    originals = {n: ssh(h, "sha256sum /etc/containerd/config.toml")[1] for n, h in life.hosts.items()}
    life.originals = originals  # type: ignore[attr-defined]
    r = life.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # a node whose kubelet cannot start: `up` names it, its conditions and the failing unit's journal
    life.write(["cp1", "wk1", "wk2", "wk3"], broken="wk3")
    r = life.k8sboot("up", "-e", "ready_timeout=15")
    assert r.returncode == 1
    assert "node wk3" in r.stderr and "never registered" in r.stderr, r.stderr[-3000:]
    assert "kubelet's journal" in r.stderr and "no-such-flag" in r.stderr, r.stderr[-3000:]
    before = {n: start_times(life.hosts[n], ["containerd", "kubelet", "kube-proxy"]) for n in ("cp1", "wk1", "wk2")}
    life.write(["cp1", "wk1", "wk2", "wk3"])
    r = life.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert life.ready_nodes() == {"cp1": "True", "wk1": "True", "wk2": "True", "wk3": "True"}
    # the existing hosts change only what must: a route to the new node's pod network
    for n in ("cp1", "wk1", "wk2"):
        assert set(changed_tasks(r.stdout, n)) <= {"pod_routes"}, (n, changed_tasks(r.stdout, n))
        assert start_times(life.hosts[n], ["containerd", "kubelet", "kube-proxy"]) == before[n]
    assert "node" in changed_tasks(r.stdout, "wk3")


def test_2_remove_node_deletes_it_and_resets_only_that_host(life: Life):
    before = {n: start_times(life.hosts[n], ["kubelet", "kube-proxy"]) for n in ("cp1", "wk1", "wk2")}
    r = life.k8sboot("remove-node", "wk3", "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    life.write(["cp1", "wk1", "wk2"])
    assert life.ready_nodes() == {"cp1": "True", "wk1": "True", "wk2": "True"}
    assert ssh(life.hosts["wk3"], LEFTOVERS)[1].strip() == "0"
    for n in ("cp1", "wk1", "wk2"):
        assert start_times(life.hosts[n], ["kubelet", "kube-proxy"]) == before[n]


def test_3_stop_then_start_comes_back_ready(life: Life):
    r = life.k8sboot("stop")
    assert r.returncode == 0, r.stderr[-3000:]
    for n in ("cp1", "wk1", "wk2"):
        out = ssh(life.hosts[n], "systemctl is-active kubelet kube-proxy etcd kube-apiserver; true")[1]
        assert "active" not in out.replace("inactive", ""), (n, out)
    r = life.k8sboot("start")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert life.ready_nodes() == {"cp1": "True", "wk1": "True", "wk2": "True"}


def test_4_down_leaves_the_hosts_as_they_were(life: Life):
    r = life.k8sboot("down")  # no --yes and no terminal: refused, nothing touched
    assert r.returncode == 2 and "--yes" in r.stderr
    r = life.k8sboot("down", "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for n in ("cp1", "wk1", "wk2"):
        assert ssh(life.hosts[n], LEFTOVERS)[1].strip() == "0", n
        assert ssh(life.hosts[n], "sha256sum /etc/containerd/config.toml")[1] == life.originals[n]  # type: ignore[attr-defined]
    assert not (life.home / "clusters" / "life").exists()
