"""The shared lab cluster: made once per test session by `k8sboot up`, read by many tests.

cp1 is etcd + control plane + node; wk1 (reached as `admin` with sudo) and wk2
are nodes. Tests that change it (stop a unit, swap a template) put it back.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


from tests.e2e.helpers import BINARIES, k8sboot, kubectl, start_times, write_inventory
from tests.lab.containers import LabHost

CP_UNITS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
            "containerd", "kubelet", "kube-proxy"]
NODE_UNITS = ["containerd", "kubelet", "kube-proxy"]


class Cluster:
    def __init__(self, home: Path, inventory: Path, hosts: dict[str, LabHost], first_up: str):
        self.home = home
        self.inventory = inventory
        self.hosts = hosts  # inventory name -> lab host
        self.first_up = first_up

    def up(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return k8sboot("up", "-i", str(self.inventory), *extra, home=self.home)

    def kubeconfig(self) -> str:
        r = k8sboot("kubeconfig", "-i", str(self.inventory), home=self.home)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def kubectl(self, *args: str) -> str:
        r = subprocess.run([kubectl(), "--kubeconfig", self.kubeconfig(), *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def all_start_times(self) -> dict[str, dict[str, str]]:
        return {"cp1": start_times(self.hosts["cp1"], CP_UNITS),
                "wk1": start_times(self.hosts["wk1"], NODE_UNITS),
                "wk2": start_times(self.hosts["wk2"], NODE_UNITS)}


def make_cluster(home: Path, lab_hosts: dict[str, LabHost], prefix: str = "e2e") -> Cluster:
    hosts = {n: lab_hosts[f"{prefix}-{n}"] for n in ("cp1", "wk1", "wk2")}
    inv = write_inventory(
        home / "cluster.yml", "e2e",
        {
            "cp1": {"address": hosts["cp1"].address, "groups": ["etcd", "control_plane", "nodes"]},
            "wk1": {"address": hosts["wk1"].address, "groups": ["nodes"], "user": "admin", "become": True},
            "wk2": {"address": hosts["wk2"].address, "groups": ["nodes"]},
        },
        key=hosts["cp1"].key_path, binaries=BINARIES,
    )
    r = k8sboot("up", "-i", str(inv), home=home)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return Cluster(home, inv, hosts, r.stdout)




if __name__ == "__main__":
    # A standing cluster for development, beside the test suite's own:
    #   scripts/lab-netns.sh exec python -m tests.e2e.cluster [PREFIX]
    # writes $K8SBOOT_HOME-like state under /tmp/k8sboot-<PREFIX>/.
    import sys

    from tests.lab.containers import ContainerLab

    prefix = sys.argv[1] if len(sys.argv) > 1 else "dev"
    home = Path(f"/tmp/k8sboot-{prefix}")
    home.mkdir(exist_ok=True)
    started = ContainerLab().start([f"{prefix}-cp1", f"{prefix}-wk1", f"{prefix}-wk2"])
    c = make_cluster(home, {h.name: h for h in started}, prefix)
    print(c.first_up)
    print(f"inventory: {c.inventory}\nK8SBOOT_HOME={home}")
