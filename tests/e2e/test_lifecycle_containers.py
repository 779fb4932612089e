"""A cluster's whole life on system containers: grow, shrink, stop, start, down.

Its own four hosts (life-*), so the shared cluster of the other tests is not
touched by the destructive steps. The steps depend on each other and run in order.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from k8sboot.cluster_layout import KUBELET_UNIT
from k8sboot.kubelet_facts import (
    KUBELET_STARTED_FACT,
    kubelet_facts_script,
    parse_kubelet_started,
    read_kubelet_facts,
)
from tests.e2e.helpers import (
    BINARIES,
    k8sboot,
    kubectl,
    kubelet_started_epoch,
    pod_routes,
    ready_condition,
    ready_posted_epoch,
    ssh,
    start_times,
    wait_for_pod_routes,
    write_inventory,
)
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

NAMES = ["life-cp1", "life-wk1", "life-wk2", "life-wk3"]
POD_CIDR = "10.244.0.0/16"  # the default: the inventory below sets none
LEFTOVERS = ("ls -d /usr/local/bin/kube* /usr/local/bin/etcd /etc/kubernetes /etc/etcd /var/lib/etcd "
             "/var/lib/kubelet /var/lib/kube-proxy /var/lib/k8sboot /etc/cni "
             "/etc/systemd/system/kube* /etc/systemd/system/etcd.service "
             "/etc/systemd/system/k8sboot-pod-routes.service /etc/sysctl.d/99-k8sboot.conf "
             "/etc/modules-load.d/k8sboot.conf /etc/containerd/config.toml.k8sboot-* "
             "/usr/local/sbin/k8sboot-pod-routes /run/k8sboot 2>/dev/null; "
             "systemctl list-units --all --no-legend 'kube*' 'etcd*' 'k8sboot-pod-routes*' | grep -v not-found; "
             f"ip route show root {POD_CIDR}; "  # the agent's routes to the other nodes' pods, cni0's own
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

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        kc = self.home / "clusters" / "life" / "admin.kubeconfig"
        return subprocess.run([kubectl(), "--kubeconfig", str(kc), *args], input=stdin,
                              capture_output=True, text=True, timeout=60, check=True).stdout

    def ready_nodes(self) -> dict[str, str]:
        out = self.kubectl("get", "nodes", "-o", "json")
        return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
                for n in json.loads(out)["items"]}

    def pod_cidrs(self) -> dict[str, str]:
        return {n["metadata"]["name"]: n["spec"]["podCIDR"]
                for n in json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]}


def wait_for_life_routes(life: Life, names: list[str]) -> None:
    """Every host of names routes every other one's pod CIDR via its address, and nothing else."""
    cidrs = life.pod_cidrs()
    wait_for_pod_routes({n: life.hosts[n] for n in names}, {n: cidrs[n] for n in names})


def journal_time(host: LabHost, line: str, within: float = 20.0) -> float:
    """When the pod-routes agent on host logged line (the containers share the controller's clock)."""
    deadline = time.monotonic() + within
    while True:
        out = ssh(host, "journalctl -u k8sboot-pod-routes -o short-unix --no-pager")[1]
        found = [float(x.split()[0]) for x in out.splitlines() if x.endswith(line)]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"{host.name}: no {line!r} in the agent's journal:\n{out[-2000:]}"
        time.sleep(0.5)


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
    # the pod routes run beside the node role, not after Ready: wk3 got its agent in this run
    assert "pod_routes" in changed_tasks(r.stdout, "wk3"), r.stdout[-3000:]
    before = {n: start_times(life.hosts[n], ["containerd", "kubelet", "kube-proxy"]) for n in ("cp1", "wk1", "wk2")}
    life.write(["cp1", "wk1", "wk2", "wk3"])
    r = life.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert life.ready_nodes() == {"cp1": "True", "wk1": "True", "wk2": "True", "wk3": "True"}
    # the existing hosts change nothing at all: their agents find the new node in the API
    for n in ("cp1", "wk1", "wk2"):
        assert changed_tasks(r.stdout, n) == [], (n, changed_tasks(r.stdout, n))
        assert start_times(life.hosts[n], ["containerd", "kubelet", "kube-proxy"]) == before[n]
    assert set(changed_tasks(r.stdout, "wk3")) == {"node"}  # its kubelet fixed; the agent was already there
    wait_for_life_routes(life, ["cp1", "wk1", "wk2", "wk3"])
    # pods on every node reach each other and a Service from every host, the new node's too
    started = time.monotonic()
    v = life.k8sboot("verify", "--smoke")
    print(f"verify --smoke on 4 nodes: {time.monotonic() - started:.1f}s")
    assert v.returncode == 0, v.stdout[-3000:] + v.stderr[-3000:]


def test_1b_a_node_appearing_in_the_api_is_routed_by_every_agent_at_once(life: Life):
    """The agents watch the Nodes: one created in the API (a stand-in, on an address of the
    lab's network that nothing holds) is routed on every host within seconds, and deleted,
    its route goes as fast."""
    ghost_ip = str(ipaddress.ip_interface(f"{life.hosts['cp1'].address}/24").network[250])
    ghost = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "life-ghost"},
             "spec": {"podCIDR": "10.244.250.0/24", "podCIDRs": ["10.244.250.0/24"]},
             "status": {"addresses": [{"type": "InternalIP", "address": ghost_ip}]}}
    hosts = [life.hosts[n] for n in ("cp1", "wk1", "wk2", "wk3")]
    created = time.time()
    life.kubectl("create", "-f", "-", stdin=json.dumps(ghost))
    try:
        added = max(journal_time(h, f"route: 10.244.250.0/24 via {ghost_ip}") for h in hosts) - created
        for h in hosts:
            assert ("10.244.250.0/24", ghost_ip) in pod_routes(h), h.name
    finally:
        deleted = time.time()
        life.kubectl("delete", "node", "life-ghost")
    removed = max(journal_time(h, f"route deleted: 10.244.250.0/24 via {ghost_ip}") for h in hosts) - deleted
    print(f"a new Node's route on every host after {added:.2f}s; a deleted one's gone after {removed:.2f}s")
    assert added < 5 and removed < 5, (added, removed)
    for h in hosts:
        assert ("10.244.250.0/24", ghost_ip) not in pod_routes(h), h.name


def test_2_remove_node_deletes_it_and_resets_only_that_host(life: Life):
    before = {n: start_times(life.hosts[n], ["kubelet", "kube-proxy"]) for n in ("cp1", "wk1", "wk2")}
    r = life.k8sboot("remove-node", "wk3", "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    life.write(["cp1", "wk1", "wk2"])
    assert life.ready_nodes() == {"cp1": "True", "wk1": "True", "wk2": "True"}
    assert ssh(life.hosts["wk3"], LEFTOVERS)[1].strip() == "0"
    wait_for_life_routes(life, ["cp1", "wk1", "wk2"])  # the others' agents dropped wk3's route
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
    nodes = json.loads(life.kubectl("get", "nodes", "-o", "json"))["items"]  # as `start` ended
    assert {n["metadata"]["name"]: ready_condition(n)["status"] for n in nodes} == \
        {"cp1": "True", "wk1": "True", "wk2": "True"}
    # the Ready that `start` waited for was posted by the kubelet it started, not left from before
    # `stop` (a restarted kubelet renews its Lease at once but posts its first status, often
    # NotReady, seconds later)
    for node in nodes:
        name = node["metadata"]["name"]
        started = kubelet_started_epoch(life.hosts[name])
        assert ready_posted_epoch(node) > started, name
        # and k8sboot's own reading of that start (connect's fact, asked again after a change) agrees
        facts = read_kubelet_facts(ssh(life.hosts[name], kubelet_facts_script(KUBELET_UNIT))[1])
        seen = parse_kubelet_started(facts[KUBELET_STARTED_FACT])
        assert seen is not None and seen.timestamp() == started, (name, seen)


def test_3b_up_right_after_a_kubelet_restart_waits_for_that_kubelets_own_status(life: Life):
    # the restarted kubelet renews its Lease at once; its first status post comes seconds later
    # (cAdvisor alone takes 5 s): a no-op `up` ends sooner, and must not end on the old Ready
    host = life.hosts["wk1"]
    assert ssh(host, "systemctl restart kubelet")[0] == 0
    r = life.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    node = json.loads(life.kubectl("get", "node", "wk1", "-o", "json"))
    assert ready_condition(node)["status"] == "True"
    assert ready_posted_epoch(node) > kubelet_started_epoch(host), r.stdout[-2000:]


def test_4_down_leaves_the_hosts_as_they_were(life: Life):
    r = life.k8sboot("down")  # no --yes and no terminal: refused, nothing touched
    assert r.returncode == 2 and "--yes" in r.stderr
    r = life.k8sboot("down", "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for n in ("cp1", "wk1", "wk2"):
        assert ssh(life.hosts[n], LEFTOVERS)[1].strip() == "0", n
        assert ssh(life.hosts[n], "sha256sum /etc/containerd/config.toml")[1] == life.originals[n]  # type: ignore[attr-defined]
    assert not (life.home / "clusters" / "life").exists()
