"""Benchmark high availability on system containers; prints figures, asserts nothing (issue 12).

    make bench-ha   (or: scripts/lab-netns.sh exec .venv/bin/python bench/bench_ha.py)

On fresh containers each time (destroyed at the end):

1. the single-control-plane baseline: `up` on 3 clean hosts (cp1 etcd + control
   plane + node, wk1 and wk2 nodes);
2. `up` on 5 clean hosts to all Ready: cp1..cp3 each etcd + control plane + node,
   wk1 and wk2 nodes, every node behind its own apiserver balancer
   (127.0.0.1:6444); the ratio to (1), target within 1.5x;
3. the API's unavailability seen by a client when a control-plane machine dies:
   on wk1 a probe of https://127.0.0.1:6444/readyz starts every 0.2 s (each
   `curl -sk --max-time 1`, in the background so a hanging probe does not delay
   the next), cp1's container is stopped at once (lxc-stop -t 0), probing goes on
   for 30 s; reported: the longest run of failing probes (from the first failing
   probe's start to the next passing probe's start), the first passing probe
   after the stop, and the moment the API answered steadily again. Four runs:
   cp1 shut down cleanly (`ContainerLab.stop(timeout=0)` is `lxc-stop -t 0`:
   systemd halts, every unit gets SIGTERM, the apiserver closes its sockets and
   an etcd leader hands leadership over), then cp1 killed (`lxc-stop -k`: every
   task SIGKILLed, the machine just dies); each first with cp1 as it is, then
   with etcd's leadership moved to cp1 (etcdctl move-leader) so that the etcd
   leader is lost. cp1 is started again after each run and the cluster waited
   for (etcd 3/3 healthy, every node Ready);
4. `etcd snapshot` (seconds, size) and `etcd restore FILE --yes` (seconds until
   it returns: it waits for every node Ready).

Timestamps on wk1 are its /proc/uptime (CLOCK_BOOTTIME, shared with this
machine's kernel; the offset is measured and applied anyway).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.helpers import BINARIES, kubectl, ssh, write_inventory  # noqa: E402
from tests.lab.containers import ContainerLab, LabHost  # noqa: E402

PREFIX = "bha-"
SINGLE = ["s-cp1", "s-wk1", "s-wk2"]
HA = ["cp1", "cp2", "cp3", "wk1", "wk2"]
STACKED = ["etcd", "control_plane", "nodes"]
LB = "https://127.0.0.1:6444"
POLL_EVERY = 0.2
POLL_AFTER_STOP = 30.0
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "300", "LANG": "C.UTF-8"}

# on wk1: one probe every 0.2 s, each in the background, "<start> <end> ok|fail" per line
POLLER = r"""#!/bin/bash
while :; do
  { s=$(cut -d' ' -f1 /proc/uptime)
    if [ "$(curl -sk --max-time 1 __LB__/readyz 2>/dev/null)" = ok ]; then r=ok; else r=fail; fi
    e=$(cut -d' ' -f1 /proc/uptime)
    echo "$s $e $r"; } >> "$1" &
  sleep __EVERY__
done
""".replace("__LB__", LB).replace("__EVERY__", str(POLL_EVERY))


def secs(v: float | None) -> str:
    return "never" if v is None else f"{v:.2f} s"


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def k8sboot(home: Path, *args: str, timeout: float = 1200) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run the real CLI in a subprocess; (wall seconds, result)."""
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "k8sboot", *args], check=False, capture_output=True, text=True,
                       cwd=REPO, stdin=subprocess.DEVNULL, timeout=timeout,
                       env={**ENV, "K8SBOOT_HOME": str(home)})
    return time.monotonic() - started, r


def must(what: str, r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    if r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-4000:])
        raise SystemExit(f"{what} failed ({r.returncode})")
    return r


def up(home: Path, inventory: Path) -> tuple[float, dict[str, float], str]:
    wall, r = k8sboot(home, "up", "-i", str(inventory))
    must("k8sboot up", r)
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("timings:"))
    phases = {name.strip(): float(secs) for name, secs in re.findall(r"([^,;:]+?) ([\d.]+)s", line)}
    return wall, phases, r.stdout


def report(title: str, wall: float, phases: dict[str, float], out: str,
           against: dict[str, float] | None = None) -> None:
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", out))
    print(f"\n{title}: {wall:.1f} s wall (changed={changed})")
    for name, secs in phases.items():
        extra = f"   (single CP {against[name]:6.1f} s)" if against and name in against else ""
        print(f"  {name:<32} {secs:6.1f} s{extra}")


def inventory(home: Path, name: str, hosts: dict[str, LabHost], groups: dict[str, list[str]]) -> Path:
    first = next(iter(hosts.values()))
    return write_inventory(home / f"{name}.yml", name, {
        n: {"address": hosts[n].address, "groups": g} for n, g in groups.items()
    }, key=first.key_path, binaries=BINARIES)


# -- the HA cluster, probed from here ---------------------------------------------
class Cluster:
    def __init__(self, lab: ContainerLab, home: Path, inv: Path, hosts: dict[str, LabHost]):
        self.lab, self.home, self.inv, self.hosts = lab, home, inv, hosts

    def cli(self, *args: str, timeout: float = 1200) -> tuple[float, subprocess.CompletedProcess[str]]:
        return k8sboot(self.home, *args, "-i", str(self.inv), timeout=timeout)

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        kc = self.cli("kubeconfig", timeout=60)[1].stdout.strip()
        return subprocess.run([kubectl(), "--kubeconfig", kc, "--request-timeout=10s", *args],
                              check=False, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def etcd(self) -> dict[str, Any]:
        r = self.cli("etcd", "status", "-o", "json", timeout=60)[1]
        try:
            return json.loads(r.stdout)
        except json.JSONDecodeError:
            return {"raw": (r.stdout + r.stderr)[-500:], "quorum": {}, "members": []}

    def ready(self) -> dict[str, str]:
        r = self.kubectl("get", "nodes", "-o", "json")
        if r.returncode != 0:
            return {}
        return {n["metadata"]["name"]: {c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"]
                for n in json.loads(r.stdout)["items"]}

    def cm_lease(self) -> str:
        r = self.kubectl("-n", "kube-system", "get", "lease", "kube-controller-manager",
                         "-o", "jsonpath={.spec.holderIdentity}")
        return r.stdout.strip() if r.returncode == 0 else f"? ({r.stderr.strip()[:80]})"

    def wait_whole(self, timeout: float = 300) -> float:
        """Seconds until etcd has every member healthy and every node is Ready."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            q = self.etcd().get("quorum", {})
            if q.get("total") and q.get("healthy") == q.get("total"):
                ready = self.ready()
                if len(ready) == len(self.hosts) and set(ready.values()) == {"True"}:
                    return time.monotonic() - started
            time.sleep(2)
        raise SystemExit(f"the cluster did not come back whole within {timeout:.0f} s: "
                         f"{self.etcd().get('summary')}, nodes {self.ready()}")

    def move_etcd_leader(self, to: str) -> str:
        """Ask the leader to hand leadership to member `to` (etcdctl move-leader); what happened."""
        st = self.etcd()
        members = {m["name"]: m for m in st.get("members", [])}
        leader = st.get("quorum", {}).get("leader")
        if leader == to:
            return f"{to} already leads"
        if leader not in members or to not in members:
            return f"cannot move: leader {leader!r}, members {sorted(members)}"
        pki = self.home / "clusters" / "ha" / "pki"
        r = subprocess.run([str(BINARIES["etcdctl"]["path"]), f"--endpoints={members[leader]['endpoint']}",
                            f"--cacert={pki / 'etcd/ca.crt'}", f"--cert={pki / 'etcd/healthcheck-client.crt'}",
                            f"--key={pki / 'etcd/healthcheck-client.key'}", "move-leader",
                            members[to]["member_id"]],
                           check=False, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            return f"move-leader {leader} -> {to} failed: {(r.stderr or r.stdout).strip()[:200]}"
        time.sleep(1)
        return f"moved etcd leadership {leader} -> {self.etcd().get('quorum', {}).get('leader')}"


@dataclass
class Outage:
    how: str
    stopped: str
    etcd_leader: bool
    leader_before: str | None
    lease_holder: str
    longest_fail: float  # seconds: first failing probe's start -> next passing probe's start
    recovered: bool  # a probe passed after the longest failing run
    first_ok_after: float | None  # stop -> end of the first passing probe started after the stop
    steady_after: float | None  # stop -> start of the first passing probe after the last failure
    failures: int
    probes: int
    failures_before: int
    back_whole: float  # seconds from `start_existing` to etcd 3/3 and every node Ready
    note: str


def analyse(lines: list[str], t_stop: float) -> tuple[float, bool, float | None, float | None, int, int, int]:
    probes = sorted((float(s), float(e), r == "ok") for s, e, r in (ln.split() for ln in lines if ln.count(" ") == 2))
    before = [p for p in probes if p[0] < t_stop]
    after = [p for p in probes if p[0] >= t_stop]
    longest, recovered = 0.0, True
    run_start: float | None = None
    for s, _e, ok in after:
        if not ok and run_start is None:
            run_start = s
        elif ok and run_start is not None:
            longest, run_start = max(longest, s - run_start), None
    if run_start is not None:  # still failing at the end
        tail = after[-1][0] - run_start + POLL_EVERY
        if tail >= longest:
            longest, recovered = tail, False
    first_ok = next((e - t_stop for s, e, ok in after if ok), None)
    last_fail = max((s for s, _e, ok in after if not ok), default=None)
    steady = next((s - t_stop for s, _e, ok in after if ok and (last_fail is None or s > last_fail)), None)
    if last_fail is None:
        steady = 0.0
    return (longest, recovered, first_ok, steady, sum(1 for p in after if not p[2]), len(after),
            sum(1 for p in before if not p[2]))


def lose_a_control_plane(c: Cluster, victim: str, how: str, note: str) -> Outage:
    """how: "stop" (ContainerLab.stop(timeout=0), i.e. `lxc-stop -t 0`: systemd is told to halt
    and every unit gets SIGTERM: a clean shutdown, not waited for) or "kill" (`lxc-stop -k`:
    every task SIGKILLed at once, the machine just dies)."""
    name = PREFIX + victim
    poller_host = c.hosts["wk1"]
    log = f"/root/bha-poll-{int(time.time())}.log"
    code, out = ssh(poller_host, f"cat > /root/bha-poll.sh <<'EOF'\n{POLLER}EOF\nchmod +x /root/bha-poll.sh; "
                                 f"command -v curl && rm -f {log}")
    if code != 0:
        raise SystemExit(f"cannot set up the poller on wk1: {out}")
    st = c.etcd()
    leader = st.get("quorum", {}).get("leader")
    lease = c.cm_lease()
    code, out = ssh(poller_host, f"setsid nohup /root/bha-poll.sh {log} >/dev/null 2>&1 </dev/null & echo $!")
    pid = out.strip().splitlines()[-1]
    try:
        # wk1's clock against ours: the same kernel (no lxcfs), so wk1's uptime lies between
        # our readings before and after asking for it; else use the midpoint
        t0 = boottime()
        _, up_s = ssh(poller_host, "cut -d' ' -f1 /proc/uptime")
        t1 = boottime()
        wk1_up = float(up_s.strip())
        offset = 0.0 if t0 - 0.01 <= wk1_up <= t1 + 0.01 else wk1_up - (t0 + t1) / 2
        time.sleep(5)  # a few seconds of passing probes before the stop
        t_stop = boottime() + offset
        if how == "stop":
            c.lab.stop(name, timeout=0)
        else:
            subprocess.run(["lxc-stop", "-P", str(c.lab.lxcpath), "-n", name, "-k"], check=False,
                           capture_output=True, stdin=subprocess.DEVNULL)
        stop_took = boottime() + offset - t_stop
        time.sleep(POLL_AFTER_STOP)
    finally:
        ssh(poller_host, f"kill -- -{pid} 2>/dev/null || kill {pid}")
    time.sleep(1.5)  # the probes in flight finish
    _, text = ssh(poller_host, f"cat {log}")
    restarted = time.monotonic()
    c.lab.start_existing(name)
    c.wait_whole()
    back = time.monotonic() - restarted  # the container's boot and the rejoin
    longest, recovered, first_ok, steady, fails, probes, fails_before = analyse(text.splitlines(), t_stop)
    took = sorted(float(e) - float(s) for s, e, r in (ln.split() for ln in text.splitlines()
                                                      if ln.count(" ") == 2) if r == "fail")
    if took:
        note += f"; a failing probe took {took[len(took) // 2]:.2f} s (median)"
    return Outage(how, victim, leader == victim, leader, lease, longest, recovered, first_ok, steady, fails,
                  probes, fails_before, back,
                  f"{note}; lxc-stop took {stop_took:.2f} s; clock offset wk1-here {offset * 1000:+.0f} ms")


def show_outage(i: int, o: Outage) -> None:
    holder = o.lease_holder
    held = holder.split("_")[0] in (o.stopped, PREFIX + o.stopped)
    how = "clean shutdown (lxc-stop -t 0)" if o.how == "stop" else "killed (lxc-stop -k)"
    print(f"\nlosing a control plane, run {i}: {o.stopped} {how} "
          f"(etcd leader: {'yes' if o.etcd_leader else 'no, ' + str(o.leader_before)}; "
          f"controller-manager lease: {'yes' if held else 'no'}, holder {holder})")
    print(f"  {o.note}")
    print(f"  probes after the stop: {o.probes}, failed: {o.failures} (failed before the stop: "
          f"{o.failures_before})")
    print(f"  longest failing run {o.longest_fail:.2f} s{'' if o.recovered else ' (still failing at the end)'}")
    print(f"  first passing probe {secs(o.first_ok_after)} after the stop; steadily passing from "
          f"{secs(o.steady_after)} after the stop")
    print(f"  {o.stopped} started again: etcd 3/3 healthy and every node Ready {o.back_whole:.1f} s later")


def main() -> None:
    lab = ContainerLab()
    names = [PREFIX + n for n in SINGLE]
    with tempfile.TemporaryDirectory(prefix="bha-") as tmp:
        # 1. the single-control-plane baseline
        try:
            t = time.monotonic()
            started = lab.start(names)
            print(f"3 clean hosts answer SSH after {time.monotonic() - t:.1f} s (not part of `up`)")
            hosts = {h.name.removeprefix(PREFIX + "s-"): h for h in started}
            home = Path(tmp) / "single"
            home.mkdir()
            inv = inventory(home, "single", hosts, {"cp1": STACKED, "wk1": ["nodes"], "wk2": ["nodes"]})
            single_wall, single_phases, out = up(home, inv)
            report("single control plane, up (3 clean hosts)", single_wall, single_phases, out)
        finally:
            lab.destroy(names)

        # 2. HA up on five clean hosts
        names = [PREFIX + n for n in HA]
        try:
            t = time.monotonic()
            started = lab.start(names)
            print(f"\n5 clean hosts answer SSH after {time.monotonic() - t:.1f} s (not part of `up`)")
            hosts = {h.name.removeprefix(PREFIX): h for h in started}
            home = Path(tmp) / "ha"
            home.mkdir()
            inv = inventory(home, "ha", hosts, {"cp1": STACKED, "cp2": STACKED, "cp3": STACKED,
                                                "wk1": ["nodes"], "wk2": ["nodes"]})
            ha_wall, ha_phases, out = up(home, inv)
            report("HA, up (5 clean hosts)", ha_wall, ha_phases, out, against=single_phases)
            print(f"  HA / single: {ha_wall:.1f} / {single_wall:.1f} s = {ha_wall / single_wall:.2f}x "
                  "(target: within 1.5x)")
            etcd_line = next((ln.strip() for ln in out.splitlines() if "healthy" in ln and "quorum" in ln), None)
            if etcd_line:
                print(f"  {etcd_line}")
            c = Cluster(lab, home, inv, hosts)
            c.wait_whole(timeout=120)

            # 3. the API's unavailability when a control-plane machine dies, twice
            outages: list[Outage] = []
            for how in ("stop", "kill"):
                outages.append(lose_a_control_plane(c, "cp1", how, "cp1 as it is"))
                show_outage(len(outages), outages[-1])
                moved = c.move_etcd_leader("cp1")
                time.sleep(2)
                outages.append(lose_a_control_plane(c, "cp1", how, moved))
                show_outage(len(outages), outages[-1])

            # 4. snapshot and restore
            snap_wall, r = c.cli("etcd", "snapshot")
            must("k8sboot etcd snapshot", r)
            snapshot = next(w for w in r.stdout.split() if w.endswith(".db"))
            snap_size = Path(snapshot).stat().st_size
            print(f"\netcd snapshot: {snap_wall:.2f} s wall, {snap_size / 2**20:.1f} MiB")
            print("  " + "\n  ".join(r.stdout.strip().splitlines()))
            restore_wall, r = c.cli("etcd", "restore", snapshot, "--yes")
            must("k8sboot etcd restore", r)
            print(f"\netcd restore: {restore_wall:.1f} s wall (until every node Ready)")
            tl = next((ln for ln in r.stdout.splitlines() if ln.startswith("timings:")), None)
            if tl:
                print(f"  {tl}")
            print(f"  after it: {c.etcd().get('summary')}; nodes {c.ready()}")
        finally:
            lab.destroy(names)

    print("\nHA benchmark (5 hosts: 3 stacked control planes + 2 workers)")
    print(f"  single-CP up (3 hosts)      {single_wall:5.1f} s")
    print(f"  HA up (5 hosts)             {ha_wall:5.1f} s   ({ha_wall / single_wall:.2f} of single)")
    for i, o in enumerate(outages, 1):
        role = "etcd leader" if o.etcd_leader else "not etcd leader"
        how = "clean shutdown" if o.how == "stop" else "SIGKILL"
        print(f"  API outage after losing cp1 {o.longest_fail:.2f} s (longest failing run at {POLL_EVERY} s "
              f"polls), first success {secs(o.first_ok_after)} after the stop  [run {i}: {how}, {role}; "
              f"{o.failures}/{o.probes} probes failed, steady from {secs(o.steady_after)}]")
    print(f"  etcd snapshot               {snap_wall:.2f} s  ({snap_size / 2**20:.1f} MiB)")
    print(f"  etcd restore                {restore_wall:5.1f} s")


if __name__ == "__main__":
    main()
