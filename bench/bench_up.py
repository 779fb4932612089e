"""Benchmark `k8sboot up` on three clean system containers; prints figures, asserts nothing.

    make bench      (or: scripts/lab-netns.sh exec .venv/bin/python bench/bench_up.py)

Measures, per phase and in total: a cold `up` on freshly booted hosts, the
no-op rerun, and a rerun after one template change (kube-proxy's config, which
restarts kube-proxy on every node and nothing else). Compare with the hand-run
floor in LAB.md: all three Ready 20 s after starting, plus 2 s of rendering.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.helpers import BINARIES, write_inventory  # noqa: E402
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


def main() -> None:
    lab = ContainerLab()
    t = time.monotonic()
    hosts = lab.start(NAMES)
    print(f"3 clean hosts answer SSH after {time.monotonic() - t:.1f} s (not part of `up`)")
    try:
        with tempfile.TemporaryDirectory(prefix="k8sboot-bench-") as tmp:
            home = Path(tmp)
            inv = write_inventory(home / "bench.yml", "bench", {
                "cp1": {"address": hosts[0].address, "groups": ["etcd", "control_plane", "nodes"]},
                "wk1": {"address": hosts[1].address, "groups": ["nodes"], "user": "admin", "become": True},
                "wk2": {"address": hosts[2].address, "groups": ["nodes"]},
            }, key=hosts[0].key_path, binaries=BINARIES)
            report("up (clean hosts)", *up(inv, home))
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
