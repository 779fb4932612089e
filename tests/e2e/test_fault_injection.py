"""Faults on real hosts: `up` killed at five moments, a host lost mid-run, a full disk.

Its own two system containers (fi-cp1: etcd + control plane + node, fi-wk1:
node), so the session's cluster and engine hosts are never touched. The tests
depend on each other and run in order: the first makes the cluster the hard
way, the second breaks a host's network under a rerun, the third fills a disk.
What each fault hit (which moment, which file) is printed, and kept in the
journal shown when an assertion fails.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.faults import Probe, Run
from tests.e2e.helpers import BINARIES, k8sboot, kubectl, write_inventory
from tests.e2e.test_engine_on_hosts import recap
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

NAMES = ["fi-cp1", "fi-wk1"]
TMP_PATTERN = "*.k8sboot-tmp.*"
ETCDCTL = "/root/fi-etcdctl"  # the machine's own etcdctl, copied over: not part of the cluster
ETCD_TLS = ("--endpoints=https://127.0.0.1:2379 --cacert=/etc/etcd/pki/ca.crt "
            "--cert=/etc/etcd/pki/healthcheck-client.crt --key=/etc/etcd/pki/healthcheck-client.key")


class Faults:
    def __init__(self, lab: ContainerLab, home: Path, hosts: dict[str, LabHost]):
        self.lab = lab
        self.home = home
        self.hosts = hosts
        self.probe = Probe(hosts)
        self.journal: list[str] = []
        self.inventory = write_inventory(home / "fi.yml", "fi", {
            "fi-cp1": {"address": hosts["fi-cp1"].address, "groups": ["etcd", "control_plane", "nodes"]},
            "fi-wk1": {"address": hosts["fi-wk1"].address, "groups": ["nodes"]},
        }, key=hosts["fi-cp1"].key_path, binaries=BINARIES)

    def note(self, msg: str) -> None:
        self.journal.append(msg)
        print(f"[fault injection] {msg}", flush=True)

    def start_up(self) -> Run:
        return Run(["up", "-i", str(self.inventory)], home=self.home)

    def up(self) -> subprocess.CompletedProcess[str]:
        return k8sboot("up", "-i", str(self.inventory), home=self.home, timeout=900)

    def sh(self, host: str, command: str) -> str:
        code, out = self.probe.run(host, command, timeout=120)
        assert code == 0, (host, command, out)
        return out

    def tmp_files(self, host: str, where: str = "/usr/local/bin /etc") -> list[str]:
        code, out = self.probe.run(host, f"find {where} -xdev -name '{TMP_PATTERN}' 2>/dev/null; true")
        return out.split() if code == 0 else []

    def ready_nodes(self) -> dict[str, str]:
        kc = self.home / "clusters" / "fi" / "admin.kubeconfig"
        out = subprocess.run([kubectl(), "--kubeconfig", str(kc), "get", "nodes", "-o", "json"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
                for n in json.loads(out)["items"]}

    def veth(self, name: str) -> str:
        """The host end of a container's veth, in the lab namespace (lxc.net.0.veth.pair)."""
        config = (self.lab.lxcpath / name / "config").read_text()
        m = re.search(r"^lxc\.net\.0\.veth\.pair\s*=\s*(\S+)", config, re.MULTILINE)
        assert m, config
        return m.group(1)


@pytest.fixture(scope="module")
def fi(tmp_path_factory: pytest.TempPathFactory):
    lab = ContainerLab()
    started = lab.start(NAMES)
    faults = Faults(lab, tmp_path_factory.mktemp("fi"), {h.name: h for h in started})
    try:
        yield faults
    finally:
        faults.probe.close()
        lab.destroy(NAMES)


def _killed(fi: Faults, run: Run, step: str, reason: str | None) -> None:
    """After a SIGKILL: the process died of it; note what the fault hit."""
    assert reason, f"{step}: the run ended before the moment came\n{run.output[-4000:]}"
    assert run.signalled is not None
    rc = run.wait(60)
    assert rc == -signal.SIGKILL, f"{step}: exit {rc}\n{run.output[-4000:]}"
    fi.note(f"{step}: SIGKILL {run.signalled[1] - run.started:.1f} s into the run, at: {reason}")


def test_1_up_killed_at_five_moments_then_a_rerun_converges(fi: Faults):
    # 1. Ctrl-C just after the preflight (or pki) phase begins: out within 30 s, exit 130
    run = fi.start_up()
    try:
        reason = run.interrupt_when(
            lambda: next((f"output showed '{p}'" for p in ("▶ preflight", "▶ pki") if run.seen(p)), None),
            signal.SIGINT)
        assert reason, f"the run ended before preflight\n{run.output[-4000:]}"
        assert run.signalled is not None
        try:
            rc = run.proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 30 s after SIGINT\n{run.output[-4000:]}")
        took = time.monotonic() - run.signalled[1]
        run.wait(10)
        assert rc == 130, f"exit {rc}\n{run.output[-4000:]}"
        assert "interrupted" in run.output, run.output[-4000:]
        fi.note(f"1 Ctrl-C: SIGINT at {reason}; exit 130 after {took:.1f} s; last lines: "
                + " | ".join(run.output.strip().splitlines()[-3:]))
    finally:
        run.reap()

    # 2. SIGKILL mid-upload (a new `<dest>.k8sboot-tmp.<random>` exists), else at the first etcd task
    stale = {n: set(fi.tmp_files(n)) for n in NAMES}
    fi.note(f"1 Ctrl-C: temporary files after it: { {n: sorted(f) for n, f in stale.items()} }")
    run = fi.start_up()
    try:
        def uploading() -> str | None:
            for name in NAMES:
                found = [f for f in fi.tmp_files(name) if f not in stale[name]]
                if found:
                    return f"upload in progress on {name}: {found[0]}"
            if re.search(r"\] etcd : ", run.output):
                return "the first etcd task line (no upload caught in flight)"
            return None

        reason = run.interrupt_when(uploading, signal.SIGKILL)
        _killed(fi, run, "2 mid-upload", reason)
    finally:
        run.reap()
    time.sleep(3)
    fi.note(f"2 mid-upload: temporary files 3 s after the kill: "
            f"{ {n: fi.tmp_files(n) for n in NAMES} }")

    # 3. SIGKILL as etcd starts, in a run that began with etcd not active
    state = fi.probe.run("fi-cp1", "systemctl is-active etcd")[1].strip()
    if state in ("active", "activating"):
        fi.note(f"3 etcd start: etcd was {state} after step 2; stopped it so this run starts it")
        fi.sh("fi-cp1", "systemctl stop etcd")
    run = fi.start_up()
    try:
        def etcd_starting() -> str | None:
            out = fi.probe.run("fi-cp1", "systemctl is-active etcd")[1].strip()
            return f"systemctl is-active etcd: {out}" if out in ("active", "activating") else None

        reason = run.interrupt_when(etcd_starting, signal.SIGKILL)
        _killed(fi, run, "3 etcd start", reason)
    finally:
        run.reap()

    # 4. SIGKILL once a kube-apiserver process exists on fi-cp1
    before = fi.probe.run("fi-cp1", "pgrep -x kube-apiserver")
    fi.note(f"4 apiserver: before the run, pgrep -x kube-apiserver -> {before}")
    run = fi.start_up()
    try:
        def apiserver_running() -> str | None:
            code, out = fi.probe.run("fi-cp1", "pgrep -x kube-apiserver")
            return f"kube-apiserver pid {out.split()[0]}" if code == 0 and out.split() else None

        reason = run.interrupt_when(apiserver_running, signal.SIGKILL)
        _killed(fi, run, "4 apiserver", reason)
    finally:
        run.reap()

    # 5. SIGKILL once waiting for the nodes to be Ready
    run = fi.start_up()
    try:
        reason = run.interrupt_when(
            lambda: "output showed '▶ wait for nodes Ready'" if run.seen("▶ wait for nodes Ready") else None,
            signal.SIGKILL)
        _killed(fi, run, "5 wait for nodes", reason)
    finally:
        run.reap()

    # then: one more up finishes the job
    r = fi.up()
    assert r.returncode == 0, "\n".join(fi.journal) + "\n" + r.stdout[-4000:] + r.stderr[-4000:]
    fi.note(f"final up: exit 0; {r.stdout.strip().splitlines()[-1]}")
    assert fi.ready_nodes() == {"fi-cp1": "True", "fi-wk1": "True"}

    # exactly one etcd member, no duplicate left by the kills
    fi.probe.put("fi-cp1", "/usr/bin/etcdctl", ETCDCTL, 0o755)
    members = json.loads(fi.sh("fi-cp1", f"ETCDCTL_API=3 {ETCDCTL} {ETCD_TLS} member list -w json"))
    listed = [(m.get("name"), m.get("peerURLs")) for m in members.get("members", [])]
    fi.note(f"etcd members: {listed}")
    assert len(listed) == 1, listed
    assert listed[0][1] == [f"https://{fi.hosts['fi-cp1'].address}:2380"], listed

    # and the result is the converged state: a rerun changes nothing
    r = fi.up()
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    counts = recap(r.stdout)
    assert {h: c["changed"] for h, c in counts.items()} == {"fi-cp1": 0, "fi-wk1": 0}, r.stdout[-4000:]
    assert "(0 changed," in r.stdout, r.stdout[-2000:]

    # no temporary upload left anywhere on either host (the killed uploads' included)
    leftovers = {n: fi.tmp_files(n, "/") for n in NAMES}
    assert leftovers == {"fi-cp1": [], "fi-wk1": []}, (leftovers, fi.journal)


def test_2_a_host_lost_mid_run_is_named_and_a_rerun_converges(fi: Faults):
    veth = fi.veth("fi-wk1")
    # give the run work on fi-wk1 (two binaries to upload again), so the cut lands mid-task
    fi.sh("fi-wk1", "rm -f /usr/local/bin/kubelet /usr/local/bin/kube-proxy")
    # back on the network, fi-wk1's kubelet stays cut off from the apiserver until the rerun has
    # waited for it: its Ready=True outlives the cut by up to ~50 s (until the lifecycle controller
    # notices), and a rerun that took it for Ready saw the node turn Unknown just after saying so
    to_apiserver = ["OUTPUT", "-p", "tcp", "-d", fi.hosts["fi-cp1"].address, "--dport", "6443", "-j", "DROP"]
    run = fi.start_up()
    cut = blocked = False
    try:
        reason = run.watch(lambda: "'▶ etcd + control plane | nodes'"
                           if run.seen("▶ etcd + control plane | nodes") else None)
        assert reason, f"the run ended before the roles phase\n{run.output[-4000:]}"
        subprocess.run(["ip", "link", "set", veth, "down"], check=True, capture_output=True)
        cut = True
        cut_at = time.monotonic()
        fi.probe.forget("fi-wk1")
        fi.note(f"lost host: {veth} (fi-wk1) down {cut_at - run.started:.1f} s into the run, after {reason}")
        rc = run.wait(300)
        fi.note(f"lost host: exit {rc} {time.monotonic() - cut_at:.1f} s after the cut")
    finally:
        try:
            if cut:
                fi.lab.attach("fi-wk1", "iptables", "-I", *to_apiserver)
                blocked = True
        finally:
            if cut:
                subprocess.run(["ip", "link", "set", veth, "up"], check=True, capture_output=True)
            run.reap()
    out = run.output
    fi.note("lost host: what the run said about fi-wk1: " + " | ".join(
        line.strip() for line in out.splitlines() if "fi-wk1" in line))
    assert rc == 1, out[-4000:]
    counts = recap(out)
    # the other host finished its work
    assert counts["fi-cp1"]["failed"] == 0 and counts["fi-cp1"]["unreachable"] == 0, out[-4000:]
    assert "fi-cp1: FAILED" not in out and "fi-cp1: UNREACHABLE" not in out, out[-4000:]

    # a rerun waits for fi-wk1's kubelet (not for its stale Ready), then converges once it is let through
    rerun = fi.start_up()
    try:
        waited = rerun.watch(lambda: next((line.strip() for line in rerun.output.splitlines()
                                           if re.search(r"waiting for .*fi-wk1 \(", line)), None), timeout=300)
        fi.note(f"lost host: the rerun, while fi-wk1's kubelet cannot reach the apiserver: {waited}")
    finally:
        if blocked:
            fi.lab.attach("fi-wk1", "iptables", "-D", *to_apiserver)
    try:
        rc = rerun.wait(300)
    finally:
        rerun.reap()
    assert waited, ("the rerun ended without waiting for fi-wk1, whose kubelet could not reach the "
                    f"apiserver\n{rerun.output[-4000:]}")
    assert rc == 0, rerun.output[-4000:]
    assert fi.ready_nodes() == {"fi-cp1": "True", "fi-wk1": "True"}, rerun.output[-4000:]
    fi.note(f"lost host: rerun exit 0; {rerun.output.strip().splitlines()[-1]}; temporary files on fi-wk1: "
            f"{fi.tmp_files('fi-wk1', '/')}")

    # and the lost host was named as such (a lost connection, not a failed command). Where the cut
    # lands decides which step notices: a play (then its recap counts the host unreachable) or,
    # when fi-wk1's preview was already done, the roll's own SSH commands (no play, no recap line)
    assert re.search(r"fi-wk1: (UNREACHABLE|unreachable)", out), out[-4000:]
    assert "fi-wk1: FAILED" not in out, out[-4000:]
    if "fi-wk1" in counts:
        # one count per play that lost it: the node role's and the pod routes', which run side by side
        assert counts["fi-wk1"]["unreachable"] in (1, 2) and counts["fi-wk1"]["failed"] == 0, out[-4000:]


def test_3_a_full_disk_during_upload_is_reported_as_such(fi: Faults, tmp_path: Path):
    role = tmp_path / "roles" / "bigcopy"
    (role / "tasks").mkdir(parents=True)
    (role / "files").mkdir()
    (role / "files" / "big").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    (role / "tasks" / "main.yml").write_text(
        "- name: Copy a file bigger than the disk\n"
        "  ansible.builtin.copy:\n    src: big\n    dest: /opt/tiny/big\n    mode: '0644'\n")
    wk1 = fi.hosts["fi-wk1"]
    inv = write_inventory(tmp_path / "tiny.yml", "tiny",
                          {"fi-wk1": {"address": wk1.address, "groups": ["etcd", "control_plane", "nodes"]}},
                          key=wk1.key_path)
    fi.sh("fi-wk1", "mkdir -p /opt/tiny && mount -t tmpfs -o size=64k tmpfs /opt/tiny")
    try:
        r = k8sboot("run", "bigcopy", "-i", str(inv), "--roles-path", str(tmp_path / "roles"),
                    home=tmp_path / "home", timeout=600)
        out = r.stdout + r.stderr
        fi.note(f"full disk: exit {r.returncode}; " + " | ".join(
            line for line in out.splitlines() if "fi-wk1" in line or "space" in line.lower()))
        left = fi.sh("fi-wk1", "ls -A /opt/tiny").split()
    finally:
        fi.probe.run("fi-wk1", "umount /opt/tiny; rmdir /opt/tiny")
    assert r.returncode == 1, out[-4000:]
    assert "No space left on device" in out or "no space" in out.lower(), out[-4000:]
    assert "UNREACHABLE" not in out, out[-4000:]
    assert recap(r.stdout)["fi-wk1"]["unreachable"] == 0, out[-4000:]
    assert not [f for f in left if ".k8sboot-tmp." in f], left
