"""Benchmark `k8sboot up` on clean system containers, per host count; prints figures, asserts nothing.

    make bench      (or: scripts/lab-netns.sh exec .venv/bin/python bench/bench_up.py
                     [--hosts 3,10,30] [--json FILE] [--logs DIR] [--timeout S])

For each N in --hosts (default 3; host 1 = etcd + control plane + node, hosts 2..N
nodes; wk1 logs in as `admin` with sudo, the others as root):
  1. N fresh containers, plus two spares started alongside (not in the inventory);
     the hand-run floor on the N hosts (`floor.sh`: everything pre-rendered, tar
     over SSH, systemctl, kubectl polling; its reset then puts the hosts back; if
     the reset fails the N hosts are booted fresh instead);
  2. `k8sboot up` cold: wall time and the phases of its `timings:` line;
  3. the no-op rerun, three times: the median's wall time and phases, changed count;
  (N = 3 only: a rerun after one template change, kube-proxy's config, which
   restarts kube-proxy on every node and nothing else; the add-node run below then
   keeps that template, so it changes nothing on the existing hosts)
  4. add one node: the first spare joins the inventory as a node, `k8sboot up` again:
     wall time, and how many of the EXISTING hosts had any `changed:` task (goal 0);
     then the second spare with `k8sboot up --limit` (kubespray's scale.yml --limit: no
     other host is connected to), wall time and existing hosts changed likewise;
  5. the containers destroyed before the next N (31 containers take ~3 GB).
Then a table and the cold up's phases per N; with --json FILE the same as JSON,
with --logs DIR every run's full output. A failed step prints the tail of its
output and the bench goes on with the next N, exiting 1 at the end.

The floor script is the workplace's shared one (../shared/bench/floor.sh beside the
checkout, or $FLOOR_SH); without it the floor and the ratio are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench_args import host_counts  # noqa: E402
from tests.e2e.helpers import BINARIES, KUBE_BIN, write_inventory
from tests.lab.containers import ContainerLab, LabHost

CLUSTER = "bench"
TAIL_LINES = 40
FLOOR_SH = Path(os.environ.get("FLOOR_SH") or REPO.parent / "shared" / "bench" / "floor.sh")
# plain lines (no terminal): "12:00:01 changed: [wk3] node : Install kubelet"
CHANGED_LINE = re.compile(r"^(?:\d\d:\d\d:\d\d )?changed: \[([^\]]+)\] (.+)$", re.MULTILINE)


@dataclass
class Run:
    """One `k8sboot up`: wall seconds, its phases, what it changed (recap and per-host task lines)."""

    what: str
    ok: bool
    wall: float
    rc: int | None  # None: killed at the timeout
    cpu: float = 0.0  # k8sboot's own CPU (user + sys): what it took from the hosts' two CPUs
    phases: dict[str, float] = field(default_factory=dict)
    changed: int | None = None  # the recap's, summed over hosts
    changed_tasks: dict[str, list[str]] = field(default_factory=dict)  # host -> "role : task" lines
    tail: str = ""  # failed runs only


@dataclass
class Floor:
    ok: bool
    summary: dict[str, float | None] = field(default_factory=dict)  # floor.sh's last line, seconds
    reset_ok: bool | None = None
    tail: str = ""

    @property
    def total(self) -> float | None:
        return self.summary.get("total") if self.ok else None


@dataclass
class Result:
    hosts: int
    boot_s: float | None = None  # containers answering SSH: not part of any figure
    floor: Floor | None = None
    rebooted_after_floor: bool = False
    up: Run | None = None
    rerun: Run | None = None  # the median of `reruns` (a failed one, if any failed)
    reruns: list[Run] = field(default_factory=list)
    template_rerun: Run | None = None
    add_node: Run | None = None
    existing_changed: list[str] | None = None  # existing hosts with a changed task on add-node
    add_limited: Run | None = None  # the second spare, `up --limit` that host
    existing_changed_limited: list[str] | None = None
    errors: list[str] = field(default_factory=list)  # failures outside the timed runs (lab, ...)

    def failed(self) -> bool:
        runs = [self.up, self.rerun, self.add_node, self.add_limited] + (
            [self.template_rerun] if self.hosts == 3 else []
        )
        floor_bad = FLOOR_SH.is_file() and (self.floor is None or not self.floor.ok)
        return bool(self.errors) or floor_bad or any(r is None or not r.ok for r in runs)


RERUNS = 3


def median_run(runs: list[Run]) -> Run | None:
    """The run of median wall time; a failed run if any failed (the figure is then 'failed')."""
    failed = [r for r in runs if not r.ok]
    if failed or not runs:
        return failed[0] if failed else None
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


def tail(out: str, err: str) -> str:
    return "\n".join(
        out.splitlines()[-TAIL_LINES:] + ["--- stderr ---"] + err.splitlines()[-TAIL_LINES // 2 :]
    )


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_cmd(
    cmd: list[str], env: dict[str, str], timeout: float
) -> tuple[int | None, str, str, float]:
    started = time.monotonic()
    # a session of its own, so that at the timeout the whole group goes (ssh masters too)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        rc = None
    return rc, out, err, time.monotonic() - started


def up(
    what: str, inventory: Path, home: Path, timeout: float, logs: Path | None, *extra: str
) -> Run:
    # no COLUMNS: off a terminal k8sboot then never wraps a line (the timings line is long at N=30)
    env = {"K8SBOOT_HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NO_COLOR": "1"}
    cpu_before = children_cpu()  # nothing else is reaped while it runs
    rc, out, err, wall = run_cmd(
        [sys.executable, "-m", "k8sboot", "up", "-i", str(inventory), *extra], env, timeout
    )
    cpu = children_cpu() - cpu_before
    if logs:
        name = re.sub(r"\W+", "-", what).strip("-")
        (logs / f"{home.name}-{name}.log").write_text(out + "\n--- stderr ---\n" + err)
    run = Run(what=what, ok=rc == 0, wall=wall, rc=rc, cpu=round(cpu, 1))
    line = next((ln for ln in out.splitlines() if ln.startswith("timings:")), "")
    run.phases = {name.strip(): float(s) for name, s in re.findall(r"([^,;:]+?) ([\d.]+)s", line)}
    recap = re.findall(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)", out, re.MULTILINE)
    run.changed = sum(int(c) for c in recap) if recap else None
    for host, task in CHANGED_LINE.findall(out):
        run.changed_tasks.setdefault(host, []).append(task.strip())
    if not run.ok:
        run.tail = tail(out, err)
        print(
            f"  {what}: FAILED ({'timed out' if rc is None else f'exit {rc}'}) after {wall:.1f} s; "
            "output ends:\n" + "\n".join("    | " + ln for ln in run.tail.splitlines()),
            flush=True,
        )
    else:
        print(f"  {what}: {wall:.1f} s (changed={run.changed}, k8sboot CPU {cpu:.1f} s)", flush=True)
    return run


def floor(hosts: list[LabHost], work: Path, timeout: float) -> Floor:
    """floor.sh on these hosts, then its reset (the hosts as they were, for `up`)."""
    bins = work / "floor-bin"  # the six components, etcd and kubectl in one directory
    bins.mkdir()
    for b in KUBE_BIN.iterdir():
        (bins / b.name).symlink_to(b)
    etcd: Any = BINARIES["etcd"]
    (bins / "etcd").symlink_to(etcd["path"])
    # floor.sh takes the hosts as FLOOR_ADDRS ("A1 A2 ..."); we are in the lab netns already
    env = {
        **os.environ,
        "FLOOR_KEY": str(hosts[0].key_path),
        "FLOOR_NETNS": "",
        "FLOOR_ADDRS": " ".join(h.address for h in hosts),
    }
    n, fl = str(len(hosts)), str(work / "fl")  # short: its ssh control sockets live in it
    rc, out, err, _ = run_cmd(["bash", str(FLOOR_SH), str(bins), n, fl], env, timeout)
    last = out.strip().splitlines()[-1] if out.strip() else ""
    summary = {
        k: (None if v == "-" else float(v))
        for k, v in re.findall(r"(\w+)=([\d.]+|-)", last)
        if k != "hosts"
    }
    result = Floor(ok=rc == 0 and summary.get("total") is not None, summary=summary)
    print(f"  hand-run floor: {last}", flush=True)
    if not result.ok:
        result.tail = tail(out, err)
        print(
            "  floor FAILED; output ends:\n"
            + "\n".join("    | " + ln for ln in result.tail.splitlines()),
            flush=True,
        )
    rc, out, err, _ = run_cmd(["bash", str(FLOOR_SH), "--reset", n, fl], env, timeout)
    result.reset_ok = rc == 0
    if not result.reset_ok:
        print(
            "  floor reset FAILED; output ends:\n"
            + "\n".join("    | " + ln for ln in tail(out, err).splitlines()),
            flush=True,
        )
    return result


def layout(hosts: list[LabHost]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "cp1": {"address": hosts[0].address, "groups": ["etcd", "control_plane", "nodes"]}
    }
    for i, h in enumerate(hosts[1:], start=1):
        out[f"wk{i}"] = {"address": h.address, "groups": ["nodes"]}
        if i == 1:  # one host through sudo, so become is part of every run
            out[f"wk{i}"].update({"user": "admin", "become": True})
    return out


def container_names(n: int) -> tuple[list[str], str]:
    return ["bench-cp1"] + [f"bench-wk{i}" for i in range(1, n)], ["bench-spare", "bench-spare2"]


def boot(lab: ContainerLab, names: list[str]) -> tuple[list[LabHost], float]:
    started = time.monotonic()
    hosts = lab.start(names)
    return hosts, round(time.monotonic() - started, 1)


def steps(
    lab: ContainerLab, n: int, home: Path, result: Result, timeout: float, logs: Path | None
) -> None:
    names, spare_names = container_names(n)
    # the spares boot with the others: adding them later times `up`, not a container's boot
    everything, result.boot_s = boot(lab, names + spare_names)
    hosts, spare, spare2 = everything[:-2], everything[-2], everything[-1]
    print(
        f"  {n} + 2 clean hosts answer SSH after {result.boot_s:.1f} s (not part of any figure)",
        flush=True,
    )
    if FLOOR_SH.is_file():
        result.floor = floor(hosts, home, timeout)
        if not result.floor.reset_ok:  # whatever the floor left must not be `up`'s problem
            hosts, secs = boot(lab, names)
            result.rebooted_after_floor = True
            print(f"  the {n} hosts booted fresh again ({secs:.1f} s)", flush=True)
    else:
        print(f"  (no hand-run floor: {FLOOR_SH} not found)", flush=True)

    inv = write_inventory(
        home / "bench.yml", CLUSTER, layout(hosts), key=hosts[0].key_path, binaries=BINARIES
    )
    result.up = up("up (clean hosts)", inv, home, timeout, logs)
    if not result.up.ok:
        return
    # a rerun is short and varies with whatever else the two CPUs do: three, the median reported
    result.reruns = [up(f"rerun (no-op) {i}/{RERUNS}", inv, home, timeout, logs) for i in range(1, RERUNS + 1)]
    result.rerun = median_run(result.reruns)
    extra: list[str] = []
    if n == 3:  # kept for N = 3 only: comparable with earlier runs, and no need at every N
        override = home / "templates" / "kube-proxy"
        override.mkdir(parents=True)
        shipped = (REPO / "templates/kube-proxy/config.yaml.j2").read_text()
        (override / "config.yaml.j2").write_text(shipped + "# changed by the benchmark\n")
        # add-node keeps the changed template: nothing to undo on the existing hosts there
        extra = ["--templates", str(home / "templates")]
        result.template_rerun = up(
            "rerun after one template change (kube-proxy)", inv, home, timeout, logs, *extra
        )

    existing = set(layout(hosts))
    inv = write_inventory(
        home / "bench.yml",
        CLUSTER,
        layout(hosts + [spare]),
        key=hosts[0].key_path,
        binaries=BINARIES,
    )
    result.add_node = up(f"add one node (wk{n})", inv, home, timeout, logs, *extra)
    if result.add_node.ok:
        result.existing_changed = sorted(h for h in result.add_node.changed_tasks if h in existing)
        for h in result.existing_changed:
            print(
                f"    existing host {h} changed: {'; '.join(result.add_node.changed_tasks[h])}",
                flush=True,
            )
    else:
        return
    existing = set(layout(hosts + [spare]))
    inv = write_inventory(
        home / "bench.yml",
        CLUSTER,
        layout(hosts + [spare, spare2]),
        key=hosts[0].key_path,
        binaries=BINARIES,
    )
    added = f"wk{n + 1}"
    result.add_limited = up(
        f"add one node with --limit {added}", inv, home, timeout, logs, *extra, "--limit", added
    )
    if result.add_limited.ok:
        result.existing_changed_limited = sorted(
            h for h in result.add_limited.changed_tasks if h in existing
        )


def bench_one(lab: ContainerLab, n: int, timeout: float, logs: Path | None) -> Result:
    result = Result(hosts=n)
    names, spares = container_names(n)
    print(f"\n== {n} host(s) ==", flush=True)
    try:
        # short: the floor's ssh control sockets live in it (unix socket paths < 108 bytes)
        with tempfile.TemporaryDirectory(prefix=f"kb{n}-") as tmp:
            steps(lab, n, Path(tmp), result, timeout, logs)
    except Exception as e:  # noqa: BLE001 - a lab failure is reported, the bench goes on
        result.errors.append(f"{type(e).__name__}: {e}")
        print(f"  FAILED: {type(e).__name__}: {e}", flush=True)
    finally:
        lab.destroy(names + spares)  # memory: the next N needs it
    return result


def secs(run: Run | None) -> str:
    if run is None:
        return "-"
    return f"{run.wall:.1f}" if run.ok else "failed"


def row(r: Result) -> dict[str, Any]:
    """One line of the table, as numbers (None = not measured or failed)."""

    def ok(run: Run | None) -> float | None:
        return round(run.wall, 1) if run and run.ok else None

    floor_s = r.floor.total if r.floor else None
    up_s = ok(r.up)
    return {
        "N": r.hosts,
        "floor_s": floor_s,
        "up_s": up_s,
        "up_cpu_s": r.up.cpu if r.up and r.up.ok else None,
        "up_over_floor": round(up_s / floor_s, 2) if up_s and floor_s else None,
        "rerun_s": ok(r.rerun),
        "rerun_changed": r.rerun.changed if r.rerun and r.rerun.ok else None,
        "add_node_s": ok(r.add_node),
        "add_limited_s": ok(r.add_limited),
        "existing_hosts_changed_on_add": len(r.existing_changed)
        if r.existing_changed is not None
        else None,
        "template_rerun_s": ok(r.template_rerun),
    }


COLUMNS = [
    ("N", "N"),
    ("floor s", "floor_s"),
    ("up s", "up_s"),
    ("up/floor", "up_over_floor"),
    ("rerun s", "rerun_s"),
    ("add-node s", "add_node_s"),
    ("add --limit s", "add_limited_s"),
    ("existing hosts changed on add", "existing_hosts_changed_on_add"),
]


def table(results: list[Result]) -> str:
    head = [title for title, _ in COLUMNS]
    rows = [head] + [
        ["-" if row(r)[k] is None else str(row(r)[k]) for _, k in COLUMNS] for r in results
    ]
    widths = [max(len(x[i]) for x in rows) for i in range(len(head))]
    return "\n".join(" | ".join(c.rjust(w) for c, w in zip(x, widths)) for x in rows)


def phase_table(results: list[Result], which: str = "up") -> str:
    """The phases of every N's cold `up` (which="up") or median no-op rerun (which="rerun")."""
    picked = [(r.hosts, getattr(r, which)) for r in results]
    runs = [(n, run.phases) for n, run in picked if run and run.ok and run.phases]
    if not runs:
        return ""
    names = list(dict.fromkeys(p for _, phases in runs for p in phases))
    title = "cold up phases, s" if which == "up" else "median no-op rerun phases, s"
    width = max(len(p) for p in [*names, title, "wall (with start-up and exit)"])
    lines = [
        f"  {title:<{width}} " + " ".join(f"{'N=' + str(n):>7}" for n, _ in runs)
    ]
    lines += [
        f"  {p:<{width}} "
        + " ".join(f"{phases[p]:7.1f}" if p in phases else f"{'-':>7}" for _, phases in runs)
        for p in names
    ]
    cpus = [run.cpu for _, run in picked if run and run.ok and run.phases]
    lines.append(f"  {'k8sboot CPU (user + sys)':<{width}} " + " ".join(f"{c:7.1f}" for c in cpus))
    walls = [run.wall for _, run in picked if run and run.ok and run.phases]
    lines.append(f"  {'wall (with start-up and exit)':<{width}} " + " ".join(f"{w:7.1f}" for w in walls))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--hosts", type=host_counts, default=[3], help="host counts, comma-separated (default 3)"
    )
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--logs", type=Path, help="write every run's full output into this directory")
    ap.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed per run (default 1800)"
    )
    args = ap.parse_args()
    if args.logs:
        args.logs.mkdir(parents=True, exist_ok=True)
    # a plain `kill` must still reach the finally below that destroys the containers
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    started = time.monotonic()
    lab = ContainerLab()
    results: list[Result] = []
    try:
        for n in args.hosts:
            results.append(bench_one(lab, n, args.timeout, args.logs))
    finally:
        every = {c for n in args.hosts for c in container_names(n)[0]} | set(container_names(1)[1])
        lab.destroy(sorted(every))
    total = time.monotonic() - started

    print("\nk8sboot up per host count (seconds; floor = floor.sh's copy to all nodes Ready)")
    print(table(results))
    print(phase_table(results))
    print(phase_table(results, "rerun"))
    for r in results:
        if r.reruns and all(x.ok for x in r.reruns):
            walls = " / ".join(f"{x.wall:.2f}" for x in r.reruns)
            print(f"N={r.hosts}: no-op reruns {walls} s (median {median_run(r.reruns).wall:.2f} s)")  # type: ignore[union-attr]
    for r in results:
        if r.template_rerun:
            print(
                f"N={r.hosts}: rerun after one template change (kube-proxy) {secs(r.template_rerun)} s"
            )
        if r.add_node and r.add_node.ok:
            print(
                f"N={r.hosts}: add-node changed {r.add_node.changed} task(s) in all; existing hosts with "
                f"changes: {', '.join(r.existing_changed or []) or 'none'}"
            )
        if r.add_limited and r.add_limited.ok:
            print(
                f"N={r.hosts}: add-node --limit changed {r.add_limited.changed} task(s) in all; existing "
                f"hosts with changes: {', '.join(r.existing_changed_limited or []) or 'none'}"
            )
    print(f"benchmark wall time {total:.0f} s on {os.cpu_count()} CPU(s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "benchmark": "bench_up",
                    "cpus": os.cpu_count(),
                    "wall_s": round(total, 1),
                    "table": [row(r) for r in results],
                    "results": [asdict(r) for r in results],
                },
                indent=2,
            )
            + "\n"
        )
        print(f"results: {args.json}")
    return 1 if any(r.failed() for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
