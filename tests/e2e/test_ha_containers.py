"""High availability on five system containers: a control plane that grows, loses a machine, restores.

cp1..cp3 are etcd + control plane + node, wk1 and wk2 are nodes. The cluster
starts with one control plane and grows to three with `up` (the way most
people get to HA); then a whole control-plane machine is stopped; then etcd
is snapshotted and restored; then a control plane is removed. Last, the same
machines are reset and rebuilt with external etcd (three etcd-only hosts). The
steps depend on each other and run in order.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import BINARIES, k8sboot, kubectl, ssh, start_times, write_inventory
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

NAMES = ["cp1", "cp2", "cp3", "wk1", "wk2"]
STACKED = ["etcd", "control_plane", "nodes"]
LB = "https://127.0.0.1:6444"


class Ha:
    def __init__(self, lab: ContainerLab, home: Path, hosts: dict[str, LabHost]):
        self.lab = lab
        self.home = home
        self.hosts = hosts
        self.inventory = home / "ha.yml"

    def write(self, groups: dict[str, list[str]], name: str = "ha",
              cp_vars: dict | None = None) -> None:
        write_inventory(self.inventory, name, {
            n: {"address": self.hosts[n].address, "groups": g,
                **({"vars": cp_vars} if cp_vars and "control_plane" in g else {})}
            for n, g in groups.items()
        }, key=self.hosts["cp1"].key_path, binaries=BINARIES)

    def k8sboot(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return k8sboot(*args, "-i", str(self.inventory), home=self.home, timeout=timeout)

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # `k8sboot kubeconfig` points the admin kubeconfig at an apiserver that answers
        kc = self.k8sboot("kubeconfig").stdout.strip()
        r = subprocess.run([kubectl(), "--kubeconfig", kc, "--request-timeout=10s", *args],
                           capture_output=True, text=True, timeout=150)  # `wait --timeout=90s` fits
        assert not check or r.returncode == 0, r.stderr
        return r

    def ready(self) -> dict[str, str]:
        out = self.kubectl("get", "nodes", "-o", "json").stdout
        return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
                for n in json.loads(out)["items"]}

    def etcd_status(self) -> tuple[int, dict]:
        r = self.k8sboot("etcd", "status", "-o", "json")
        return r.returncode, json.loads(r.stdout) if r.stdout.strip().startswith("{") else {"raw": r.stdout + r.stderr}

    def wait(self, what: str, predicate, timeout: float = 120.0, every: float = 2.0):  # noqa: ANN001
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (AssertionError, subprocess.SubprocessError, json.JSONDecodeError) as e:
                last = e
            time.sleep(every)
        raise AssertionError(f"{what}: not within {timeout:.0f} s (last: {last!r})")


def local_endpoint_answers(host: LabHost) -> bool:
    code, out = ssh(host, f"curl -sk --max-time 2 {LB}/readyz")
    return code == 0 and out.strip() == "ok"


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory):
    lab = ContainerLab()
    names = [f"ha-{n}" for n in NAMES]
    started = lab.start(names)
    hosts = {h.name.removeprefix("ha-"): h for h in started}
    try:
        yield Ha(lab, tmp_path_factory.mktemp("ha"), hosts)
    finally:
        lab.destroy(names)


def test_1_one_control_plane_grows_to_three_without_restarting_etcd(ha: Ha):
    ha.write({"cp1": STACKED, "wk1": ["nodes"], "wk2": ["nodes"]})
    r = ha.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    etcd_started = start_times(ha.hosts["cp1"], ["etcd"])

    ha.write({"cp1": STACKED, "cp2": STACKED, "cp3": STACKED, "wk1": ["nodes"], "wk2": ["nodes"]})
    r = ha.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "adding member cp2" in r.stdout and "adding member cp3" in r.stdout, r.stdout[-3000:]
    assert "3/3 healthy" in r.stdout, r.stdout[-3000:]
    # the member that was already healthy kept running through both joins
    assert start_times(ha.hosts["cp1"], ["etcd"]) == etcd_started
    code, status = ha.etcd_status()
    assert code == 0, status
    assert ha.ready() == {n: "True" for n in NAMES}
    # every node dials its own balancer, which reaches all three apiservers
    for n in NAMES:
        host = ha.hosts[n]
        assert local_endpoint_answers(host), n
        code, out = ssh(host, "grep -h server: /etc/kubernetes/kubelet.kubeconfig "
                              "/etc/kubernetes/kube-proxy.kubeconfig")
        assert out.split() == ["server:", LB, "server:", LB], (n, out)
        code, out = ssh(host, "grep -c '^  server ' /etc/kubernetes/apiserver-lb.cfg")
        assert out.strip() == "3", (n, out)
    # and `verify` checks the balancer on every node
    r = ha.k8sboot("verify")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("local apiserver load balancer answers") == len(NAMES), r.stdout[-3000:]


def test_2_a_rerun_changes_nothing(ha: Ha):
    r = ha.k8sboot("up")
    assert r.returncode == 0, r.stderr[-3000:]
    assert " changed=" in r.stdout
    assert all(part.startswith("changed=0") for part in r.stdout.split()
               if part.startswith("changed=")), r.stdout[-3000:]


POLLER = ("nohup sh -c 'while :; do if curl -sk --max-time 1 https://127.0.0.1:6444/readyz >/dev/null; "
          "then echo ok; else echo fail; fi; sleep 0.2; done' >/tmp/k8sboot-poll.log 2>&1 & echo $!")


def longest_failing_run(log: str) -> int:
    longest = run = 0
    for line in log.split():
        run = run + 1 if line == "fail" else 0
        longest = max(longest, run)
    return longest


def test_2b_a_changed_apiserver_flag_rolls_one_control_plane_at_a_time(ha: Ha):
    before = {n: int(start_times(ha.hosts[n], ["kube-apiserver"])["kube-apiserver"]) for n in ("cp1", "cp2", "cp3")}
    etcd_before = {n: start_times(ha.hosts[n], ["etcd"]) for n in ("cp1", "cp2", "cp3")}
    code, pid = ssh(ha.hosts["wk1"], POLLER)
    try:
        ha.write({"cp1": STACKED, "cp2": STACKED, "cp3": STACKED, "wk1": ["nodes"], "wk2": ["nodes"]},
                 cp_vars={"apiserver_extra_args": {"profiling": "false"}})
        r = ha.k8sboot("up")
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    finally:
        ssh(ha.hosts["wk1"], f"kill {pid.strip()}")
    log = ssh(ha.hosts["wk1"], "cat /tmp/k8sboot-poll.log")[1]
    for i in (1, 2, 3):
        assert f"({i}/3, rolling)" in r.stdout, r.stdout[-3000:]
    after = {n: int(start_times(ha.hosts[n], ["kube-apiserver"])["kube-apiserver"]) for n in ("cp1", "cp2", "cp3")}
    assert all(after[n] > before[n] for n in after), (before, after)
    # one after the other (the containers share one kernel: one monotonic clock), never together
    starts = sorted(after.values())
    assert all(b - a > 1_000_000 for a, b in zip(starts, starts[1:])), after
    assert {n: start_times(ha.hosts[n], ["etcd"]) for n in ("cp1", "cp2", "cp3")} == etcd_before
    # the local endpoint kept answering: at most a blip while a restarting apiserver is marked down
    print(f"rolling restart: {log.split().count('fail')} of {len(log.split())} polls failed, "
          f"longest run {longest_failing_run(log)}")
    assert log.split().count("ok") > 10 and longest_failing_run(log) < 10, log


def test_3_the_cluster_keeps_serving_when_a_control_plane_machine_stops(ha: Ha, tmp_path: Path):
    ha.lab.kill("ha-cp1")  # the whole machine dies, not a unit: no clean shutdown, no goodbyes
    survivors = [n for n in NAMES if n != "cp1"]
    try:
        # within 60 s every surviving node's local endpoint answers again
        ha.wait("the local endpoints answer", lambda: all(local_endpoint_answers(ha.hosts[n]) for n in survivors),
                timeout=60, every=1)
        # past the node monitor's grace period (40 s) the survivors are still Ready, cp1 is not
        time.sleep(45)
        ready = ha.wait("cp1 marked not Ready", lambda: (lambda r: r if r["cp1"] != "True" else None)(ha.ready()),
                        timeout=60)
        assert all(ready[n] == "True" for n in survivors), ready
        # and new work is scheduled and runs
        manifest = tmp_path / "pod.json"
        manifest.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after-failover"},
            # no tolerations: the dead node's `unreachable` taint must keep the pod off it
            "spec": {"containers": [{"name": "p", "image": "registry.k8s.io/pause:3.6",
                                     "imagePullPolicy": "Never"}]},
        }))
        ha.kubectl("apply", "-f", str(manifest))
        ha.kubectl("wait", "--for=condition=Ready", "pod/after-failover", "--timeout=90s")
        node = ha.kubectl("get", "pod", "after-failover", "-o", "jsonpath={.spec.nodeName}").stdout
        assert node in survivors
        ha.kubectl("delete", "pod", "after-failover", "--wait=false")
        code, status = ha.etcd_status()
        assert code == 0 and "2/3 healthy" in json.dumps(status), status
    finally:
        ha.lab.start_existing("ha-cp1")
    # back: etcd has three healthy members again and cp1 is Ready
    ha.wait("etcd back to 3 healthy members", lambda: ha.etcd_status()[0] == 0
            and "3/3 healthy" in json.dumps(ha.etcd_status()[1]), timeout=120)
    ha.wait("cp1 Ready again", lambda: ha.ready().get("cp1") == "True", timeout=120)


def test_4_snapshot_then_restore_brings_back_deleted_objects(ha: Ha):
    ha.kubectl("create", "namespace", "keep-me")
    ha.kubectl("-n", "keep-me", "create", "configmap", "precious", "--from-literal=answer=42")
    r = ha.k8sboot("etcd", "snapshot")
    assert r.returncode == 0, r.stderr[-3000:]
    snapshot = next(w for w in r.stdout.split() if w.endswith(".db"))
    assert Path(snapshot).stat().st_size > 0 and Path(snapshot).stat().st_mode & 0o777 == 0o600
    ha.kubectl("delete", "namespace", "keep-me", "--timeout=60s")

    r = ha.k8sboot("etcd", "restore", snapshot)  # no --yes and no terminal: refused, nothing touched
    assert r.returncode == 2 and "--yes" in r.stderr, r.stderr
    r = ha.k8sboot("etcd", "restore", snapshot, "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = ha.kubectl("-n", "keep-me", "get", "configmap", "precious", "-o", "jsonpath={.data.answer}").stdout
    assert out == "42"
    assert ha.ready() == {n: "True" for n in NAMES}
    code, status = ha.etcd_status()
    assert code == 0, status


def test_5_remove_a_control_plane_then_refuse_to_lose_quorum(ha: Ha):
    r = ha.k8sboot("remove-node", "cp3", "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ha.write({"cp1": STACKED, "cp2": STACKED, "wk1": ["nodes"], "wk2": ["nodes"]},
             cp_vars={"apiserver_extra_args": {"profiling": "false"}})
    r = ha.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    code, status = ha.etcd_status()
    assert code == 0 and len(status["members"]) == 2, status
    for n in ("cp1", "wk1"):
        code, out = ssh(ha.hosts[n], "grep -c '^  server ' /etc/kubernetes/apiserver-lb.cfg")
        assert out.strip() == "2", (n, out)
    assert ha.ready() == {n: "True" for n in ("cp1", "cp2", "wk1", "wk2")}
    # with cp2's etcd down, removing cp1 would leave no quorum: refused, nothing changed
    ssh(ha.hosts["cp2"], "systemctl stop etcd")
    try:
        r = ha.k8sboot("remove-node", "cp1", "--yes")
        assert r.returncode != 0 and "quorum" in r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
        assert ssh(ha.hosts["cp1"], "systemctl is-active etcd kube-apiserver")[1].split() == ["active", "active"]
    finally:
        ssh(ha.hosts["cp2"], "systemctl start etcd")


def test_6_external_etcd_keeps_writing_with_one_member_down_and_says_when_quorum_is_lost(ha: Ha):
    r = ha.k8sboot("down", "--yes")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for n in ("cp1", "wk1"):  # the balancer goes with the rest
        code, out = ssh(ha.hosts[n], "ls /etc/systemd/system/k8sboot-apiserver-lb.service /etc/kubernetes "
                                     "/var/lib/etcd 2>&1; systemctl is-active k8sboot-apiserver-lb; ss -Htln")
        assert "No such file" in out and ":6444" not in out and "\nactive" not in out, (n, out)
    ha.write({"cp1": ["etcd"], "cp2": ["etcd"], "cp3": ["etcd"], "wk1": ["control_plane"], "wk2": ["nodes"]},
             name="ext")
    r = ha.k8sboot("up")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert ha.ready() == {"wk2": "True"}
    ha.lab.kill("ha-cp1")
    ha.wait("the API writes with one etcd member down",
            lambda: ha.kubectl("create", "configmap", "one-down", check=False).returncode == 0, timeout=60)
    ha.lab.kill("ha-cp2")
    r = ha.k8sboot("status")
    assert r.returncode != 0
    text = r.stdout + r.stderr
    assert "quorum" in text and "cp1" in text and "cp2" in text, text[-3000:]
