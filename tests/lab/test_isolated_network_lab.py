"""An isolated network: the controller reaches the bastion only; the nodes behind it
are reached over SSH through the bastion (direct-tcpip), as root with the lab key."""

from __future__ import annotations

import ipaddress
import socket
import time

import paramiko
import pytest

from .containers import BASTION_INNER, INNER_NETWORK, NETWORK, ContainerLab, LabHost

pytestmark = pytest.mark.lab


def can_connect(address: str, port: int = 22, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_via(jump: paramiko.Transport, host: LabHost, command: str) -> tuple[int, str]:
    """Run `command` as root on an inner host, over a channel of the bastion's transport."""
    channel = jump.open_channel("direct-tcpip", (host.address, host.port), ("127.0.0.1", 0),
                                timeout=10)
    transport = paramiko.Transport(channel)
    try:
        transport.start_client(timeout=10)
        transport.auth_publickey(host.root_user,
                                 paramiko.Ed25519Key.from_private_key_file(str(host.key_path)))
        session = transport.open_session(timeout=10)
        session.settimeout(30)
        session.exec_command(command)
        out = b""
        while chunk := session.recv(65536):
            out += chunk
        return session.recv_exit_status(), out.decode()
    finally:
        transport.close()
        channel.close()


def test_nodes_behind_a_bastion_are_reached_through_it_only() -> None:
    with ContainerLab() as lab:
        bastion = lab.start_bastion("iso-bastion")
        assert ipaddress.ip_address(bastion.address) in NETWORK
        assert bastion.inner_address == str(BASTION_INNER)
        nodes = lab.start(["iso-n1", "iso-n2"], network="inner")
        first, second = (ipaddress.IPv4Address(h.address) for h in nodes)
        assert first in INNER_NETWORK and second > first
        assert all(n.is_inner and n.inner_address is None for n in nodes)

        # the controller reaches the bastion, and nothing behind it
        assert can_connect(bastion.address)
        for node in nodes:
            t0 = time.monotonic()
            assert not can_connect(node.address)
            assert time.monotonic() - t0 < 2.5
        assert not can_connect(str(BASTION_INNER))

        with lab.jump(bastion) as jump:
            for node in nodes:
                assert run_via(jump, node, "hostname") == (0, f"{node.name}\n")
                code, out = run_via(jump, node, "ip -4 route show default")
                assert code == 0 and out.startswith(f"default via {BASTION_INNER} dev eth0"), out
                code, out = run_via(jump, node, "ip -4 -o addr show dev eth0")
                assert code == 0 and f" {node.address}/24 " in out, out
            # the inner hosts see each other on their bridge
            code, _ = run_via(jump, nodes[0], "timeout 3 bash -c "
                              f"'exec 3<>/dev/tcp/{nodes[1].address}/22'")
            assert code == 0
    for name in ("iso-bastion", "iso-n1", "iso-n2"):
        assert not (lab.lxcpath / name).exists()
