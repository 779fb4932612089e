"""Host keys, recorded on first contact in the cluster's own known_hosts file.

The rules are OpenSSH's (StrictHostKeyChecking=accept-new):

- a host with no recorded key: its key is recorded and its fingerprint reported once;
- a host offering one of its recorded keys (of any type): fine, nothing is written;
- a host offering any other key, whatever its type: a changed key. The run stops
  (HostKeyChangedError) unless the caller accepts new keys on purpose
  (`--accept-new-host-keys`, for a host that was really reinstalled); then every
  recorded key of that host is replaced by the new one.

The file is OpenSSH's format, so `ssh -o UserKnownHostsFile=<it>` agrees with us.
Lines we do not write ourselves (comments, hashed names, wildcards, markers,
several names per line) are read and kept as they are.

One KnownHosts is shared by the threads of a run, and several KnownHosts (the
connection pool, `verify`, the providers' readiness probe, other processes) may
use the same file: every check reads the file again, and every write happens
under an exclusive lock on a sidecar lock file, reading the file once more
first, then replacing it atomically through a temporary file of its own.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import os
import re
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import paramiko

from k8sboot.errors import HostKeyChangedError, InputError, RunError

Notify = Callable[[str], None]

# host key algorithms a recorded key type can be offered under: an RSA key is
# recorded as ssh-rsa but negotiated as rsa-sha2-512/256
_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


def known_hosts_name(address: str, port: int) -> str:
    # the same spelling OpenSSH uses, so `ssh -o UserKnownHostsFile=...` agrees
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(blob: bytes) -> str:
    """The fingerprint OpenSSH prints (`SHA256:` + unpadded base64 of the key's SHA-256)."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    return "SHA256:" + digest.rstrip("=")


def key_fingerprint(key: paramiko.PKey) -> str:
    return fingerprint(key.asbytes())


def _describe(key_type: str, blob: bytes) -> str:
    return f"{key_type} {fingerprint(blob)}"


def _glob(pattern: str, name: str) -> bool:
    # OpenSSH's wildcards are only * and ?; brackets are literal ("[addr]:port")
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, name, re.IGNORECASE) is not None


def _hashed_match(pattern: str, name: str) -> bool:
    # "|1|salt|hash": HMAC-SHA1 of the name keyed by the salt (HashKnownHosts yes)
    parts = pattern.split("|")
    if len(parts) != 4 or parts[1] != "1":
        return False
    try:
        salt = base64.b64decode(parts[2], validate=True)
        want = base64.b64decode(parts[3], validate=True)
    except binascii.Error:
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), want)


def _names_exactly(pattern: str, name: str) -> bool:
    """True if this pattern stands for `name` alone (so it can be removed for it)."""
    if pattern.startswith("|"):
        return _hashed_match(pattern, name)
    return pattern.lower() == name.lower()


@dataclass(frozen=True)
class _Entry:
    marker: str | None  # "@revoked", "@cert-authority" or None
    patterns: tuple[str, ...]
    key_type: str
    blob: bytes
    rest: str  # "type base64 [comment]" as written: kept when a name is removed

    def matches(self, name: str) -> bool:
        # OpenSSH's match_hostname: a negated pattern that matches vetoes the line
        hit = False
        for p in self.patterns:
            if p.startswith("!"):
                if _glob(p[1:], name):
                    return False
            elif _hashed_match(p, name) if p.startswith("|") else _glob(p, name):
                hit = True
        return hit

    def without(self, name: str) -> str | None:
        """This line with `name` removed from its names (None: nothing left of it)."""
        kept = [p for p in self.patterns if not _names_exactly(p, name)]
        if not kept:
            return None
        marker = f"{self.marker} " if self.marker else ""
        return f"{marker}{','.join(kept)} {self.rest}"


@dataclass(frozen=True)
class _Line:
    text: str
    entry: _Entry | None  # None: a blank line or a comment


def _parse_line(text: str, where: Path, number: int) -> _Line:
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return _Line(text, None)
    fields = stripped.split(None, 1)
    marker = None
    if fields[0].startswith("@"):
        marker = fields[0]
        if marker not in ("@revoked", "@cert-authority"):
            raise InputError(f"unknown marker {marker!r} (OpenSSH knows @revoked and "
                             f"@cert-authority); fix or delete the line", file=str(where),
                             line=number)
        fields = fields[1].split(None, 1) if len(fields) > 1 else []
    parts = fields[1].split(None, 2) if len(fields) > 1 else []
    if len(parts) < 2:
        raise InputError("not a known_hosts line (want: names key-type base64-key); "
                         "fix or delete the line", file=str(where), line=number)
    key_type, b64 = parts[0], parts[1]
    try:
        blob = base64.b64decode(b64, validate=True)
        (size,) = struct.unpack(">I", blob[:4])
        embedded = blob[4:4 + size].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        raise InputError(f"the {key_type} key is not valid base64 key data; fix or delete "
                         f"the line", file=str(where), line=number) from None
    if embedded != key_type:
        raise InputError(f"the key says it is {embedded!r}, the line says {key_type!r}; "
                         f"fix or delete the line", file=str(where), line=number)
    patterns = tuple(p for p in fields[0].split(",") if p)
    return _Line(text, _Entry(marker, patterns, key_type, blob, fields[1]))


class KnownHosts:
    """The cluster's known_hosts file; `check` is what every SSH connection calls.

    on_new_key: told (one line of text) when a first key is recorded for a host;
    on_changed_key: told when accept_changed replaced a host's keys. The connection
    layer prints nothing itself: callers wire these to the UI or to their log.
    """

    def __init__(
        self,
        path: Path,
        accept_changed: bool = False,
        on_new_key: Notify | None = None,
        on_changed_key: Notify | None = None,
    ):
        self.path = Path(path)
        self.accept_changed = accept_changed
        self.on_new_key = on_new_key
        self.on_changed_key = on_changed_key
        self._lock = threading.Lock()
        # the file as last parsed, with the stat it had: every connection asks twice (the key
        # types to prefer, then the key itself), and parsing the whole file each time under
        # the lock made connecting 30 hosts O(hosts^2) and one at a time
        self._parsed: tuple[tuple[int, int, int] | None, list[_Line]] = (None, [])
        self._current()  # a corrupt or unreadable file: fail now, before any host is touched

    # -- reading -------------------------------------------------------------
    def _read(self) -> list[_Line]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read the known_hosts file: {e}; fix or delete it "
                             f"(its hosts' keys are then recorded again on next contact)",
                             file=str(self.path)) from None
        return [_parse_line(t, self.path, n) for n, t in enumerate(text.splitlines(), 1)]

    def _current(self) -> list[_Line]:
        """The file's lines, parsed again only when its stat changed (another process wrote it)."""
        try:
            st = self.path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            stamp = None  # missing (no keys yet), or _read says what is wrong
        if stamp is None or self._parsed[0] != stamp:
            self._parsed = (stamp, self._read())
        return self._parsed[1]

    @staticmethod
    def _entries(lines: list[_Line], name: str) -> list[_Entry]:
        return [ln.entry for ln in lines if ln.entry is not None and ln.entry.matches(name)]

    def recorded(self, address: str, port: int) -> list[tuple[str, bytes]]:
        """The keys (type, blob) recorded for an address, in file order."""
        name = known_hosts_name(address, port)
        with self._lock:
            return [(e.key_type, e.blob) for e in self._entries(self._current(), name)
                    if e.marker is None]

    # -- checking ------------------------------------------------------------
    def _verdict(self, lines: list[_Line], host: str, name: str, key_type: str,
                 blob: bytes) -> list[_Entry] | None:
        """None: the key is recorded. []: nothing recorded. Else the other recorded keys."""
        entries = self._entries(lines, name)
        if any(e.marker == "@revoked" and e.blob == blob for e in entries):
            # accept_changed does not override this: someone said never trust this key
            raise RunError(f"{host}: the host key of {name} ({_describe(key_type, blob)}) "
                           f"is marked @revoked in {self.path}; refusing to connect")
        plain = [e for e in entries if e.marker is None]
        if any(e.blob == blob for e in plain):
            return None
        return plain

    def check(self, host: str, address: str, port: int, key: paramiko.PKey) -> None:
        """Record an unknown host's key; refuse a key other than the recorded ones."""
        name = known_hosts_name(address, port)
        key_type, blob = key.get_name(), key.asbytes()
        with self._lock:
            if self._verdict(self._current(), host, name, key_type, blob) is None:
                return  # the common case: no lock file, nothing written
            with self._file_lock():
                # again under the lock: another process may have recorded this host meanwhile
                lines = self._read()
                others = self._verdict(lines, host, name, key_type, blob)
                if others is None:
                    return
                if others and not self.accept_changed:
                    raise HostKeyChangedError(
                        host, name, [_describe(e.key_type, e.blob) for e in others],
                        _describe(key_type, blob), str(self.path))
                if others:  # the machine is a new one: none of its old keys stays valid
                    lines = self._remove(lines, name)
                lines.append(_Line(f"{name} {key_type} {key.get_base64()}", None))
                self._write(lines)
        # told outside the locks: a callback may be slow (a terminal) or reenter
        if others:
            was = ", ".join(_describe(e.key_type, e.blob) for e in others)
            if self.on_changed_key:
                self.on_changed_key(
                    f"host {host} ({name}): host key changed to {_describe(key_type, blob)} "
                    f"(was {was}); replaced in {self.path} (--accept-new-host-keys)")
        elif self.on_new_key:
            self.on_new_key(f"host {host} ({name}): new host key {_describe(key_type, blob)}; "
                            f"recorded in {self.path}")

    def forget(self, address: str, port: int) -> None:
        """Drop every key recorded for an address (a machine that is being re-created)."""
        name = known_hosts_name(address, port)
        with self._lock, self._file_lock():
            lines = self._read()
            kept = self._remove(lines, name)
            if len(kept) != len(lines) or any(a is not b for a, b in zip(kept, lines)):
                self._write(kept)

    def prefer_recorded(self, transport: paramiko.Transport, address: str, port: int) -> None:
        """Ask the server for a key of a recorded type first, as OpenSSH does.

        Otherwise a host recorded with (say) only its RSA key would offer paramiko's
        favourite, ed25519, and look changed. Call before start_client.
        """
        types = [t for t, _ in self.recorded(address, port)]
        wanted = {a for t in types for a in _ALGORITHMS.get(t, (t,))}
        opts = transport.get_security_options()
        current = list(opts.key_types)
        opts.key_types = [k for k in current if k in wanted] + [k for k in current
                                                                if k not in wanted]

    # -- writing -------------------------------------------------------------
    @staticmethod
    def _remove(lines: list[_Line], name: str) -> list[_Line]:
        out: list[_Line] = []
        for ln in lines:
            e = ln.entry
            if e is None or e.marker is not None or not any(_names_exactly(p, name)
                                                            for p in e.patterns):
                out.append(ln)  # a wildcard line stays: it names other hosts too
                continue
            text = e.without(name)
            if text is not None:
                out.append(_Line(text, None))
        return out

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        # flock on a sidecar file: the known_hosts file itself is replaced, not rewritten
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(f".{self.path.name}.lock"), os.O_RDWR | os.O_CREAT,
                     0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, lines: list[_Line]) -> None:
        text = "".join(f"{ln.text}\n" for ln in lines)
        # a name of our own (mkstemp: unique, O_EXCL, mode 0600): no two writers share it
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                   suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # readers see the old file or the new one, never half
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """For paramiko.SSHClient: check the server's key with KnownHosts' rules.

    The client must hold no host keys of its own (never call load_host_keys or
    load_system_host_keys), so paramiko asks this policy about every server.
    Pass `transport_factory=policy.transport` to connect() as well, so the server
    offers a key of a recorded type first.
    """

    def __init__(self, known_hosts: KnownHosts, host: str, address: str, port: int):
        self.known_hosts = known_hosts
        self.host = host
        self.address = address
        self.port = port

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        # raises HostKeyChangedError (not an SSHException): callers must not retry it
        self.known_hosts.check(self.host, self.address, self.port, key)

    def transport(self, sock: object, **kwargs: object) -> paramiko.Transport:
        t = paramiko.Transport(sock, **kwargs)  # type: ignore[arg-type]
        self.known_hosts.prefer_recorded(t, self.address, self.port)
        return t
