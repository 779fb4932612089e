"""The Vagrant path, for real: k8sboot's box, `vagrant up` through the provider, roles on it.

One vagrant-libvirt machine (2 vCPU, 2048 MiB), software-emulated here (TCG,
LAB.md). The box is built from the cached base image once, then reused (its id
follows the image's recipe). Destroy must leave nothing of the cluster in libvirt.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import paramiko
import pytest
import yaml

from tests.e2e.helpers import BINARIES, k8sboot
from tests.e2e.test_engine_on_hosts import recap

pytestmark = [pytest.mark.lab, pytest.mark.vm]

CLUSTER = "vgt"
PREFIX = f"k8sboot-{CLUSTER}-"
ADDRESS = "192.168.57.11"


def virsh(*args: str) -> str:
    done = subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True,
                          text=True, check=False)
    return done.stdout


def leftovers() -> dict[str, list[str]]:
    """Everything of this cluster libvirt still knows: domains, networks, volumes."""
    vols = [line.split()[0] for line in virsh("vol-list", "default").splitlines()[2:]
            if line.strip()]
    return {
        "domains": [n for n in virsh("list", "--all", "--name").split() if n.startswith(PREFIX)],
        "networks": [n for n in virsh("net-list", "--all", "--name").split() if n.startswith(PREFIX)],
        "volumes": [v for v in vols if v.startswith(PREFIX)],
    }


def write_inventory(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "cluster": {
            "name": CLUSTER,
            "binaries": BINARIES,
            # ranges of their own: other lab tests use 192.168.150.0/24
            "provider": {"type": "vagrant", "driver": "auto", "network": "192.168.57.0/24",
                         "management_network": "192.168.127.0/24"},
        },
        "defaults": {"provider": "vagrant", "become": True},
        "hosts": {"vg1": {"groups": ["etcd", "control_plane", "nodes"], "address": ADDRESS,
                          "cpus": 2, "memory": 2048, "disk": 10}},
    }, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def box_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], ...]:
    """`image build --format vagrant-libvirt` twice: the second must find it all cached."""
    home = tmp_path_factory.mktemp("box-home")
    first = k8sboot("image", "build", "--format", "vagrant-libvirt", home=home, timeout=1800)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = k8sboot("image", "build", "--format", "vagrant-libvirt", home=home, timeout=300)
    return first, second


def test_the_box_is_cached_and_vagrant_lists_it(box_builds, tmp_path):
    again = box_builds[1]
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already added" in again.stdout + again.stderr  # no rebuild, no re-add
    listing = subprocess.run(["vagrant", "box", "list"], capture_output=True, text=True,
                             cwd=tmp_path, check=True,
                             env={**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1"}).stdout
    assert "k8sboot/bookworm" in listing and "libvirt" in listing


def ssh_vagrant(machine: dict, command: str) -> str:
    """A command on the box over a fresh paramiko connection, as k8sboot recorded it."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(machine["address"], port=machine["port"], username=machine["user"],
                   key_filename=machine["key"], allow_agent=False, look_for_keys=False, timeout=10)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=60)
        out = stdout.read().decode() + stderr.read().decode()
        assert stdout.channel.recv_exit_status() == 0, out
        return out
    finally:
        client.close()


def test_a_vagrant_machine_runs_roles_through_sudo_and_destroy_leaves_nothing(box_builds, tmp_path):
    """The provider itself: `vagrant up` through k8sboot, the machine reached at the
    inventory's private address as `vagrant` with sudo (become), a role run on it, and
    destroy. A Kubernetes node on a VM's own kernel is test_up_libvirt.py's (the same
    base image; under TCG a second one would cost ten minutes of CI)."""
    home = tmp_path / "home"
    inventory = write_inventory(tmp_path / "vagrant.yml")
    assert not any(leftovers().values()), f"leftovers of an earlier run: {leftovers()}"
    try:
        made = k8sboot("provision", "-i", str(inventory), home=home, timeout=1200)
        assert made.returncode == 0, made.stdout[-5000:] + made.stderr[-5000:]

        machines = json.loads((home / "clusters" / CLUSTER / "machines.json").read_text())
        vg1 = machines["vg1"]
        assert (vg1["provider"], vg1["address"], vg1["user"]) == ("vagrant", ADDRESS, "vagrant")
        assert vg1["domain"] == f"{PREFIX}vg1"
        assert vg1["domain"] in virsh("list", "--name").split()
        assert ssh_vagrant(vg1, "uname -r").strip().endswith("-amd64")  # the VM's own kernel

        ran = k8sboot("run", "demo", "-i", str(inventory), home=home, timeout=600)
        assert ran.returncode == 0, ran.stdout[-5000:] + ran.stderr[-5000:]
        assert recap(ran.stdout)["vg1"]["changed"] >= 5, ran.stdout[-3000:]
        out = ssh_vagrant(vg1, "systemctl is-active k8sboot-demo; sudo stat -c '%U %a' "
                               "/etc/k8sboot-demo/secret")
        assert out.split() == ["active", "root", "600"], out  # written as root, through sudo

        again = k8sboot("run", "demo", "-i", str(inventory), home=home, timeout=600)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert recap(again.stdout)["vg1"]["changed"] == 0
    finally:
        gone = k8sboot("destroy", "-i", str(inventory), home=home, timeout=600)
        assert gone.returncode == 0, gone.stdout[-3000:] + gone.stderr[-3000:]
    assert leftovers() == {"domains": [], "networks": [], "volumes": []}
    machines_file = home / "clusters" / CLUSTER / "machines.json"
    assert not machines_file.exists() or "vg1" not in json.loads(machines_file.read_text())
    assert not (home / "clusters" / CLUSTER / "vagrant").exists()
