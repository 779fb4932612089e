"""What every provider shares: its interface, SSH key pairs, waiting for SSH.

A provider makes machines (VMs, boxes) for the hosts of an inventory and records
each one in the cluster state (``machines.json``, as `Machine` records), so later
phases reach them over SSH like any other host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import InputError, UnreachableError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.machine import Machine, Machines
from k8sboot.state import ClusterState

Log = Callable[[str], None]


class Provider(ABC):
    """Makes the machines of the inventory's hosts that name it (``provider: <name>``)."""

    name: ClassVar[str]

    def hosts(self, inventory: Inventory) -> list[Host]:
        return [h for h in inventory.hosts.values() if h.provider == self.name]

    @abstractmethod
    def provision(self, inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
        """Make (or start) a machine per host, wait for SSH, record them; return them."""

    def start(self, inventory: Inventory, state: ClusterState, log: Log = print) -> Machines:
        """Boot stopped machines again (and make any that are missing)."""
        return self.provision(inventory, state, log)

    @abstractmethod
    def stop(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """Shut the machines down cleanly; they keep their disks."""

    @abstractmethod
    def destroy(self, inventory: Inventory, state: ClusterState, log: Log = print) -> None:
        """Remove the machines and what was made for them; forget them in the state."""

    @abstractmethod
    def state(self, inventory: Inventory, state: ClusterState) -> dict[str, str]:
        """host -> the machine's state in the provider's words ("running", ...)."""


def cluster_key_for(host: Host, state: ClusterState) -> Path:
    """The key a made machine accepts: the inventory's if it names one, else the
    cluster's own pair (made on first use)."""
    if host.key:
        key = Path(host.key).expanduser()
        if not key.exists():
            raise InputError(f"{host.name}: key {key} does not exist")
        return key
    return ensure_keypair(state.root / "id_ed25519", comment=f"k8sboot-{state.root.name}")


def forget_host_keys(state: ClusterState, addresses: set[str]) -> None:
    """A recreated machine makes new host keys: drop the old ones for its address."""
    store = KnownHosts(state.known_hosts)  # the one store: locked, atomic, 0600
    for address in addresses:
        store.forget(address, 22)


__all__ = ["Log", "Machine", "Machines", "Provider", "cluster_key_for", "ensure_keypair", "forget_host_keys",
           "public_key_of", "ssh_answers", "wait_for_ssh"]


_KEYGEN_LOCK = threading.Lock()


def ensure_keypair(private: Path, comment: str = "k8sboot") -> Path:
    """Make an ed25519 key pair at `private` (+ `.pub`) unless one is there already.

    Safe to call from many threads and processes at once: all get the same pair.
    """
    pub = private.with_name(private.name + ".pub")
    if private.exists() and pub.exists():
        return private
    private.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_path = private.with_name(f".{private.name}.lock")
    with _KEYGEN_LOCK, open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if private.exists() and pub.exists():  # made while we waited
            return private
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
        openssh_pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                    serialization.PublicFormat.OpenSSH)
        # temporary names first: a half-written key must never be picked up
        tmp = private.with_name(f".{private.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        tmp_pub = pub.with_name(f".{pub.name}.{os.getpid()}.tmp")
        tmp_pub.write_text(f"{openssh_pub.decode()} {comment}\n")
        os.replace(tmp_pub, pub)
        os.replace(tmp, private)  # last: its presence means the pair is complete
    return private


def public_key_of(private: Path) -> str:
    """The OpenSSH public key line for a private key (its .pub file, else derived)."""
    pub = private.with_name(private.name + ".pub")
    if pub.exists():
        return pub.read_text().strip()
    key = paramiko.PKey.from_path(str(private))
    return f"{key.get_name()} {key.get_base64()}"


def ssh_answers(address: str, port: int, user: str, key: Path, timeout: float = 5.0, *,
                known_hosts: KnownHosts, name: str | None = None) -> bool:
    """True once sshd accepts our key (not merely once the port is open).

    The probe is k8sboot's own connection (the one every run uses), so the host
    key is checked like every other: a key other than the recorded ones raises
    HostKeyChangedError (waiting longer would not help).
    """
    conn = SSHConnection(name or address, address, port, user, str(key), known_hosts=known_hosts,
                         connect_timeout=timeout)
    try:
        conn.connect()
        return True
    except UnreachableError:
        return False
    finally:
        conn.close()


def wait_for_ssh(name: str, address: str, port: int, user: str, key: Path,
                 timeout: float, log: Log | None = None, every: float = 10.0,
                 known_hosts: KnownHosts | Path | None = None) -> float:
    """Poll until SSH answers; return the seconds it took. Logs every `every` s.

    known_hosts: the cluster state's known_hosts (ClusterState.known_hosts), or a
    KnownHosts on it. The machine's key is recorded there on first contact (and
    reported through `log`); a provider that re-creates a machine forgets its old
    keys first, so only an unexpected change stops the wait (HostKeyChangedError).
    """
    with contextlib.ExitStack() as stack:
        if known_hosts is None:
            # a caller without a state directory: pin the first key for this wait only
            # (a key that changes between two polls is still refused). Pass the state's
            # known_hosts instead wherever there is one.
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            known_hosts = KnownHosts(scratch / "known_hosts")
        elif not isinstance(known_hosts, KnownHosts):
            known_hosts = KnownHosts(known_hosts, on_new_key=log)
        started = time.monotonic()
        last_log = started
        while True:
            if ssh_answers(address, port, user, key, known_hosts=known_hosts, name=name):
                return time.monotonic() - started
            now = time.monotonic()
            if now - started > timeout:
                raise UnreachableError(name, address, port, f"no SSH after {timeout:.0f} s")
            if log and now - last_log >= every:
                log(f"{name}: waiting for SSH at {address} ({now - started:.0f} s)")
                last_log = now
            time.sleep(0.5)
