"""Day 2 on three system containers: new builds rolled through a running cluster.

up1 and up2 are etcd + control plane + node, up3 is etcd + node. The steps
run in order on one cluster: etcd 3.4 -> 3.5 member by member; a kubelet that
cannot start stops the roll at its first node and a fixed build finishes it;
the developer loop builds a patched kubelet from the Kubernetes tree and rolls
it node by node while a Deployment with a PodDisruptionBudget keeps its
minimum; then a patched kube-scheduler, which restarts nothing else; then a
kube-proxy, which drains nothing.
The developer loop builds in a copy of the lab's Kubernetes tree (dev_tree.py).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.dev_tree import ETCD35, DevTree
from tests.e2e.helpers import BINARIES, k8sboot, kubectl, ssh, start_times, write_inventory
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

NAMES = ["up1", "up2", "up3"]
GROUPS = {"up1": ["etcd", "control_plane", "nodes"], "up2": ["etcd", "control_plane", "nodes"],
          "up3": ["etcd", "nodes"]}
ALL_UNITS = {"up1": ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd",
                     "kubelet", "kube-proxy"],
             "up3": ["etcd", "containerd", "kubelet", "kube-proxy"]}
ALL_UNITS["up2"] = ALL_UNITS["up1"]
DEV_VERSION = "v1.20.3-k8sboot.1"
SCHEDULER_FILE = "cmd/kube-scheduler/app/server.go"
SCHEDULER_PATCH = ("Starting Kubernetes Scheduler version", "Starting Kubernetes Scheduler (k8sboot dev patch) version")

BROKEN_KUBELET_C = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) { puts("Kubernetes v1.20.3-broken.1"); return 0; }
    fputs("k8sboot test: this kubelet build exits at once\n", stderr);
    return 1;
}
"""


class Cluster:
    def __init__(self, lab: ContainerLab, home: Path, hosts: dict[str, LabHost]):
        self.lab = lab
        self.home = home
        self.hosts = hosts
        self.inventory = home / "upgrade.yml"

    def write(self, **binaries: object) -> None:
        write_inventory(self.inventory, "upgrade", {
            n: {"address": self.hosts[n].address, "groups": g} for n, g in GROUPS.items()
        }, key=self.hosts["up1"].key_path, binaries={**BINARIES, **binaries})

    def k8sboot(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return k8sboot(*args, "-i", str(self.inventory), home=self.home, timeout=timeout)

    def api(self):
        from kubernetes import client, config

        kc = self.k8sboot("kubeconfig").stdout.strip()
        return client.CoreV1Api(config.new_client_from_config(config_file=kc))

    def installed_sha(self, host: str, component: str) -> str:
        code, out = ssh(self.hosts[host], f"sha256sum /usr/local/bin/{component}")
        assert code == 0, out
        return out.split()[0]

    def all_start_times(self) -> dict[str, dict[str, str]]:
        return {n: start_times(self.hosts[n], ALL_UNITS[n]) for n in NAMES}


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
    return r.stdout


def sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    lab = ContainerLab()
    names = [f"up-{n}" for n in NAMES]
    started = lab.start(names)
    hosts = {h.name.removeprefix("up-"): h for h in started}
    try:
        yield Cluster(lab, tmp_path_factory.mktemp("upgrade"), hosts)
    finally:
        lab.destroy(names)


@pytest.fixture(scope="module")
def dev_tree(tmp_path_factory: pytest.TempPathFactory):
    tree = DevTree.make(tmp_path_factory.mktemp("dev"), DEV_VERSION)
    try:
        yield tree
    finally:
        tree.remove()


def test_1_check_prints_the_etcd_roll_and_changes_nothing(cluster: Cluster):
    assert ETCD35.is_file(), "run `make binaries` (scripts/fetch-etcd35.sh)"
    cluster.write()
    ok(cluster.k8sboot("up"))
    cluster.api().create_namespaced_config_map(
        "default", {"metadata": {"name": "before-upgrade"}, "data": {"k": "kept"}})

    cluster.write(etcd={"path": str(ETCD35)})
    out = ok(cluster.k8sboot("up", "--check"))
    for n in NAMES:
        assert f"etcd: {n}" in out, out[-3000:]
    assert out.count("etcd: 3.4.23 (") == 3 and "-> 3.5.16 (" in out, out[-3000:]
    assert "etcd snapshot" not in out
    assert all(cluster.installed_sha(n, "etcd") == sha256(Path("/usr/bin/etcd")) for n in NAMES)


def test_2_etcd_34_to_35_member_by_member_keeps_the_data(cluster: Cluster):
    before = cluster.all_start_times()
    out = ok(cluster.k8sboot("up"))
    assert "etcd snapshot before the roll:" in out, out[-3000:]
    snapshot = Path(out.split("etcd snapshot before the roll: ", 1)[1].split(" ", 1)[0])
    assert snapshot.is_file() and snapshot.stat().st_size > 0
    # one member at a time, each back and the cluster at quorum before the next
    backs = [line for line in out.splitlines() if "is back (etcd 3.5.16)" in line]
    assert len(backs) == 3, out[-3000:]
    assert all("3/3 healthy" in line for line in backs), backs
    status = json.loads(cluster.k8sboot("etcd", "status", "-o", "json").stdout)
    assert sorted(m["version"] for m in status["members"]) == ["3.5.16"] * 3, status
    cm = cluster.api().read_namespaced_config_map("before-upgrade", "default")
    assert cm.data == {"k": "kept"}
    after = cluster.all_start_times()
    for n in NAMES:  # only etcd restarted
        assert after[n]["etcd"] != before[n]["etcd"], n
        assert {u: t for u, t in after[n].items() if u != "etcd"} == \
               {u: t for u, t in before[n].items() if u != "etcd"}, n


def test_3_a_kubelet_that_cannot_start_stops_the_roll_at_its_first_node(cluster: Cluster, tmp_path: Path):
    src = tmp_path / "kubelet.c"
    src.write_text(BROKEN_KUBELET_C)
    broken = tmp_path / "kubelet"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(broken), str(src)], check=True)
    good = {n: cluster.installed_sha(n, "kubelet") for n in NAMES}

    cluster.write(etcd={"path": str(ETCD35)}, kubelet={"path": str(broken)})
    r = cluster.k8sboot("up")
    assert r.returncode != 0, r.stdout[-3000:]
    err = r.stderr + r.stdout
    assert "the node roll stopped at up1 (batch 1 of 3)" in err, err[-4000:]
    assert "this kubelet build exits at once" in err, err[-4000:]  # its journal
    assert "not rolled yet: up2, up3" in err, err[-4000:]
    nodes = {n.metadata.name: n for n in cluster.api().list_node().items}
    assert nodes["up1"].spec.unschedulable is True
    assert not nodes["up2"].spec.unschedulable and not nodes["up3"].spec.unschedulable
    assert cluster.installed_sha("up2", "kubelet") == good["up2"]
    assert cluster.installed_sha("up3", "kubelet") == good["up3"]

    cluster.write(etcd={"path": str(ETCD35)})  # the fix: a kubelet that works
    out = ok(cluster.k8sboot("up"))
    assert "up1: Ready on kubelet v1.20.2 and uncordoned" in out, out[-3000:]
    nodes = {n.metadata.name: n for n in cluster.api().list_node().items}
    assert not any(n.spec.unschedulable for n in nodes.values())
    assert {n: cluster.installed_sha(n, "kubelet") for n in NAMES} == good


PDB_MIN = 2


def test_4_dev_loop_rolls_a_new_kubelet_one_node_at_a_time_keeping_the_pdb(cluster: Cluster, dev_tree):
    from kubernetes import client

    core = cluster.api()
    apps = client.AppsV1Api(core.api_client)
    labels = {"app": "web"}
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "p", "image": "registry.k8s.io/pause:3.6", "imagePullPolicy": "Never"}]}}}})
    # the client has no policy/v1beta1 any more, and 1.20 serves no policy/v1 PodDisruptionBudget
    pdb = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "web",
           "namespace": "default"}, "spec": {"minAvailable": PDB_MIN, "selector": {"matchLabels": labels}}}
    kc = cluster.k8sboot("kubeconfig").stdout.strip()
    subprocess.run([kubectl(), "--kubeconfig", kc, "create", "-f", "-"], input=json.dumps(pdb), text=True,
                   check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 120
    while (apps.read_namespaced_deployment("web", "default").status.available_replicas or 0) < 3:
        assert time.monotonic() < deadline, "the Deployment never had 3 available pods"
        time.sleep(1)

    samples: list[tuple[int, int]] = []  # (nodes cordoned, pods available), every half second
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                cordoned = sum(bool(n.spec.unschedulable) for n in core.list_node(_request_timeout=5).items)
                available = apps.read_namespaced_deployment("web", "default", _request_timeout=5) \
                    .status.available_replicas or 0
                samples.append((cordoned, available))
            except Exception:  # noqa: BLE001 - the apiserver blinking is not what is measured
                pass
            time.sleep(0.5)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        r = dev_tree.dev(cluster.home, cluster.inventory, "--component", "kubelet", "--max-unavailable", "1")
    finally:
        stop.set()
        poller.join()
    out = ok(r)
    assert len(samples) > 10, samples
    assert max(c for c, _ in samples) == 1, samples  # never more than one node cordoned
    assert min(a for _, a in samples) >= PDB_MIN, samples
    for n in NAMES:
        assert f"{n}: Ready on kubelet {DEV_VERSION} and uncordoned" in out, out[-3000:]
    nodes = core.list_node().items
    assert {n.metadata.name: n.status.node_info.kubelet_version for n in nodes} == dict.fromkeys(NAMES, DEV_VERSION)
    assert not any(n.spec.unschedulable for n in nodes)
    assert "dev: build" in out and "rollout" in out

    # no source change: nothing built, no host touched
    out = ok(dev_tree.dev(cluster.home, cluster.inventory, "--component", "kubelet"))
    assert "nothing to build" in out, out[-2000:]
    assert all(p.startswith("changed=0") for p in out.split() if p.startswith("changed=")), out[-3000:]


def test_5_dev_loop_with_a_patched_scheduler_restarts_only_the_schedulers(cluster: Cluster, dev_tree):
    dev_tree.patch(SCHEDULER_FILE, *SCHEDULER_PATCH)
    before = cluster.all_start_times()
    out = ok(dev_tree.dev(cluster.home, cluster.inventory, "--component", "kube-scheduler"))
    assert "control plane: up1 (1/2, rolling)" in out and "control plane: up2 (2/2, rolling)" in out, out[-3000:]
    built = cluster.home / "clusters" / "upgrade" / "dev-bin" / "kube-scheduler"
    for n in ("up1", "up2"):
        assert cluster.installed_sha(n, "kube-scheduler") == sha256(built)
        code, exe = ssh(cluster.hosts[n], "sha256sum /proc/$(systemctl show -p MainPID --value kube-scheduler)/exe"
                                          " && grep -c 'k8sboot dev patch' /usr/local/bin/kube-scheduler")
        assert code == 0 and exe.split()[0] == sha256(built), exe
    after = cluster.all_start_times()
    for n in NAMES:
        changed = {u for u in ALL_UNITS[n] if after[n][u] != before[n][u]}
        assert changed == ({"kube-scheduler"} if n != "up3" else set()), (n, changed)
    # and it schedules
    core = cluster.api()
    core.create_namespaced_pod("default", {
        "metadata": {"name": "after-patch"},
        "spec": {"containers": [{"name": "p", "image": "registry.k8s.io/pause:3.6", "imagePullPolicy": "Never"}]}})
    deadline = time.monotonic() + 90
    while core.read_namespaced_pod("after-patch", "default").status.phase != "Running":
        assert time.monotonic() < deadline, "a pod did not run after the scheduler's roll"
        time.sleep(1)
    # a bare pod would (rightly) stop a later drain: gone before the next step
    core.delete_namespaced_pod("after-patch", "default", grace_period_seconds=0)
    deadline = time.monotonic() + 90
    while any(p.metadata.name == "after-patch" for p in core.list_namespaced_pod("default").items):
        assert time.monotonic() < deadline, "the bare pod did not go away"
        time.sleep(1)


def test_6_a_new_kube_proxy_restarts_it_alone_and_drains_nothing(cluster: Cluster, dev_tree):
    before = cluster.all_start_times()
    out = ok(dev_tree.dev(cluster.home, cluster.inventory, "--component", "kube-proxy"))
    assert "nodes without drain (restart kube-proxy)" in out, out[-3000:]
    assert "cordoned" not in out, out[-3000:]
    after = cluster.all_start_times()
    for n in NAMES:
        changed = {u for u in ALL_UNITS[n] if after[n][u] != before[n][u]}
        assert changed == {"kube-proxy"}, (n, changed)


def test_7_certs_list_every_certificate_then_renew_all_keeps_the_cluster_serving(cluster: Cluster):
    r = cluster.k8sboot("certs", "check-expiration", "-o", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    names = {c["name"]: c for c in data["certificates"]}
    for name in ("ca", "etcd-ca", "front-proxy-ca", "apiserver", "front-proxy-client", "admin.kubeconfig",
                 "kubelet/up3", "etcd-server/up2"):
        assert name in names, (name, sorted(names))
    assert all(c["seconds_left"] > 300 * 86400 for c in data["certificates"]), data
    assert names["apiserver"]["issuer"] == "ca" and names["etcd-server/up2"]["issuer"] == "etcd-ca"
    assert set(names["apiserver"]["hosts"].values()) == {"ok"}, names["apiserver"]["hosts"]
    old_admin = (cluster.home / "clusters" / "upgrade" / "admin.kubeconfig").read_bytes()
    old_serials = {n: c["serial"] for n, c in names.items()}
    core = cluster.api()
    web = {p.metadata.uid: p.spec.node_name for p in core.list_namespaced_pod("default", label_selector="app=web").items}
    assert len(web) == 3, web  # test 4's Deployment
    before = cluster.all_start_times()

    out = ok(cluster.k8sboot("certs", "renew"))
    # every kubelet restarted for its new certificate, and no node was drained: the same pods run on
    assert "nodes without drain (kubelet certificates changed" in out, out[-3000:]
    assert "cordoned" not in out, out[-3000:]
    after_start = cluster.all_start_times()
    assert all(after_start[n]["kubelet"] != before[n]["kubelet"] for n in NAMES), (before, after_start)
    assert {p.metadata.uid: p.spec.node_name
            for p in core.list_namespaced_pod("default", label_selector="app=web").items} == web
    after = {c["name"]: c for c in json.loads(cluster.k8sboot("certs", "check-expiration", "-o", "json").stdout)
             ["certificates"]}
    leaves = [n for n, c in after.items() if c["kind"] != "ca"]
    assert leaves and all(after[n]["serial"] != old_serials[n] for n in leaves), out[-3000:]
    assert all(after[n]["serial"] == old_serials[n] for n, c in after.items() if c["kind"] == "ca")
    assert all(set(c["hosts"].values()) <= {"ok"} for c in after.values()), after
    # the cluster serves, with the new admin credentials and, the CA being the same, the old ones
    nodes = cluster.api().list_node().items
    assert all({c.type: c.status for c in n.status.conditions}["Ready"] == "True" for n in nodes)
    old_kc = cluster.home / "old-admin.kubeconfig"
    old_kc.write_bytes(old_admin)
    from kubernetes import client, config

    old_api = client.CoreV1Api(config.new_client_from_config(config_file=str(old_kc)))
    assert len(old_api.list_node().items) == 3
