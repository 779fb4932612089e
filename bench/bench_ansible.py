"""Head to head: ansible-playbook on `k8sboot export`'s playbook vs `k8sboot up`, same roles, same hosts.

    make bench-ansible   (or: scripts/lab-netns.sh exec .venv/bin/python bench/bench_ansible.py
                          [--hosts 3,10,30] [--json FILE] [--timeout S])

For each N in --hosts (host 1 = etcd + control plane + node, hosts 2..N = nodes;
wk1 logs in as `admin` with sudo, the others as root, as in bench_up.py):
  (a) N fresh lab containers; `k8sboot export DIR --in-containers` (timed apart:
      it is k8sboot's local work, like up's binaries/plan/pki phases); ansible-playbook
      cold, then its no-op rerun;
  (b) the containers destroyed and started fresh again (same names, hence the same
      addresses while no one else starts containers); `k8sboot up` cold, then its
      no-op rerun.
Then a table (ratios are ansible / k8sboot) and the reruns' changed counts; with
--json FILE the same figures and every run's details as JSON. Figures only, nothing
asserted: a failed run is reported with the tail of its output, the benchmark goes on,
and exits 1 at the end. The containers are destroyed at the end, also on failure.

ansible-playbook is tuned the way Ansible users tune it. Settings go in as
ANSIBLE_* environment variables, which outrank the export's ansible.cfg (read through
ANSIBLE_CONFIG, as the export's printed command does):
  pipelining = True         one SSH round trip per task instead of put-file + exec
                            (the export's ansible.cfg already sets it; repeated here)
  forks = max(5, N)         every host at once, as k8sboot works (the export's
                            ansible.cfg already sets the same value)
  gathering = explicit      no facts: the roles and site.yml read none (checked: no
                            ansible_* variable in roles/ or templates/ but the
                            ansible_virtualization_* that export writes into
                            host_vars); every play of site.yml says gather_facts:
                            false, and the export's ansible.cfg says explicit already
  ssh_args = -o ControlMaster=auto -o ControlPersist=600s -o UserKnownHostsFile=/dev/null
                            ControlPersist on: one master connection per host, reused by
                            every task. 600 s, not Ansible's default 60 s, because the
                            workers sit idle while the control-plane-only plays run.
                            Ansible's default -C (compression) is dropped: the link is a
                            local veth, the two CPUs are the bottleneck. The masters are
                            closed after each run, so the rerun connects afresh, as
                            k8sboot's rerun does. No known_hosts file: the containers get
                            new host keys for each run (k8sboot keeps its own per home).
  host_key_checking = False as the e2e test does for fresh containers
  interpreter_python = /usr/bin/python3
                            skips interpreter discovery (one more round trip per host);
                            Debian 12 hosts have it there
  strategy = linear         free is not safe here: every play sets any_errors_fatal (a
                            failure stops the run, as a k8sboot phase does), which the
                            free strategy ignores with a warning. It would gain little
                            anyway: each play is one role, and the only multi-host plays
                            (Nodes, Pod network routes) run the same tasks on alike hosts.
Not used: Mitogen (not installed, not for ansible-core 2.19), fact caching (no facts).

Note the playbook runs k8sboot's phases one after another (one play each), where `up`
runs etcd + control plane alongside the nodes, and `up` also does preflight checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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
from tests.e2e.helpers import BINARIES, write_inventory
from tests.lab.containers import ContainerLab, LabHost

PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
CLUSTER = "bab"
TAIL_LINES = 40


@dataclass
class Run:
    """One timed command: ok, wall seconds, the recap's changed count (summed over hosts)."""
    what: str
    ok: bool
    wall: float
    rc: int | None  # None: killed at the timeout
    changed: int | None = None
    recap: dict[str, dict[str, int]] = field(default_factory=dict)
    tail: str = ""  # the last lines of output, kept for failed runs only


@dataclass
class Result:
    hosts: int
    addresses: list[str] = field(default_factory=list)
    same_addresses: bool | None = None
    boot_s: dict[str, float] = field(default_factory=dict)  # containers up: not part of any timing
    export: Run | None = None
    ansible_up: Run | None = None
    ansible_rerun: Run | None = None
    k8sboot_up: Run | None = None
    k8sboot_rerun: Run | None = None
    errors: list[str] = field(default_factory=list)  # failures outside the timed runs (lab, ...)

    def failed(self) -> bool:
        runs = [self.export, self.ansible_up, self.ansible_rerun, self.k8sboot_up, self.k8sboot_rerun]
        return bool(self.errors) or any(r is None or not r.ok for r in runs)


def recap(output: str) -> dict[str, dict[str, int]]:
    """`cp1 : ok=54 changed=0 ...` lines (ansible-playbook's and k8sboot's recap alike) -> per-host counts."""
    out = {}
    for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return out


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}  # the lab key only, no agent
    env.update({"K8SBOOT_HOME": str(home), "COLUMNS": "300", "NO_COLOR": "1"})
    return env


def ansible_env(home: Path, export_dir: Path, control_dir: Path, hosts: int) -> dict[str, str]:
    """The settings of the module docstring, as the environment variables Ansible reads."""
    return {
        **base_env(home),
        "ANSIBLE_CONFIG": str(export_dir / "ansible.cfg"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_FORKS": str(max(5, hosts)),
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=600s -o UserKnownHostsFile=/dev/null",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
        "ANSIBLE_STRATEGY": "linear",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
    }


def timed(what: str, cmd: list[str], env: dict[str, str], timeout: float) -> Run:
    started = time.monotonic()
    # a session of its own: at the timeout the whole group (ansible's forks too) goes
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        rc = None
    wall = time.monotonic() - started
    counts = recap(out)
    run = Run(what=what, ok=rc == 0, wall=wall, rc=rc, recap=counts,
              changed=sum(c.get("changed", 0) for c in counts.values()) if counts else None)
    if not run.ok:
        lines = (out.splitlines()[-TAIL_LINES:] + ["--- stderr ---"] + err.splitlines()[-TAIL_LINES // 2:])
        run.tail = "\n".join(lines)
        reason = "timed out" if rc is None else f"exit {rc}"
        print(f"  {what}: FAILED ({reason}) after {wall:.1f} s; output ends:\n"
              + "\n".join("    | " + ln for ln in lines), flush=True)
    else:
        print(f"  {what}: {wall:.1f} s (changed={run.changed})", flush=True)
    return run


def close_masters(control_dir: Path) -> None:
    """End the ControlPersist masters ansible's ssh left (each socket asked to exit)."""
    if not control_dir.is_dir():
        return
    for sock in control_dir.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "bench"],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=30, check=False)


def layout(hosts: list[LabHost]) -> dict[str, dict[str, Any]]:
    """bench_up.py's layout for N hosts: cp1 = etcd + control plane + node, wk1..wkN-1 nodes."""
    out: dict[str, dict[str, Any]] = {
        "cp1": {"address": hosts[0].address, "groups": ["etcd", "control_plane", "nodes"]}}
    for i, h in enumerate(hosts[1:], start=1):
        out[f"wk{i}"] = {"address": h.address, "groups": ["nodes"]}
        if i == 1:  # one host through sudo, so become is part of both runs
            out[f"wk{i}"].update({"user": "admin", "become": True})
    return out


def container_names(n: int) -> list[str]:
    return ["bab-cp1"] + [f"bab-wk{i}" for i in range(1, n)]


def boot(lab: ContainerLab, names: list[str], result: Result, label: str) -> list[LabHost]:
    started = time.monotonic()
    lab.destroy(names)  # fresh hosts: nothing of the other tool's run survives
    hosts = lab.start(names)
    result.boot_s[label] = round(time.monotonic() - started, 1)
    return hosts


def ansible_side(lab: ContainerLab, names: list[str], work: Path, result: Result, timeout: float) -> None:
    n = len(names)
    hosts = boot(lab, names, result, "ansible")
    result.addresses = [h.address for h in hosts]
    home, export_dir, control_dir = work / "a", work / "a" / "exp", work / "cp"
    home.mkdir()
    control_dir.mkdir()
    inv = write_inventory(home / "bench.yml", CLUSTER, layout(hosts), key=hosts[0].key_path, binaries=BINARIES)
    result.export = timed("k8sboot export", [sys.executable, "-m", "k8sboot", "export", str(export_dir), "-i",
                                             str(inv), "--in-containers"], base_env(home), timeout)
    if not result.export.ok:
        return
    env = ansible_env(home, export_dir, control_dir, n)
    play = [PLAYBOOK, "-i", str(export_dir / "inventory.yml"), str(export_dir / "site.yml")]
    try:
        result.ansible_up = timed("ansible-playbook (clean hosts)", play, env, timeout)
        close_masters(control_dir)
        if result.ansible_up.ok:  # a rerun after a failed run is no no-op rerun
            result.ansible_rerun = timed("ansible-playbook rerun (no-op)", play, env, timeout)
    finally:
        close_masters(control_dir)


def k8sboot_side(lab: ContainerLab, names: list[str], work: Path, result: Result, timeout: float) -> None:
    hosts = boot(lab, names, result, "k8sboot")
    result.same_addresses = [h.address for h in hosts] == result.addresses if result.addresses else None
    if result.same_addresses is False:
        print(f"  note: addresses differ from the ansible run: {[h.address for h in hosts]}", flush=True)
    home = work / "k"  # a home of its own: new PKI, known_hosts, state
    home.mkdir()
    inv = write_inventory(home / "bench.yml", CLUSTER, layout(hosts), key=hosts[0].key_path, binaries=BINARIES)
    up = [sys.executable, "-m", "k8sboot", "up", "-i", str(inv)]
    result.k8sboot_up = timed("k8sboot up (clean hosts)", up, base_env(home), timeout)
    if result.k8sboot_up.ok:
        result.k8sboot_rerun = timed("k8sboot up rerun (no-op)", up, base_env(home), timeout)


def bench_one(lab: ContainerLab, n: int, timeout: float) -> Result:
    result = Result(hosts=n)
    names = container_names(n)
    print(f"\n== {n} host(s) ==", flush=True)
    try:
        # short: ansible's ssh control sockets live in it (unix socket paths < 108 bytes)
        with tempfile.TemporaryDirectory(prefix="bab-") as tmp:
            for side, label in ((ansible_side, "ansible"), (k8sboot_side, "k8sboot")):
                try:
                    side(lab, names, Path(tmp), result, timeout)
                except Exception as e:  # noqa: BLE001 - a lab failure is reported, the bench goes on
                    result.errors.append(f"{label}: {type(e).__name__}: {e}")
                    print(f"  {label} side FAILED: {type(e).__name__}: {e}", flush=True)
    finally:
        lab.destroy(names)
    return result


def secs(run: Run | None) -> str:
    if run is None:
        return "-"
    return f"{run.wall:.1f}" if run.ok else "failed"


def ratio(a: Run | None, b: Run | None) -> str:
    if a is None or b is None or not (a.ok and b.ok) or b.wall <= 0:
        return "-"
    return f"{a.wall / b.wall:.2f}"


def table(results: list[Result]) -> str:
    head = ("N", "ansible up s", "k8sboot up s", "ratio", "ansible rerun s", "k8sboot rerun s", "ratio")
    rows = [head] + [(str(r.hosts), secs(r.ansible_up), secs(r.k8sboot_up), ratio(r.ansible_up, r.k8sboot_up),
                      secs(r.ansible_rerun), secs(r.k8sboot_rerun), ratio(r.ansible_rerun, r.k8sboot_rerun))
                     for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows)


def changed_lines(results: list[Result]) -> str:
    def c(run: Run | None) -> str:
        return "-" if run is None or run.changed is None else str(run.changed)
    lines = []
    for r in results:
        lines.append(f"N={r.hosts}: changed on rerun: ansible-playbook {c(r.ansible_rerun)}, "
                     f"k8sboot {c(r.k8sboot_rerun)} (cold: {c(r.ansible_up)} / {c(r.k8sboot_up)}); "
                     f"export {secs(r.export)} s")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=host_counts, default=[3], help="host counts, comma-separated (default 3)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds allowed per run (default 3600)")
    args = ap.parse_args()

    started = time.monotonic()
    lab = ContainerLab()
    results: list[Result] = []
    try:
        for n in args.hosts:
            results.append(bench_one(lab, n, args.timeout))
    finally:
        lab.destroy(sorted({name for n in args.hosts for name in container_names(n)}))
    total = time.monotonic() - started

    print("\nansible-playbook vs k8sboot up, same roles and hosts (ratio = ansible / k8sboot)")
    print(table(results))
    print(changed_lines(results))
    print(f"benchmark wall time {total:.0f} s on {os.cpu_count()} CPU(s)")
    if args.json:
        args.json.write_text(json.dumps({
            "benchmark": "bench_ansible", "cpus": os.cpu_count(), "wall_s": round(total, 1),
            "ansible_settings": {k: v for k, v in ansible_env(Path(), Path("EXPORT"), Path("CP"), 0).items()
                                 if k.startswith("ANSIBLE_")} | {"ANSIBLE_FORKS": "max(5, N)"},
            "results": [asdict(r) for r in results],
        }, indent=2) + "\n")
        print(f"results: {args.json}")
    return 1 if any(r.failed() for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
