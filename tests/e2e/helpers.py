"""What the end-to-end tests use to drive k8sboot and to look at hosts independently of it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import paramiko
import yaml

from tests.lab.containers import LabHost

REPO = Path(__file__).resolve().parents[2]
KUBE_BIN = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "k8sboot" / "kubernetes" / "bin"
BINARIES = {"dir": str(KUBE_BIN), "etcd": {"path": "/usr/bin/etcd"}, "etcdctl": {"path": "/usr/bin/etcdctl"}}


def k8sboot(*args: str, home: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    env = {**os.environ, "K8SBOOT_HOME": str(home), "COLUMNS": "200"}
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "k8sboot", *args], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)
    _log_command(args, time.monotonic() - started, r.stdout)
    return r


def _log_command(args: tuple[str, ...], seconds: float, stdout: str) -> None:
    # K8SBOOT_TEST_LOG=FILE: each command's wall time and `timings:` line, per test (where CI time goes)
    log = os.environ.get("K8SBOOT_TEST_LOG")
    if not log:
        return
    # the line is wrapped at the terminal's width: from "timings:" up to its total
    flat = " ".join(stdout.split())
    start = flat.rfind("timings:")
    timings = flat[start:flat.find("s", flat.find("total", start)) + 1] if start >= 0 else ""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    with open(log, "a") as f:
        f.write(f"{test} | {' '.join(args[:2])} | {seconds:.1f}s | {timings}\n")


def ssh(host: LabHost, command: str, user: str = "root") -> tuple[int, str]:
    """Run a command on a lab host over a fresh paramiko connection (not k8sboot's)."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host.address, port=host.port, username=user, key_filename=str(host.key_path),
                   allow_agent=False, look_for_keys=False, timeout=10)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=60)
        out = stdout.read().decode() + stderr.read().decode()
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()


def write_inventory(path: Path, name: str, hosts: dict[str, dict[str, Any]], key: Path,
                    **cluster: Any) -> Path:
    inv = {
        "cluster": {"name": name, **cluster},
        "defaults": {"user": "root", "key": str(key)},
        "hosts": hosts,
    }
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def kubectl() -> str:
    """A kubectl k8sboot did not build: the machine's own, else the lab's build."""
    for candidate in ("/usr/bin/kubectl", str(KUBE_BIN / "kubectl")):
        if Path(candidate).exists():
            return candidate
    raise RuntimeError("no kubectl on this machine")


def start_times(host: LabHost, units: list[str]) -> dict[str, str]:
    code, out = ssh(host, "for u in " + " ".join(units) +
                    "; do echo $u $(systemctl show -p ExecMainStartTimestampMonotonic --value $u); done")
    assert code == 0, out
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def kubelet_started_epoch(host: LabHost) -> int:
    """When the kubelet running on the host started, in seconds since the epoch (systemd's word)."""
    code, out = ssh(host, 'date -u -d "$(systemctl show -p ExecMainStartTimestamp --value kubelet)" +%s')
    assert code == 0 and out.strip().isdigit(), out
    return int(out)


def ready_condition(node: dict[str, Any]) -> dict[str, Any]:
    """The Ready condition of a Node as `kubectl get -o json` shows it."""
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def ready_posted_epoch(node: dict[str, Any]) -> int:
    """When the kubelet posted the Node's Ready condition (its lastHeartbeatTime), in epoch seconds."""
    return int(datetime.fromisoformat(ready_condition(node)["lastHeartbeatTime"]).timestamp())


def pod_routes(host: LabHost, pod_cidr: str = "10.244.0.0/16") -> set[tuple[str, str]]:
    """(pod CIDR, gateway) of the host's routes into the pod network through another node."""
    out = ssh(host, f"ip -o route show root {pod_cidr}")[1]
    return {(w[0], w[w.index("via") + 1]) for w in (line.split() for line in out.splitlines()) if "via" in w}


def wait_for_pod_routes(hosts: dict[str, LabHost], pod_cidrs: dict[str, str], within: float = 10.0) -> None:
    """Each of hosts (by node name) routes every other one's pod CIDR (pod_cidrs, from the API)
    via its address, and nothing else: what the pod-routes agents keep."""
    want = {n: {(pod_cidrs[o], hosts[o].address) for o in hosts if o != n} for n in hosts}
    deadline = time.monotonic() + within
    while True:
        have = {n: pod_routes(h) for n, h in hosts.items()}
        if have == want:
            return
        assert time.monotonic() < deadline, f"pod routes: {have} != {want}"
        time.sleep(0.5)
