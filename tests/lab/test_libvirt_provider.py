"""The libvirt provider makes reachable VMs for an inventory and removes them without trace."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import paramiko
import pytest

from k8sboot.inventory import load_inventory
from k8sboot.providers import libvirt as provider
from k8sboot.state import ClusterState

pytestmark = [pytest.mark.lab, pytest.mark.vm]

CLUSTER = "lvtest"
NETWORK = "192.168.157.0/24"  # apart from other lab networks in the same libvirtd
INVENTORY = f"""\
cluster:
  name: {CLUSTER}
  provider: {{type: libvirt, accelerator: auto, network: {NETWORK}}}
hosts:
  vm1: {{groups: [etcd, control_plane, nodes], cpus: 1, memory: 1024}}
  vm2: {{address: 192.168.157.40, groups: [nodes], cpus: 1, memory: 1024}}
"""


def ssh(machine: dict[str, Any], command: str) -> str:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(machine["address"], port=machine["port"], username=machine["user"],
                   key_filename=machine["key"], allow_agent=False, look_for_keys=False)
    try:
        _, stdout, _ = client.exec_command(command, timeout=60)
        out = stdout.read().decode()
        assert stdout.channel.recv_exit_status() == 0, out
        return out
    finally:
        client.close()


def virsh(*args: str) -> str:
    return subprocess.run(["virsh", "-q", "-c", "qemu:///system", *args],
                          capture_output=True, text=True, check=True).stdout


def test_two_vms_answer_ssh_and_leave_nothing_behind(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K8SBOOT_HOME", str(tmp_path / "home"))
    inventory_file = tmp_path / "inventory.yml"
    inventory_file.write_text(textwrap.dedent(INVENTORY))
    inventory = load_inventory(inventory_file)
    state = ClusterState.for_cluster(inventory.name)
    lines: list[str] = []
    try:
        machines = provider.provision(inventory, state, lines.append)
        assert set(machines) == {"vm1", "vm2"}
        assert machines["vm2"]["address"] == "192.168.157.40"  # the inventory's address
        assert machines["vm1"]["address"] == "192.168.157.11"  # allocated
        assert state.machines() == machines
        assert machines["vm1"]["key"] == str(state.root / "id_ed25519")
        for name, machine in machines.items():
            out = ssh(machine, "uname -r; hostname; ip -4 route show default").splitlines()
            assert out[0].endswith("-amd64")  # Debian's kernel, not the host's
            assert out[1] == name  # from the seed disk
            assert out[2].startswith("default via 192.168.157.1 ")
        assert provider.libvirt_host_state(inventory) == {"vm1": "running", "vm2": "running"}

        # a second provision leaves running VMs alone
        lines.clear()
        assert provider.provision(inventory, state, lines.append) == machines
        assert any("already running" in line for line in lines)
    finally:
        provider.destroy(inventory, state, lines.append)

    assert f"k8sboot-{CLUSTER}-" not in virsh("list", "--all", "--name")
    assert f"k8sboot-{CLUSTER}" not in virsh("net-list", "--all", "--name")
    assert not (provider.LibvirtSettings().pool_dir / CLUSTER).exists()
    assert state.machines() == {}
    assert provider.libvirt_host_state(inventory) == {"vm1": "absent", "vm2": "absent"}
