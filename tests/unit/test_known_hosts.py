"""Host keys as OpenSSH checks them: k8sboot.connection.known_hosts and its SSHClient users."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from k8sboot.connection.known_hosts import KnownHosts, key_fingerprint, known_hosts_name
from k8sboot.errors import HostKeyChangedError, InputError
from k8sboot.health import hosts as health_hosts  # its testinfra_host is no test
from k8sboot.inventory.model import Host
from k8sboot.providers.base import ssh_answers, wait_for_ssh


def ed25519_pem() -> str:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()).decode()


def ed25519_key() -> paramiko.Ed25519Key:
    return paramiko.Ed25519Key(file_obj=io.StringIO(ed25519_pem()))


def openssh_fingerprint(key: paramiko.PKey) -> str:
    # computed independently of the code under test: what `ssh-keygen -lf` prints
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def line(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


@pytest.fixture
def kh_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "known_hosts"


# -- the rules -----------------------------------------------------------------------------

def test_other_key_type_is_a_changed_key(kh_path: Path) -> None:
    """ed25519 recorded, the host now offers ECDSA: refused, both fingerprints named."""
    old, new = ed25519_key(), paramiko.ECDSAKey.generate()
    kh_path.parent.mkdir()
    kh_path.write_text(line("10.0.0.1", old))
    before = kh_path.read_text()

    with pytest.raises(HostKeyChangedError) as e:
        KnownHosts(kh_path).check("cp1", "10.0.0.1", 22, new)

    msg = str(e.value)
    assert "cp1" in msg and "10.0.0.1" in msg
    assert f"ssh-ed25519 {openssh_fingerprint(old)}" in msg
    assert f"ecdsa-sha2-nistp256 {openssh_fingerprint(new)}" in msg
    assert "--accept-new-host-keys" in msg and str(kh_path) in msg
    assert "host key of" in msg and "changed" in msg  # what the e2e test greps for
    assert kh_path.read_text() == before  # the new key was not appended


def test_same_key_passes_and_writes_nothing(kh_path: Path) -> None:
    key = ed25519_key()
    kh_path.parent.mkdir()
    kh_path.write_text("# mine\n" + line("10.0.0.1", key))
    before = os.stat(kh_path)
    told: list[str] = []

    KnownHosts(kh_path, on_new_key=told.append).check("cp1", "10.0.0.1", 22, key)

    after = os.stat(kh_path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert told == []
    assert sorted(p.name for p in kh_path.parent.iterdir()) == ["known_hosts"]


def test_any_recorded_key_passes(kh_path: Path) -> None:
    """Several keys recorded (e.g. by ssh-keyscan): offering any one of them is fine."""
    ed, rsa = ed25519_key(), paramiko.RSAKey.generate(2048)
    kh_path.parent.mkdir()
    kh_path.write_text(line("10.0.0.1", ed) + line("other,10.0.0.1", rsa))
    kh = KnownHosts(kh_path)
    kh.check("cp1", "10.0.0.1", 22, ed)
    kh.check("cp1", "10.0.0.1", 22, rsa)


def test_first_contact_records_and_reports_once(kh_path: Path) -> None:
    key = ed25519_key()
    told: list[str] = []
    kh = KnownHosts(kh_path, on_new_key=told.append)

    kh.check("cp1", "10.0.0.1", 22, key)
    kh.check("cp1", "10.0.0.1", 22, key)

    assert kh_path.read_text() == line("10.0.0.1", key)
    assert stat.S_IMODE(kh_path.stat().st_mode) == 0o600
    assert told == [(f"host cp1 (10.0.0.1): new host key ssh-ed25519 "
                     f"{openssh_fingerprint(key)}; recorded in {kh_path}")]
    assert key_fingerprint(key) == openssh_fingerprint(key)
    # a fresh store (another run) agrees
    KnownHosts(kh_path).check("cp1", "10.0.0.1", 22, key)


def test_accept_changed_replaces_every_recorded_key(kh_path: Path) -> None:
    ed, rsa, new = ed25519_key(), paramiko.RSAKey.generate(2048), paramiko.ECDSAKey.generate()
    other = ed25519_key()
    kh_path.parent.mkdir()
    kh_path.write_text("# kept\n" + line("10.0.0.1", ed) + line("10.0.0.9,10.0.0.1", rsa)
                       + line("10.0.0.2", other))
    told: list[str] = []

    KnownHosts(kh_path, accept_changed=True, on_changed_key=told.append).check(
        "cp1", "10.0.0.1", 22, new)

    assert kh_path.read_text() == ("# kept\n" + line("10.0.0.9", rsa) + line("10.0.0.2", other)
                                   + line("10.0.0.1", new))
    assert len(told) == 1 and openssh_fingerprint(new) in told[0]
    assert openssh_fingerprint(ed) in told[0] and openssh_fingerprint(rsa) in told[0]
    with pytest.raises(HostKeyChangedError):  # the old key is no longer valid
        KnownHosts(kh_path).check("cp1", "10.0.0.1", 22, ed)


def test_non_22_port_is_spelled_with_brackets(kh_path: Path) -> None:
    key22, key2222 = ed25519_key(), ed25519_key()
    told: list[str] = []
    kh = KnownHosts(kh_path, on_new_key=told.append)

    kh.check("a", "10.0.0.1", 22, key22)
    kh.check("b", "10.0.0.1", 2222, key2222)  # another sshd on the same address: its own key

    assert known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    assert kh_path.read_text() == line("10.0.0.1", key22) + line("[10.0.0.1]:2222", key2222)
    assert told[1].startswith("host b ([10.0.0.1]:2222): new host key ssh-ed25519 SHA256:")
    with pytest.raises(HostKeyChangedError) as e:
        kh.check("b", "10.0.0.1", 2222, key22)
    assert e.value.address == "[10.0.0.1]:2222"
    assert f"[10.0.0.1]:2222 changed: it now offers ssh-ed25519 {openssh_fingerprint(key22)}" \
        in str(e.value)


def test_hashed_names_are_understood(kh_path: Path) -> None:
    import hmac

    key, salt = ed25519_key(), os.urandom(20)
    digest = hmac.new(salt, b"10.0.0.1", hashlib.sha1).digest()
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    kh_path.parent.mkdir()
    kh_path.write_text(line(hashed, key))
    with pytest.raises(HostKeyChangedError):
        KnownHosts(kh_path).check("cp1", "10.0.0.1", 22, ed25519_key())


@pytest.mark.parametrize("content", [
    "10.0.0.1 ssh-ed25519\n",                        # no key
    "10.0.0.1 ssh-ed25519 !!!notbase64!!!\n",         # not base64
    "@bogus 10.0.0.1 ssh-ed25519 AAAA\n",            # unknown marker
])
def test_corrupt_file_is_a_clear_input_error(kh_path: Path, content: str) -> None:
    kh_path.parent.mkdir()
    kh_path.write_text("# fine\n" + content)
    with pytest.raises(InputError) as e:
        KnownHosts(kh_path)
    assert f"{kh_path}:2:" in str(e.value)


def test_mislabelled_key_is_a_clear_input_error(kh_path: Path) -> None:
    key = ed25519_key()
    kh_path.parent.mkdir()
    kh_path.write_text(f"10.0.0.1 ecdsa-sha2-nistp256 {key.get_base64()}\n")
    with pytest.raises(InputError, match="ssh-ed25519"):
        KnownHosts(kh_path)


@pytest.mark.parametrize("make", ["directory", "binary"])
def test_unreadable_file_is_a_clear_input_error(kh_path: Path, make: str) -> None:
    if make == "directory":
        kh_path.mkdir(parents=True)
    else:
        kh_path.parent.mkdir()
        kh_path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError) as e:
        KnownHosts(kh_path)
    assert str(kh_path) in str(e.value)


# -- several users of one file ---------------------------------------------------------------

def test_threads_and_stores_lose_no_key(kh_path: Path) -> None:
    """Two stores on one file (pool and probe), many threads: every key is kept."""
    keys = {f"10.0.1.{i}": ed25519_key() for i in range(24)}
    stores = [KnownHosts(kh_path), KnownHosts(kh_path)]
    barrier = threading.Barrier(len(keys))

    def contact(i: int, address: str) -> None:
        barrier.wait()  # all at once: the worst case for lost updates
        stores[i % 2].check(address, address, 22, keys[address])

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        for f in [pool.submit(contact, i, a) for i, a in enumerate(keys)]:
            f.result()  # re-raises a thread's error here

    assert sorted(kh_path.read_text().splitlines()) == sorted(
        line(a, k).strip() for a, k in keys.items())
    assert not list(kh_path.parent.glob("*.tmp"))


def test_forget_and_outside_edits_are_seen(kh_path: Path) -> None:
    """A provider forgets a re-created VM's keys: the new key is then a first contact."""
    old, new = ed25519_key(), ed25519_key()
    pool = KnownHosts(kh_path)
    pool.check("cp1", "10.0.0.1", 22, old)
    KnownHosts(kh_path).forget("10.0.0.1", 22)  # another store (the provider's)
    pool.check("cp1", "10.0.0.1", 22, new)  # the pool's store reads the file again
    assert kh_path.read_text() == line("10.0.0.1", new)


def test_known_hosts_are_parsed_once_until_the_file_changes(kh_path: Path, monkeypatch) -> None:
    """Every connection asks twice; at 30 hosts parsing the whole file each time was O(hosts^2)."""
    keys = {f"10.0.2.{i}": ed25519_key() for i in range(30)}
    kh_path.parent.mkdir(parents=True, exist_ok=True)
    kh_path.write_text("".join(line(a, k) for a, k in keys.items()))
    store = KnownHosts(kh_path)
    reads = []
    real = KnownHosts._read
    monkeypatch.setattr(KnownHosts, "_read", lambda self: reads.append(1) or real(self))
    for address, key in keys.items():
        assert store.recorded(address, 22) == [(key.get_name(), key.asbytes())]
        store.check(address, address, 22, key)
    assert len(reads) == 0  # parsed when the store was made, and not since
    other = ed25519_key()
    KnownHosts(kh_path).check("new", "10.0.3.1", 22, other)  # another store writes the file
    assert store.recorded("10.0.3.1", 22) == [(other.get_name(), other.asbytes())]
    assert len(reads) >= 1


# -- SSHClient users: verify and the providers' probe, against an in-process server -----------

class _Server(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.common.AUTH_SUCCESSFUL


class SSHServer:
    """A paramiko sshd on 127.0.0.1 with its host keys, for as many connections as asked."""

    def __init__(self, host_key: paramiko.PKey, *more_keys: paramiko.PKey):
        self.host_key = host_key
        self.keys = [host_key, *more_keys]
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.1)  # close() does not wake a blocked accept(): poll a flag
        self.stopped = threading.Event()
        self.transports: list[paramiko.Transport] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            t = paramiko.Transport(conn)
            for key in self.keys:
                t.add_server_key(key)
            self.transports.append(t)
            try:
                t.start_server(server=_Server())
            except (paramiko.SSHException, EOFError, OSError):
                pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()
        for t in self.transports:
            t.close()


@pytest.fixture
def client_key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    path.write_text(ed25519_pem())
    path.chmod(0o600)
    return path


@pytest.fixture
def server() -> Iterator[SSHServer]:
    s = SSHServer(paramiko.ECDSAKey.generate())
    yield s
    s.close()


def test_probe_records_first_key_then_refuses_a_changed_one(
    kh_path: Path, client_key: Path, server: SSHServer
) -> None:
    told: list[str] = []
    took = wait_for_ssh("vm1", "127.0.0.1", server.port, "root", client_key, timeout=10,
                        log=told.append, known_hosts=kh_path)
    assert took >= 0
    assert kh_path.read_text() == line(f"[127.0.0.1]:{server.port}", server.host_key)
    assert any(openssh_fingerprint(server.host_key) in m for m in told)

    # same machine, another key (not re-created by the provider, so nothing forgotten)
    kh_path.write_text(line(f"[127.0.0.1]:{server.port}", ed25519_key()))
    with pytest.raises(HostKeyChangedError) as e:
        ssh_answers("127.0.0.1", server.port, "root", client_key,
                    known_hosts=KnownHosts(kh_path), name="vm1")
    assert openssh_fingerprint(server.host_key) in str(e.value)


def test_probe_accepts_the_new_key_of_a_forgotten_machine(
    kh_path: Path, client_key: Path, server: SSHServer
) -> None:
    kh_path.parent.mkdir()
    kh_path.write_text(line(f"[127.0.0.1]:{server.port}", ed25519_key()))
    KnownHosts(kh_path).forget("127.0.0.1", server.port)  # what a re-creating provider does
    assert ssh_answers("127.0.0.1", server.port, "root", client_key,
                       known_hosts=KnownHosts(kh_path), name="vm1")
    assert kh_path.read_text() == line(f"[127.0.0.1]:{server.port}", server.host_key)


def test_probe_asks_for_a_recorded_key_type_first(kh_path: Path, client_key: Path) -> None:
    """A server with ed25519 and ECDSA keys, only ECDSA recorded: it must not look changed."""
    ecdsa = paramiko.ECDSAKey.generate()
    s = SSHServer(ed25519_key(), ecdsa)  # ed25519 is paramiko's favourite otherwise
    kh_path.parent.mkdir()
    kh_path.write_text(line(f"[127.0.0.1]:{s.port}", ecdsa))
    try:
        assert ssh_answers("127.0.0.1", s.port, "root", client_key,
                           known_hosts=KnownHosts(kh_path), name="vm1")
    finally:
        s.close()
    assert kh_path.read_text() == line(f"[127.0.0.1]:{s.port}", ecdsa)


def test_verify_refuses_a_changed_key(kh_path: Path, client_key: Path, server: SSHServer) -> None:
    host = Host(name="cp1", address="127.0.0.1", port=server.port, user="root",
                key=str(client_key))
    kh_path.parent.mkdir()
    kh_path.write_text(line(f"[127.0.0.1]:{server.port}", ed25519_key()))
    ti = health_hosts.testinfra_host(host, kh_path, timeout=5)
    with pytest.raises(HostKeyChangedError) as e:
        ti.backend.client  # noqa: B018 - opening the connection is the point
    assert "cp1" in str(e.value) and f"[127.0.0.1]:{server.port}" in str(e.value)


def test_verify_records_a_first_key(kh_path: Path, client_key: Path, server: SSHServer) -> None:
    host = Host(name="cp1", address="127.0.0.1", port=server.port, user="root",
                key=str(client_key))
    told: list[str] = []
    ti = health_hosts.testinfra_host(host, kh_path, timeout=5, on_new_key=told.append)
    ti.backend.client.close()
    assert kh_path.read_text() == line(f"[127.0.0.1]:{server.port}", server.host_key)
    assert len(told) == 1 and openssh_fingerprint(server.host_key) in told[0]
