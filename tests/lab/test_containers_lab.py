"""The container lab boots reachable system containers that can run a kubelet."""

from __future__ import annotations

import ipaddress

import paramiko
import pytest

from .containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab


def run(host: LabHost, user: str, command: str) -> tuple[int, str]:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host.address, port=host.port, username=user,
                   key_filename=str(host.key_path), allow_agent=False, look_for_keys=False)
    try:
        _, stdout, _ = client.exec_command(command, timeout=30)
        out = stdout.read().decode()
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()


def test_two_containers_answer_ssh_as_root_and_as_admin_with_sudo() -> None:
    with ContainerLab() as lab:
        hosts = lab.start(["lab-a", "lab-b"])
        # fixed addresses, in the order asked (lowest free from .11 up)
        first, second = (ipaddress.ip_address(h.address) for h in hosts)
        assert first in ipaddress.ip_network("10.123.0.0/24") and second > first
        for host in hosts:
            assert run(host, host.root_user, "hostname") == (0, f"{host.name}\n")
            assert run(host, host.sudo_user, "id -un; sudo -n id -un") == (0, "admin\nroot\n")
            # what the kubelet needs: cpu hierarchy, /dev/kmsg, the sysctls it insists on
            code, out = run(host, "root", "test -f /sys/fs/cgroup/cpu/cpu.shares && "
                            "test -f /sys/fs/cgroup/cpuacct/cpuacct.usage && "
                            "test -c /dev/kmsg && "
                            "cat /proc/sys/vm/overcommit_memory /proc/sys/kernel/panic")
            assert (code, out) == (0, "1\n10\n")
        # the two see each other on the lab bridge
        assert run(hosts[0], "root",
                   f"timeout 3 bash -c 'exec 3<>/dev/tcp/{hosts[1].address}/22'")[0] == 0
    assert not (lab.lxcpath / "lab-a").exists()
    assert not (lab.lxcpath / "lab-b").exists()
