"""Benchmark the developer loop on three system containers; prints figures, asserts nothing (issue 13).

    make bench-dev   (or: scripts/lab-netns.sh exec .venv/bin/python bench/bench_dev.py)

On fresh containers (destroyed at the end): bd-cp1 is etcd + control plane +
node, bd-wk1 and bd-wk2 are nodes, all brought up with `up` first. Then, in a
copy of the lab's Kubernetes tree (tests/e2e/dev_tree.py):

1. kube-scheduler: a source file is patched (a log line gets a new marker each
   run), then `k8sboot dev --component kube-scheduler`; reported: the build,
   the rollout (everything after the build: the roll plan, the snapshot, the
   copy, the restart, until every node is Ready), and the whole loop from the
   file's change until the new scheduler runs (checked: its process's binary
   is the new build) and every node is Ready;
2. the same command again with no source change (nothing built, nothing
   touched);
3. a new kubelet (the tree built with another version string) rolled across
   the three nodes, one at a time: cordon, drain, install, Ready with the new
   version, uncordon; reported per node as `dev` prints it.
Targets (issue 13): the rollout of a one-component change under 10 s on 3
hosts; the whole loop for kube-scheduler under 90 s on this 2-core machine.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.dev_tree import DevTree  # noqa: E402
from tests.e2e.helpers import BINARIES, k8sboot, kubectl, ssh, write_inventory  # noqa: E402
from tests.lab.containers import ContainerLab  # noqa: E402

NAMES = ["bd-cp1", "bd-wk1", "bd-wk2"]
GROUPS = {"bd-cp1": ["etcd", "control_plane", "nodes"], "bd-wk1": ["nodes"], "bd-wk2": ["nodes"]}
SCHEDULER_FILE = "cmd/kube-scheduler/app/server.go"
SCHEDULER_LINE = "Starting Kubernetes Scheduler version"
DEV_LINE = re.compile(r"dev: build ([\d.]+)s \(([^)]*)\), rollout ([\d.]+)s, total ([\d.]+)s")


def must(what: str, r: subprocess.CompletedProcess[str]) -> str:
    if r.returncode != 0:
        sys.exit(f"{what} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def dev_figures(out: str) -> tuple[float, float]:
    m = DEV_LINE.search(out)
    if not m:
        sys.exit(f"no `dev:` summary line in:\n{out[-2000:]}")
    return float(m.group(1)), float(m.group(3))


def main() -> None:
    lab = ContainerLab()
    hosts = {h.name: h for h in lab.start(NAMES)}
    tmp = Path(tempfile.mkdtemp(prefix="bench-dev-"))
    home = tmp / "home"
    inv = write_inventory(tmp / "dev.yml", "bdev", {
        n: {"address": hosts[n].address, "groups": g} for n, g in GROUPS.items()
    }, key=hosts["bd-cp1"].key_path, binaries=BINARIES)
    tree = DevTree.make(tmp, "v1.20.3-k8sboot.1")
    try:
        started = time.monotonic()
        must("up", k8sboot("up", "-i", str(inv), home=home, timeout=1200))
        print(f"up on 3 fresh hosts: {time.monotonic() - started:.1f} s")
        kc = must("kubeconfig", k8sboot("kubeconfig", "-i", str(inv), home=home)).strip()

        # 1. a source change, built and rolled
        marker = f"k8sboot bench {time.time():.0f}"
        changed_at = time.monotonic()
        tree.patch(SCHEDULER_FILE, SCHEDULER_LINE, f"{SCHEDULER_LINE} ({marker})")
        out = must("dev kube-scheduler", tree.dev(home, inv, "--component", "kube-scheduler"))
        (tmp / "dev-kube-scheduler.out").write_text(out)
        build, rollout = dev_figures(out)
        built = home / "clusters" / "bdev" / "dev-bin" / "kube-scheduler"
        want = hashlib.sha256(built.read_bytes()).hexdigest()
        while True:
            _, exe = ssh(hosts["bd-cp1"], "sha256sum /proc/$(systemctl show -p MainPID --value kube-scheduler)/exe")
            nodes = json.loads(subprocess.run([kubectl(), "--kubeconfig", kc, "get", "nodes", "-o", "json"],
                                              capture_output=True, text=True, check=True).stdout)["items"]
            ready = all({c["type"]: c["status"] for c in n["status"]["conditions"]}["Ready"] == "True"
                        for n in nodes)
            if exe.split()[:1] == [want] and ready and len(nodes) == 3:
                break
            time.sleep(0.2)
        whole = time.monotonic() - changed_at
        print(f"developer loop, kube-scheduler: build {build:.1f} s, rollout {rollout:.1f} s; "
              f"source changed -> new scheduler running and 3/3 nodes Ready: {whole:.1f} s "
              f"(targets: rollout < 10 s, whole < 90 s)")

        # 2. again, nothing changed
        started = time.monotonic()
        out = must("dev again", tree.dev(home, inv, "--component", "kube-scheduler"))
        print(f"the same loop with no source change: {time.monotonic() - started:.1f} s "
              f"({'nothing built' if 'nothing to build' in out else 'BUILT'})")

        # 3. a new kubelet across 3 nodes, one at a time
        out = must("dev kubelet", tree.dev(home, inv, "--component", "kubelet", "--max-unavailable", "1"))
        (tmp / "dev-kubelet.out").write_text(out)
        build, rollout = dev_figures(out)
        print(f"kubelet roll across 3 nodes (--max-unavailable 1): build {build:.1f} s, rollout {rollout:.1f} s")
        for line in out.splitlines():
            if "and uncordoned" in line:
                print(f"  {line.strip()}")
        print(f"full outputs: {tmp}/dev-*.out")
    finally:
        tree.remove()
        lab.destroy(NAMES)


if __name__ == "__main__":
    main()
