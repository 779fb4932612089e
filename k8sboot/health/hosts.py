"""testinfra hosts built from the inventory: paramiko, the inventory's key and sudo.

The user writes no SSH config: address, port, user, key and become come from the
inventory. Host keys follow the same rules as every other k8sboot connection
(k8sboot.connection.known_hosts), against the same file: the state's known_hosts.
A host never seen before is recorded (and its fingerprint reported as a warning of
the check that first reached it); a changed key is refused.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import paramiko
import testinfra
from testinfra.backend.paramiko import ParamikoBackend

from k8sboot.connection.known_hosts import KnownHosts, KnownHostsPolicy, Notify
from k8sboot.connection.ssh import SUDO_PASSWORD_ON_STDIN
from k8sboot.health.results import HealthWarning
from k8sboot.inventory.model import Bastion, Host


def _warn(message: str) -> None:
    # verify runs inside pytest, which swallows prints; a warning lands in the results
    warnings.warn(HealthWarning(message), stacklevel=2)


class PinnedParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, checking host keys with k8sboot's KnownHosts."""

    NAME = "k8sboot-paramiko"

    def __init__(self, hostspec: str, *args: Any, known_hosts: KnownHosts,
                 host_name: str | None = None, bastion: Bastion | None = None,
                 become_password: str | None = None, **kwargs: Any):
        self.known_hosts = known_hosts
        self.host_name = host_name  # the inventory name, for messages
        self.bastion = bastion
        self._become_password = become_password
        self._sudo_password: bytes | None = None  # set once sudo is known to want it
        self._bastion_client: paramiko.SSHClient | None = None
        super().__init__(hostspec, *args, **kwargs)

    def _connect(self, name: str, address: str, port: int, user: str | None, key: str | None,
                 sock: paramiko.Channel | None = None) -> paramiko.SSHClient:
        policy = KnownHostsPolicy(self.known_hosts, name, address, port)
        client = paramiko.SSHClient()  # no host keys of its own: the policy sees every key
        client.set_missing_host_key_policy(policy)
        try:
            client.connect(
                hostname=address,
                port=port,
                username=user,
                key_filename=key,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                transport_factory=policy.transport,
                sock=sock,
            )
        except BaseException:
            client.close()  # a refused key leaves the transport open otherwise
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        address, port = self.host.name, int(self.host.port or 22)
        sock = None
        if self.bastion is not None:
            # through the jump host, as k8sboot's own connections go (connection/ssh.py)
            b = self.bastion
            self._bastion_client = self._connect(f"bastion {b.address}", b.address, b.port, b.user, b.key)
            jump = self._bastion_client.get_transport()
            assert jump is not None
            sock = jump.open_channel("direct-tcpip", (address, port), ("127.0.0.1", 0), timeout=self.timeout)
        client = self._connect(self.host_name or address, address, port, self.host.user,
                               self.ssh_identity_file, sock)
        if self._become_password is not None and self.sudo:
            # fed to sudo -S only where sudo asks for it: else the command would read it
            _, out, _ = client.exec_command("sudo -n true", timeout=self.timeout)
            if out.channel.recv_exit_status() != 0:
                self._sudo_password = self._become_password.encode() + b"\n"
        return client

    def close(self) -> None:
        """The host's connection and the one to its bastion, if they were opened."""
        client = self.__dict__.get("client")
        if client is not None:
            client.close()
        if self._bastion_client is not None:
            self._bastion_client.close()

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        # -n: fail at once instead of waiting for a password nobody can type; with a
        # password: read from stdin (-S), always asked (-k), no prompt text (-p '')
        if self._become_password is not None:
            self.client  # noqa: B018 - connects, and learns whether sudo wants the password
        sudo = SUDO_PASSWORD_ON_STDIN if self._sudo_password else "sudo -n"
        if sudo_user is None:
            return self.quote(f"{sudo} /bin/sh -c %s", command)
        return self.quote(f"{sudo} -u %s /bin/sh -c %s", sudo_user, command)

    def _exec_command(self, command: bytes) -> tuple[int, bytes, bytes]:
        if not (self._sudo_password and command.startswith(SUDO_PASSWORD_ON_STDIN.encode())):
            return super()._exec_command(command)
        transport = self.client.get_transport()
        assert transport is not None
        chan = transport.open_session()
        chan.exec_command(command)
        chan.sendall(self._sudo_password)
        chan.shutdown_write()
        stdout = b"".join(chan.makefile("rb"))
        stderr = b"".join(chan.makefile_stderr("rb"))
        return chan.recv_exit_status(), stdout, stderr


def _hostspec(host: Host) -> str:
    address = host.address or ""
    if ":" in address:  # an IPv6 literal needs brackets in the URL form
        address = f"[{address}]"
    # the backend takes testinfra's hostspec without the "paramiko://" scheme
    return f"{host.user}@{address}:{host.port}"


def testinfra_host(
    host: Host, known_hosts: Path | KnownHosts, timeout: float = 10.0,
    on_new_key: Notify | None = _warn,
) -> testinfra.host.Host:
    """A testinfra Host for an inventory host (one SSH connection, opened on first use).

    known_hosts: the cluster state's known_hosts (a path, or a KnownHosts to share).
    """
    if not host.address:
        raise ValueError(f"host {host.name} has no address (provision it first)")
    if not isinstance(known_hosts, KnownHosts):
        known_hosts = KnownHosts(known_hosts, on_new_key=on_new_key)
    backend = PinnedParamikoBackend(
        _hostspec(host),
        ssh_identity_file=str(Path(host.key).expanduser()) if host.key else None,
        timeout=int(timeout),
        known_hosts=known_hosts,
        host_name=host.name,
        sudo=host.become and host.user != "root",
        bastion=host.bastion,
        become_password=host.become_password,
    )
    ti_host = testinfra.host.Host(backend)
    backend.set_host(ti_host)
    return ti_host
