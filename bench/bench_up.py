"""Benchmark `k8sboot up` on three clean system containers; prints figures, asserts nothing.

    make bench      (or: scripts/lab-netns.sh exec .venv/bin/python bench/bench_up.py)

Measures, per phase and in total: a cold `up` on freshly booted hosts, the
no-op rerun, and a rerun after one template change (kube-proxy's config, which
restarts kube-proxy on every node and nothing else).

First, on the same fresh hosts, the hand-run floor (`floor.sh`: everything
pre-rendered, tar over SSH, systemctl, kubectl polling; its reset then puts the
hosts back) so that `up` is reported as a ratio of it. The floor script is the
workplace's shared one (../shared/bench/floor.sh beside the checkout, or
$FLOOR_SH); without it the ratio is left out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.helpers import BINARIES, KUBE_BIN, write_inventory  # noqa: E402
from tests.lab.containers import ContainerLab  # noqa: E402

NAMES = ["bench-cp1", "bench-wk1", "bench-wk2"]


def up(inventory: Path, home: Path, *extra: str) -> tuple[float, dict[str, float], str]:
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "k8sboot", "up", "-i", str(inventory), *extra],
                       capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL,
                       env={"K8SBOOT_HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "COLUMNS": "300"})
    wall = time.monotonic() - started
    if r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-4000:])
        raise SystemExit(f"k8sboot up failed ({r.returncode})")
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("timings:"))
    phases = {name.strip(): float(secs) for name, secs in re.findall(r"([^,;:]+?) ([\d.]+)s", line)}
    return wall, phases, r.stdout


def report(title: str, wall: float, phases: dict[str, float], out: str) -> None:
    changed = sum(int(n) for n in re.findall(r"changed=(\d+)", out))
    print(f"\n{title}: {wall:.1f} s wall (changed={changed})")
    for name, secs in phases.items():
        print(f"  {name:<32} {secs:6.1f} s")


def floor(hosts: list, work: Path) -> float | None:  # noqa: ANN001 - LabHost
    """Seconds from the floor's first copy to all nodes Ready, or None when it cannot run."""
    script = Path(os.environ.get("FLOOR_SH") or REPO.parent / "shared" / "bench" / "floor.sh")
    if not script.is_file():
        print(f"(no hand-run floor: {script} not found)")
        return None
    bins = work / "floor-bin"  # the six components, etcd and kubectl in one directory
    bins.mkdir()
    for b in KUBE_BIN.iterdir():
        (bins / b.name).symlink_to(b)
    (bins / "etcd").symlink_to(BINARIES["etcd"]["path"])
    env = {**os.environ, "FLOOR_KEY": str(hosts[0].key_path), "FLOOR_NETNS": "",
           "FLOOR_ADDRS": " ".join(h.address for h in hosts)}
    r = subprocess.run(["bash", str(script), str(bins), str(len(hosts)), str(work / "fl")],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
    print(f"hand-run floor: {summary}")
    subprocess.run(["bash", str(script), "--reset", str(len(hosts)), str(work / "fl")],
                   capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    m = re.search(r"total=([\d.]+)", summary)
    return float(m.group(1)) if r.returncode == 0 and m else None


def main() -> None:
    lab = ContainerLab()
    t = time.monotonic()
    hosts = lab.start(NAMES)
    print(f"3 clean hosts answer SSH after {time.monotonic() - t:.1f} s (not part of `up`)")
    try:
        with tempfile.TemporaryDirectory(prefix="kb-") as tmp:  # short: floor's ssh sockets live in it
            home = Path(tmp)
            floor_s = floor(hosts, home)
            inv = write_inventory(home / "bench.yml", "bench", {
                "cp1": {"address": hosts[0].address, "groups": ["etcd", "control_plane", "nodes"]},
                "wk1": {"address": hosts[1].address, "groups": ["nodes"], "user": "admin", "become": True},
                "wk2": {"address": hosts[2].address, "groups": ["nodes"]},
            }, key=hosts[0].key_path, binaries=BINARIES)
            wall, phases, out = up(inv, home)
            report("up (clean hosts)", wall, phases, out)
            if floor_s:
                print(f"  up / hand-run floor: {wall:.1f} / {floor_s:.1f} s = {wall / floor_s:.2f}x")
            report("rerun (no-op)", *up(inv, home))
            override = home / "templates" / "kube-proxy"
            override.mkdir(parents=True)
            shipped = (REPO / "templates/kube-proxy/config.yaml.j2").read_text()
            (override / "config.yaml.j2").write_text(shipped + "# changed by the benchmark\n")
            report("rerun after one template change (kube-proxy)", *up(inv, home, "--templates",
                                                                        str(home / "templates")))
    finally:
        lab.destroy(NAMES)


if __name__ == "__main__":
    main()
