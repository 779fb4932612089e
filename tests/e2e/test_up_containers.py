"""`k8sboot up` on three system containers reached over SSH like physical machines.

cp1 is etcd + control plane + node; wk1 (reached as `admin` with sudo) and wk2
are nodes. The cluster is made once for the module; the tests read it, and the
last ones change one template and put it back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from k8sboot.state import ClusterState
from k8sboot.state_lock import cluster_lock
from tests.e2e.cluster import Cluster
from tests.e2e.helpers import k8sboot, kubectl, ssh
from tests.e2e.test_engine_on_hosts import recap

pytestmark = pytest.mark.lab

def test_every_node_is_ready_by_its_inventory_name(cluster: Cluster):
    nodes = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    status = {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
              for n in nodes}
    # node names are the inventory's, not the machines' own hostnames (e2e-cp1 ...)
    assert status == {"cp1": "True", "wk1": "True", "wk2": "True"}
    internal = {n["metadata"]["name"]: [a["address"] for a in n["status"]["addresses"]
                                        if a["type"] == "InternalIP"][0] for n in nodes}
    assert internal == {name: h.address for name, h in cluster.hosts.items()}
    assert all(n["status"]["nodeInfo"]["kubeletVersion"] == "v1.20.2" for n in nodes)
    # the controller-manager allocated a pod CIDR to every node
    assert all(n["spec"].get("podCIDR", "").startswith("10.244.") for n in nodes)


def test_up_prints_the_nodes_table_and_the_kubeconfig_path(cluster: Cluster):
    assert "NAME" in cluster.first_up and "INTERNAL-IP" in cluster.first_up
    for name in ("cp1", "wk1", "wk2"):
        assert any(line.startswith(name) and " Ready " in line for line in cluster.first_up.splitlines())
    path = cluster.kubeconfig()
    assert path in cluster.first_up and Path(path).stat().st_mode & 0o777 == 0o600


def test_a_pod_runs_from_the_local_pause_image_without_any_registry(cluster: Cluster, tmp_path):
    manifest = tmp_path / "pod.json"
    manifest.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-registry"},
        "spec": {"nodeName": "wk1", "containers": [
            {"name": "p", "image": "registry.k8s.io/pause:3.6", "imagePullPolicy": "Never"}]},
    }))
    cluster.kubectl("apply", "-f", str(manifest))
    try:
        cluster.kubectl("wait", "--for=condition=Ready", "pod/no-registry", "--timeout=90s")
        pod_ip = cluster.kubectl("get", "pod", "no-registry", "-o", "jsonpath={.status.podIP}")
        # reachable from another node: CNI on wk1 plus the routes between pod networks
        code, out = ssh(cluster.hosts["wk2"], f"ping -c1 -W3 {pod_ip} || "
                                              f"timeout 3 bash -c 'exec 3<>/dev/tcp/{pod_ip}/1' 2>&1; "
                                              f"ip route get {pod_ip}")
        assert f"via {cluster.hosts['wk1'].address}" in out, out
    finally:
        cluster.kubectl("delete", "pod", "no-registry", "--wait=false")


def test_apiserver_can_reach_kubelets_for_logs(cluster: Cluster):
    # the RBAC k8sboot applies lets the apiserver's kubelet client read node logs/metrics
    out = cluster.kubectl("get", "--raw", "/api/v1/nodes/wk2/proxy/healthz")
    assert out.strip() == "ok"
    subject = cluster.kubectl("get", "clusterrolebinding", "system:kube-apiserver-to-kubelet",
                              "-o", "jsonpath={.subjects[0].name}")
    assert subject == "kube-apiserver-kubelet-client"
    logs = cluster.kubectl("get", "--raw", "/api/v1/nodes/wk2/proxy/logs/")
    assert "journal" in logs or "<a href" in logs


def test_private_keys_are_0600_on_the_hosts(cluster: Cluster):
    code, out = ssh(cluster.hosts["cp1"], "stat -c '%a %n' /etc/kubernetes/pki/*.key /etc/etcd/pki/*.key "
                                          "/etc/kubernetes/*.kubeconfig")
    assert code == 0, out
    assert out.strip() and all(line.startswith("600 ") for line in out.strip().splitlines()), out


def test_up_from_another_state_directory_is_refused_and_touches_nothing(cluster: Cluster, tmp_path):
    # a lost ~/.k8sboot, or another K8SBOOT_HOME: a new CA and encryption key would replace the
    # cluster's, and every certificate, token and Secret in etcd would stop working
    before = cluster.all_start_times()
    ca_before = ssh(cluster.hosts["wk1"], "sha256sum /etc/kubernetes/pki/ca.crt")[1]
    r = k8sboot("up", "-i", str(cluster.inventory), home=tmp_path / "fresh")
    assert r.returncode == 1, r.stdout[-2000:]
    assert "preflight failed, nothing was installed" in r.stderr
    for name in ("cp1", "wk1", "wk2"):  # wk1 through sudo: its files read as root
        assert f"{name} ({cluster.hosts[name].address}): /etc/kubernetes/pki/ca.crt is another cluster's" \
            in r.stderr, r.stderr
    assert "cp1 (" in r.stderr and "/etc/kubernetes/pki/encryption-config.yaml is another" in r.stderr
    assert "K8SBOOT_HOME" in r.stderr and "Traceback" not in r.stderr

    # the right state but a lost encryption key: only that file is named
    copy = tmp_path / "copy"
    shutil.copytree(cluster.home / "clusters", copy / "clusters")
    (copy / "clusters" / "e2e" / "pki" / "encryption-config.yaml").unlink()
    r = k8sboot("up", "-i", str(cluster.inventory), home=copy)
    assert r.returncode == 1
    problems = [ln for ln in r.stderr.splitlines() if "is another cluster's" in ln]
    assert len(problems) == 1 and "cp1" in problems[0] and "encryption-config.yaml" in problems[0], r.stderr
    assert not (copy / "clusters" / "e2e" / "pki" / "encryption-config.yaml").exists()  # none made either

    # `etcd restore` runs no preflight: it checks the same before it stops the control plane
    snapshot = tmp_path / "any.db"
    snapshot.write_bytes(b"")
    r = k8sboot("etcd", "restore", str(snapshot), "--yes", "-i", str(cluster.inventory), home=copy)
    assert r.returncode == 2 and "the snapshot file is empty" in r.stderr, r.stderr  # before any host
    snapshot.write_bytes(b"never read: the check comes first")
    r = k8sboot("etcd", "restore", str(snapshot), "--yes", "-i", str(cluster.inventory), home=copy)
    assert r.returncode == 1, r.stdout[-2000:]
    problems = [ln for ln in r.stderr.splitlines() if "is another cluster's" in ln]
    assert len(problems) == 1 and "cp1" in problems[0] and "encryption-config.yaml" in problems[0], r.stderr
    assert "▶ stop the control plane" not in r.stdout and "Traceback" not in r.stderr

    assert ssh(cluster.hosts["wk1"], "sha256sum /etc/kubernetes/pki/ca.crt")[1] == ca_before
    assert cluster.all_start_times() == before


def test_a_second_run_on_a_busy_cluster_is_refused(cluster: Cluster):
    state = ClusterState.for_cluster("e2e", str(cluster.home / "clusters" / "e2e"))
    before = cluster.all_start_times()
    with cluster_lock(state, "e2e"):  # this test process is "the other run"
        r = cluster.up()
        assert r.returncode == 1, r.stdout[-2000:]
        assert f"cluster e2e is busy: pid {os.getpid()}" in r.stderr, r.stderr
        assert "▶ connect" not in r.stdout  # refused before any phase
    assert cluster.all_start_times() == before


def test_a_rerun_changes_nothing_and_restarts_nothing(cluster: Cluster):
    before = cluster.all_start_times()
    r = cluster.up()
    assert r.returncode == 0, r.stderr
    counts = recap(r.stdout)
    assert {h: c["changed"] for h, c in counts.items()} == {"cp1": 0, "wk1": 0, "wk2": 0}, r.stdout
    assert cluster.all_start_times() == before


def test_a_changed_template_restarts_only_its_component_where_it_runs(cluster: Cluster, tmp_path):
    before = cluster.all_start_times()
    override = tmp_path / "templates" / "kube-scheduler"
    override.mkdir(parents=True)
    shipped = Path(__file__).resolve().parents[2] / "templates/kube-scheduler/kube-scheduler.service.j2"
    (override / "kube-scheduler.service.j2").write_text(
        shipped.read_text().replace("  --v=1", "  --v=2"))
    r = cluster.up("--templates", str(tmp_path / "templates"))
    assert r.returncode == 0, r.stderr
    counts = recap(r.stdout)
    assert counts["wk1"]["changed"] == 0 and counts["wk2"]["changed"] == 0
    after = cluster.all_start_times()
    changed = {(h, u) for h in after for u in after[h] if after[h][u] != before[h][u]}
    assert changed == {("cp1", "kube-scheduler")}
    code, out = ssh(cluster.hosts["cp1"], "systemctl show -p ExecStart --value kube-scheduler")
    assert "--v=2" in out
    # and back to the shipped template: the same single restart
    r = cluster.up()
    assert r.returncode == 0, r.stderr
    assert "--v=1" in ssh(cluster.hosts["cp1"], "systemctl show -p ExecStart --value kube-scheduler")[1]


def test_kubeconfig_merge_adds_a_context(cluster: Cluster, tmp_path):
    target = tmp_path / "config"
    r = k8sboot("kubeconfig", "-i", str(cluster.inventory), "--merge", "--merge-into", str(target),
                home=cluster.home)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([kubectl(), "--kubeconfig", str(target), "get", "nodes", "-o", "name"],
                         capture_output=True, text=True, timeout=60)
    assert sorted(out.stdout.split()) == ["node/cp1", "node/wk1", "node/wk2"]
