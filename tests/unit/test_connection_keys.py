"""SSH credentials: key files (encrypted or not), passphrases, a real ssh-agent."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from k8sboot.connection import keys
from k8sboot.connection.keys import (
    agent_keys,
    default_identity_files,
    default_passphrase_source,
    load_key,
    public_blob_of,
)
from k8sboot.errors import InputError

SECRET = "correct horse battery staple"

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def new_key(kind: str) -> PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(path: Path, key: PrivateKey, passphrase: str | None = None, *,
              fmt: serialization.PrivateFormat = serialization.PrivateFormat.OpenSSH,
              pub: bool = False) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
        else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, encryption))
    path.chmod(0o600)  # ssh-add refuses anything looser
    if pub:
        path.with_name(path.name + ".pub").write_bytes(
            key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                          serialization.PublicFormat.OpenSSH) + b" test\n")
    return path


def public_blob(key: PrivateKey) -> bytes:
    import base64
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def signs(key: paramiko.PKey, data: bytes = b"challenge", algorithm: str | None = None) -> bool:
    """`key` makes signatures its public half accepts (so it is a private key, not only a public one)."""
    sig: object = key.sign_ssh_data(data, algorithm)
    # an AgentKey returns the signature as bytes, the others as a Message
    raw = sig if isinstance(sig, bytes) else cast(paramiko.Message, sig).asbytes()
    # verified by a key made from the public half: paramiko's Ed25519Key read from a
    # private file cannot verify
    public = paramiko.PKey.from_type_string(key.get_name(), key.asbytes())
    return bool(public.verify_ssh_sig(data, paramiko.Message(raw)))


def never_asked(path: Path) -> str | None:
    raise AssertionError(f"the passphrase of {path} was asked for")


# -- key files ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_unencrypted_key_is_loaded_without_asking(tmp_path: Path, kind: str) -> None:
    key = new_key(kind)
    loaded = load_key(write_key(tmp_path / "id", key), passphrase=never_asked)
    assert len(loaded) == 1
    assert loaded[0].asbytes() == public_blob(key)


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_encrypted_key_with_the_right_passphrase(tmp_path: Path, kind: str) -> None:
    key = new_key(kind)
    path = write_key(tmp_path / "id", key, SECRET)
    asked: list[Path] = []

    def source(p: Path) -> str | None:
        asked.append(p)
        return SECRET

    loaded = load_key(path, passphrase=source)
    assert [k.asbytes() for k in loaded] == [public_blob(key)]
    assert asked == [path]
    # the signature works: this is the private key, not only its public half
    assert signs(loaded[0])


def test_legacy_pem_encrypted_key_with_the_right_passphrase(tmp_path: Path) -> None:
    key = new_key("rsa")
    path = write_key(tmp_path / "id_rsa", key, SECRET,
                     fmt=serialization.PrivateFormat.TraditionalOpenSSL)
    assert [k.asbytes() for k in load_key(path, passphrase=lambda p: SECRET)] == [public_blob(key)]


def test_a_decrypted_key_is_not_decrypted_again(tmp_path: Path) -> None:
    path = write_key(tmp_path / "id", new_key("ed25519"), SECRET)
    asked: list[Path] = []

    def source(p: Path) -> str | None:
        asked.append(p)
        return SECRET

    first = load_key(path, passphrase=source)
    again = load_key(path, passphrase=source)
    assert first[0] is again[0] and len(asked) == 1


@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_wrong_passphrase_names_the_file_and_not_the_passphrase(tmp_path: Path, kind: str) -> None:
    path = write_key(tmp_path / "id", new_key(kind), SECRET)
    with pytest.raises(InputError) as e:
        load_key(path, passphrase=lambda p: "not the passphrase")
    message = str(e.value)
    assert message == f"SSH key {path} cannot be decrypted: the passphrase is wrong (or the file is damaged)"
    assert "not the passphrase" not in message
    assert e.value.__cause__ is None and e.value.__suppress_context__


@pytest.mark.parametrize("source", [None, lambda p: None], ids=["no source", "source says none"])
def test_encrypted_key_without_a_passphrase_says_how_to_give_one(
        tmp_path: Path, source: Callable[[Path], str | None] | None) -> None:
    path = write_key(tmp_path / "id", new_key("ed25519"), SECRET)
    with pytest.raises(InputError) as e:
        load_key(path, passphrase=source)
    message = str(e.value)
    assert message.startswith(f"SSH key {path} is encrypted and no passphrase was given")
    assert "K8SBOOT_SSH_PASSPHRASE" in message
    assert "terminal" in message
    assert f"ssh-add {path}" in message


def test_missing_key(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"SSH key .*/nope does not exist$"):
        load_key(tmp_path / "nope")


def test_garbage_and_directories_cannot_be_read(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("this is no key\n")
    with pytest.raises(InputError, match=rf"^SSH key {junk} cannot be read: "):
        load_key(junk)
    with pytest.raises(InputError, match=rf"^SSH key {tmp_path} cannot be read: "):
        load_key(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_key(tmp_path: Path) -> None:
    path = write_key(tmp_path / "id", new_key("ed25519"))
    path.chmod(0)
    with pytest.raises(InputError, match=r"cannot be read: Permission denied"):
        load_key(path)


def test_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    key = new_key("ed25519")
    (tmp_path / ".ssh").mkdir()
    write_key(tmp_path / ".ssh" / "id_ed25519", key)
    assert load_key("~/.ssh/id_ed25519")[0].asbytes() == public_blob(key)


def test_public_half_of_an_encrypted_openssh_key_needs_no_passphrase(tmp_path: Path) -> None:
    for kind in ("ed25519", "rsa"):
        key = new_key(kind)
        assert public_blob_of(write_key(tmp_path / kind, key, SECRET)) == public_blob(key)
    # a legacy PEM key hides it: only a .pub beside it tells
    key = new_key("rsa")
    pem = write_key(tmp_path / "pem", key, SECRET, fmt=serialization.PrivateFormat.TraditionalOpenSSL)
    assert public_blob_of(pem) is None
    pem = write_key(tmp_path / "pem", key, SECRET, fmt=serialization.PrivateFormat.TraditionalOpenSSL,
                    pub=True)
    assert public_blob_of(pem) == public_blob(key)


# -- where passphrases come from ----------------------------------------------------

class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_passphrase_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("K8SBOOT_SSH_PASSPHRASE", SECRET)
    monkeypatch.setattr(keys.getpass, "getpass", never_asked)
    assert default_passphrase_source()(tmp_path / "id") == SECRET


def test_no_terminal_no_passphrase(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("K8SBOOT_SSH_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(keys.getpass, "getpass", never_asked)
    assert default_passphrase_source()(tmp_path / "id") is None


def test_terminal_prompt_once_per_file_even_from_many_threads(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("K8SBOOT_SSH_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    prompts: list[str] = []

    def fake_getpass(prompt: str) -> str:
        prompts.append(prompt)
        time.sleep(0.05)  # long enough for the other threads to arrive meanwhile
        return f"answer {len(prompts)}"

    monkeypatch.setattr(keys.getpass, "getpass", fake_getpass)
    source = default_passphrase_source()
    a, b = tmp_path / "a", tmp_path / "b"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(source, [a, b] * 8))
    assert sorted(prompts) == [f"Passphrase for {a}: ", f"Passphrase for {b}: "]
    assert len(set(answers[0::2])) == 1 and len(set(answers[1::2])) == 1


def test_a_prompted_passphrase_decrypts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("K8SBOOT_SSH_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    monkeypatch.setattr(keys.getpass, "getpass", lambda prompt: SECRET)
    key = new_key("ed25519")
    path = write_key(tmp_path / "id", key, SECRET)
    assert load_key(path, default_passphrase_source())[0].asbytes() == public_blob(key)


# -- ssh-agent --------------------------------------------------------------------

needs_agent = pytest.mark.skipif(not (shutil.which("ssh-agent") and shutil.which("ssh-add")),
                                 reason="needs OpenSSH's ssh-agent and ssh-add")


@pytest.fixture
def agent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """A real ssh-agent of its own; yields a function that ssh-adds an unencrypted key file."""
    # short directory: a unix socket path must fit in 108 bytes, pytest's tmp_path may not
    home = Path(tempfile.mkdtemp(prefix="k8sagent", dir="/tmp"))
    sock = home / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert proc.poll() is None, "ssh-agent exited"
            assert time.monotonic() < deadline, "ssh-agent did not create its socket"
            time.sleep(0.02)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))

        def add(path: Path) -> None:
            subprocess.run(["ssh-add", "-q", str(path)], check=True, stdin=subprocess.DEVNULL,
                           env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
            agent_keys(refresh=True)

        yield add
    finally:
        proc.kill()  # this agent only, by its PID
        proc.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
        agent_keys(refresh=True)


@needs_agent
@pytest.mark.parametrize("kind", ["ed25519", "rsa"])
def test_encrypted_key_held_by_the_agent_is_used_without_asking(
        tmp_path: Path, agent: Callable[[Path], None], kind: str) -> None:
    key = new_key(kind)
    encrypted = write_key(tmp_path / "id", key, SECRET)
    agent(write_key(tmp_path / "plain", key))  # same key, so the same public half
    other = new_key("ed25519")
    agent(write_key(tmp_path / "other", other))

    held = agent_keys()
    assert {k.asbytes() for k in held} == {public_blob(key), public_blob(other)}
    loaded = load_key(encrypted, passphrase=never_asked, agent_keys=held)
    assert len(loaded) == 1
    assert isinstance(loaded[0], paramiko.AgentKey)
    assert loaded[0].asbytes() == public_blob(key)
    assert signs(loaded[0], algorithm="rsa-sha2-256" if kind == "rsa" else None)


@needs_agent
def test_legacy_pem_key_matches_the_agent_through_its_pub_file(
        tmp_path: Path, agent: Callable[[Path], None]) -> None:
    key = new_key("rsa")
    encrypted = write_key(tmp_path / "id_rsa", key, SECRET,
                          fmt=serialization.PrivateFormat.TraditionalOpenSSL, pub=True)
    agent(write_key(tmp_path / "plain", key))
    loaded = load_key(encrypted, passphrase=never_asked, agent_keys=agent_keys())
    assert isinstance(loaded[0], paramiko.AgentKey)


@needs_agent
def test_encrypted_key_the_agent_does_not_hold_asks_for_the_passphrase(
        tmp_path: Path, agent: Callable[[Path], None]) -> None:
    agent(write_key(tmp_path / "other", new_key("ed25519")))
    key = new_key("ed25519")
    loaded = load_key(write_key(tmp_path / "id", key, SECRET), passphrase=lambda p: SECRET,
                      agent_keys=agent_keys())
    assert not isinstance(loaded[0], paramiko.AgentKey)
    assert loaded[0].asbytes() == public_blob(key)


@needs_agent
def test_agent_keys_sign_correctly_from_many_threads_at_once(
        tmp_path: Path, agent: Callable[[Path], None]) -> None:
    key = new_key("ed25519")
    agent(write_key(tmp_path / "plain", key))
    (held,) = agent_keys()
    start = threading.Barrier(8)

    def sign(i: int) -> bool:
        if i < 8:
            start.wait()  # the first eight ask at the same moment
        return signs(held, f"challenge {i}".encode())

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(sign, range(64)))


def test_no_agent_no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    assert agent_keys(refresh=True) == []
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "gone.sock"))  # a dangling variable
    assert agent_keys() == []


# -- default identities -------------------------------------------------------------

def test_default_identity_files_in_openssh_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_identity_files() == []
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    for name in ("id_rsa", "id_ed25519", "id_dsa", "config"):
        (ssh / name).write_text("x")
    assert default_identity_files() == [ssh / "id_ed25519", ssh / "id_rsa"]
