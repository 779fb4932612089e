"""testinfra hosts built from the inventory: paramiko, the inventory's key and sudo.

The user writes no SSH config: address, port, user, key and become come from the
inventory. Host keys are checked against the state's known_hosts (recorded by
`k8sboot up`); a host never seen before is accepted, a changed key is refused.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import paramiko
import testinfra
from testinfra.backend.paramiko import ParamikoBackend

from k8sboot.inventory.model import Host


class _AcceptUnknown(paramiko.MissingHostKeyPolicy):
    # a host `up` has not met yet: trust it for this run only (nothing is recorded)
    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        return None


class PinnedParamikoBackend(ParamikoBackend):
    """testinfra's paramiko backend, checking host keys against k8sboot's known_hosts."""

    NAME = "k8sboot-paramiko"

    def __init__(self, hostspec: str, *args: Any, known_hosts: Path | None = None, **kwargs: Any):
        self.known_hosts = known_hosts
        super().__init__(hostspec, *args, **kwargs)

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts is not None and self.known_hosts.exists():
            # load without remembering the file: this run must never rewrite it
            client.get_host_keys().load(str(self.known_hosts))
        client.set_missing_host_key_policy(_AcceptUnknown())
        client.connect(
            hostname=self.host.name,
            port=int(self.host.port or 22),
            username=self.host.user,
            key_filename=self.ssh_identity_file,
            timeout=self.timeout,
            banner_timeout=self.timeout,
            auth_timeout=self.timeout,
        )
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        # -n: fail at once instead of waiting for a password nobody can type
        if sudo_user is None:
            return self.quote("sudo -n /bin/sh -c %s", command)
        return self.quote("sudo -n -u %s /bin/sh -c %s", sudo_user, command)


def _hostspec(host: Host) -> str:
    address = host.address or ""
    if ":" in address:  # an IPv6 literal needs brackets in the URL form
        address = f"[{address}]"
    # the backend takes testinfra's hostspec without the "paramiko://" scheme
    return f"{host.user}@{address}:{host.port}"


def testinfra_host(
    host: Host, known_hosts: Path | None, timeout: float = 10.0
) -> testinfra.host.Host:
    """A testinfra Host for an inventory host (one SSH connection, opened on first use)."""
    if not host.address:
        raise ValueError(f"host {host.name} has no address (provision it first)")
    backend = PinnedParamikoBackend(
        _hostspec(host),
        ssh_identity_file=str(Path(host.key).expanduser()) if host.key else None,
        timeout=int(timeout),
        known_hosts=known_hosts,
        sudo=host.become and host.user != "root",
    )
    ti_host = testinfra.host.Host(backend)
    backend.set_host(ti_host)
    return ti_host
