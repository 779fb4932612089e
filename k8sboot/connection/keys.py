"""Choosing the SSH credentials of a connection: key files, their passphrases, the agent.

`load_key` turns one key file into the keys to offer: the file's own key, or,
for an encrypted file, the ssh-agent's copy of it (no prompt), or the file
decrypted with a passphrase from `default_passphrase_source` (the environment
or one terminal prompt per file). `agent_keys` lists what a running ssh-agent
holds; `default_identity_files` the keys OpenSSH would try without `-i`.

A passphrase is never logged, cached beyond its source, or put in a message.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paramiko
from paramiko.pkey import UnknownKeyType

from k8sboot.errors import InputError

PASSPHRASE_ENV = "K8SBOOT_SSH_PASSPHRASE"
# the keys OpenSSH tries without -i, in its order (DSA is gone from both OpenSSH and paramiko)
DEFAULT_IDENTITIES = ("id_ed25519", "id_ecdsa", "id_rsa")

PassphraseSource = Callable[[Path], str | None]

_OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END = "-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC = b"openssh-key-v1\x00"


def load_key(
    path: str | Path,
    passphrase: PassphraseSource | None = None,
    agent_keys: Sequence[paramiko.PKey] = (),
) -> list[paramiko.PKey]:
    """The keys to offer for the key file `path` (always one, as a list to chain with others).

    An unencrypted file gives its own key. An encrypted one gives the key of
    `agent_keys` with the same public half if there is one (read from the
    file's OpenSSH header or the `.pub` beside it), without asking anything;
    else the file decrypted with `passphrase(path)`.

    Raises InputError when the file is missing or unreadable, when it is
    encrypted and no passphrase is to be had, or when the passphrase is wrong.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"SSH key {p} does not exist")
    try:
        return [paramiko.PKey.from_path(p)]
    # PasswordRequiredException subclasses SSHException: it has to come first
    except paramiko.PasswordRequiredException:
        pass
    except TypeError:
        # paramiko >= 3.2 lets cryptography's TypeError through for an encrypted
        # file read without a password (the only TypeError cryptography documents)
        pass
    except UnknownKeyType:
        raise InputError(f"SSH key {p} cannot be read: its key type is not supported") from None
    except OSError as e:
        raise InputError(f"SSH key {p} cannot be read: {e.strerror or e}") from None
    except (paramiko.SSHException, ValueError) as e:
        raise InputError(f"SSH key {p} cannot be read: {e}") from e
    return [_encrypted_key(p, passphrase, agent_keys)]


# decrypting costs ~0.3 s of bcrypt per file: once per file per process, not once per host
_decrypt_lock = threading.Lock()
_decrypted: dict[tuple[Path, int, int], paramiko.PKey] = {}


def _encrypted_key(p: Path, passphrase: PassphraseSource | None,
                   agent_keys: Sequence[paramiko.PKey]) -> paramiko.PKey:
    public = public_blob_of(p)
    if public is not None:
        for key in agent_keys:
            if key.asbytes() == public:
                return key
    try:
        st = p.stat()
    except OSError as e:
        raise InputError(f"SSH key {p} cannot be read: {e.strerror or e}") from None
    # size and mtime: a file rewritten with another key is decrypted afresh
    signature = (p.resolve(), st.st_mtime_ns, st.st_size)
    with _decrypt_lock:  # threads loading the same file ask and decrypt once
        if signature in _decrypted:
            return _decrypted[signature]
        secret = passphrase(p) if passphrase is not None else None
        if secret is None:
            raise InputError(
                f"SSH key {p} is encrypted and no passphrase was given: set "
                f"{PASSPHRASE_ENV}, run k8sboot from a terminal to be asked for it, or add "
                f"the key to ssh-agent (ssh-add {p})")
        try:
            # bytes, whatever the stubs say: PKey.from_path hands the password
            # straight to cryptography, which refuses str ("password must be bytes")
            key = paramiko.PKey.from_path(p, secret.encode())  # type: ignore[arg-type]
        except (paramiko.SSHException, ValueError, TypeError, UnknownKeyType):
            # from None: nothing about the attempt (the secret included) rides along
            raise InputError(
                f"SSH key {p} cannot be decrypted: the passphrase is wrong "
                f"(or the file is damaged)") from None
        _decrypted[signature] = key
        return key


def public_blob_of(path: Path) -> bytes | None:
    """The public half of a private key file in SSH wire form, read without its passphrase.

    From the unencrypted header of an OpenSSH-format key, else from the `.pub`
    beside the file (the only source for a legacy PEM key); None when neither says.
    """
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    blob = _openssh_public_blob(text)
    if blob is not None:
        return blob
    try:
        fields = Path(f"{path}.pub").read_text(errors="replace").split()
        return base64.b64decode(fields[1], validate=True) if len(fields) >= 2 else None
    except (OSError, binascii.Error):
        return None


def _openssh_public_blob(text: str) -> bytes | None:
    # layout (OpenSSH PROTOCOL.key): magic, cipher, kdf, kdf options, key count,
    # then the public keys in clear before the (possibly encrypted) private part
    start, end = text.find(_OPENSSH_BEGIN), text.find(_OPENSSH_END)
    if start < 0 or end < start:
        return None
    try:
        raw = base64.b64decode("".join(text[start + len(_OPENSSH_BEGIN):end].split()))
        if not raw.startswith(_OPENSSH_MAGIC):
            return None
        msg = paramiko.Message(raw[len(_OPENSSH_MAGIC):])
        for _ in range(3):  # cipher name, kdf name, kdf options
            msg.get_string()
        if msg.get_int() < 1:
            return None
        blob = msg.get_string()
        return blob or None
    except (binascii.Error, ValueError, IndexError, paramiko.SSHException):
        return None


def default_passphrase_source() -> PassphraseSource:
    """Where passphrases come from: $K8SBOOT_SSH_PASSPHRASE, else a terminal prompt, else None.

    The prompt is shown at most once per file for the life of the returned
    callable (its answers are kept in it; concurrent askers wait for the first),
    and only when stdin is a terminal. Share one source per run.
    """
    answers: dict[Path, str] = {}
    lock = threading.Lock()

    def ask(path: Path) -> str | None:
        from_env = os.environ.get(PASSPHRASE_ENV)
        if from_env:
            return from_env
        if not _stdin_is_terminal():
            return None
        which = Path(path).expanduser().resolve()
        with lock:
            if which not in answers:
                try:
                    answers[which] = getpass.getpass(f"Passphrase for {path}: ")
                except EOFError:
                    return None
            return answers[which]

    return ask


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


class _SerialAgentKey(paramiko.AgentKey):
    """An agent key whose signing requests take turns with the other keys of its agent.

    All keys of one agent share its socket and paramiko does not serialise the
    requests on it: two hosts authenticating at once would read each other's answers.
    """

    def __init__(self, agent: paramiko.Agent, blob: bytes, comment: str, turn: threading.Lock):
        super().__init__(agent, blob, comment)
        self._turn = turn

    def sign_ssh_data(self, data: Any, algorithm: str | None = None) -> paramiko.Message:
        with self._turn:
            return super().sign_ssh_data(data, algorithm)


_agent_lock = threading.Lock()
_agent_cache: tuple[str | None, list[paramiko.PKey]] | None = None


def agent_keys(refresh: bool = False) -> list[paramiko.PKey]:
    """The keys of the running ssh-agent ($SSH_AUTH_SOCK); [] when there is none or it fails.

    Asked once per process and per $SSH_AUTH_SOCK value; `refresh=True` asks
    again (after an `ssh-add`, in tests). The keys may be used from any thread.
    """
    global _agent_cache
    sock = os.environ.get("SSH_AUTH_SOCK")
    with _agent_lock:
        if not refresh and _agent_cache is not None and _agent_cache[0] == sock:
            return list(_agent_cache[1])
        # an earlier agent connection is left open, not closed: keys handed out
        # from it may still be signing for a connection being made
        keys = _ask_agent() if sock else []
        _agent_cache = (sock, keys)
        return list(keys)


def _ask_agent() -> list[paramiko.PKey]:
    try:
        agent = paramiko.Agent()  # connects and lists the keys; no agent -> no keys
        turn = threading.Lock()
        return [_SerialAgentKey(agent, k.blob, k.comment, turn) for k in agent.get_keys()]
    except (paramiko.SSHException, OSError, EOFError):
        return []


def default_identity_files() -> list[Path]:
    """~/.ssh/id_ed25519, id_ecdsa and id_rsa that exist, in the order OpenSSH tries them."""
    ssh_dir = Path("~/.ssh").expanduser()
    return [ssh_dir / name for name in DEFAULT_IDENTITIES if (ssh_dir / name).is_file()]
