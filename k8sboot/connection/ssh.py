"""One SSH connection to one host (paramiko), kept open for a whole run.

Everything a module does on a host goes through `run` (a command, optional
stdin) and `put` (stream bytes to a file). Files are streamed through an exec
channel (`cat > tmp && mv`) rather than SFTP: one round trip, full speed, and
it works the same with sudo.
"""

from __future__ import annotations

import shlex
import socket
import threading
import time
from pathlib import Path
from typing import BinaryIO

import paramiko

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.result import CommandResult
from k8sboot.connection.shell import RemoteShell, ShellDied
from k8sboot.errors import InputError, UnreachableError

# Large windows: the default 2 MiB throttles binary uploads to a crawl.
WINDOW_SIZE = 64 * 1024 * 1024
MAX_PACKET = 32768
CHUNK = 1024 * 1024
DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")


def load_private_key(path: str | Path) -> paramiko.PKey:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"SSH key {p} does not exist")
    try:
        return paramiko.PKey.from_path(str(p))
    except (paramiko.SSHException, ValueError) as e:
        raise InputError(f"SSH key {p} cannot be read: {e}") from e


def sudo_wrap(cmd: str) -> str:
    # -n: never prompt (no stdin to answer it); -H: root's HOME for tools that write there
    return f"sudo -n -H sh -c {shlex.quote(cmd)}"


class SSHConnection:
    def __init__(
        self,
        name: str,
        address: str,
        port: int = 22,
        user: str = "root",
        key: str | None = None,
        become: bool = False,
        known_hosts: KnownHosts | None = None,
        connect_timeout: float = 10.0,
    ):
        self.name = name
        self.address = address
        self.port = port
        self.user = user
        self.key = key
        self.become = become
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self._transport: paramiko.Transport | None = None
        self._lock = threading.Lock()
        self._shells: dict[bool, RemoteShell] = {}  # sudo? -> its long-lived shell
        # remote path -> (stat signature, sha256): kept between runs by the pool
        self.checksums: dict[str, tuple[str, str]] = {}
        self._shell_lock = threading.Lock()

    # -- connecting ---------------------------------------------------------
    def _keys(self) -> list[paramiko.PKey]:
        if self.key:
            return [load_private_key(self.key)]
        found = [load_private_key(k) for k in DEFAULT_KEYS if Path(k).expanduser().exists()]
        return found

    def connect(self) -> "SSHConnection":
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self
            keys = self._keys()
            try:
                sock = socket.create_connection((self.address, self.port), self.connect_timeout)
            except OSError as e:
                raise UnreachableError(self.name, self.address, self.port, str(e)) from e
            try:
                t = paramiko.Transport(sock)
                t.default_window_size = WINDOW_SIZE
                t.default_max_packet_size = MAX_PACKET
                t.start_client(timeout=self.connect_timeout)
                server_key = t.get_remote_server_key()
                if self.known_hosts is not None:
                    self.known_hosts.check(self.name, self.address, self.port, server_key)
                agent_keys = list(paramiko.Agent().get_keys()) if not keys else []
                last: Exception | None = None
                for k in keys + agent_keys:
                    try:
                        t.auth_publickey(self.user, k)
                        break
                    except paramiko.AuthenticationException as e:
                        last = e
                if not t.is_authenticated():
                    tried = self.key or "the default keys and the agent"
                    raise UnreachableError(
                        self.name, self.address, self.port,
                        f"authentication as {self.user!r} with {tried} failed"
                        + (f" ({last})" if last else ""),
                    )
                t.set_keepalive(15)
            except (paramiko.SSHException, EOFError, OSError) as e:
                sock.close()
                raise UnreachableError(self.name, self.address, self.port, str(e) or type(e).__name__) from e
            self._transport = t
            return self

    def close(self) -> None:
        with self._lock:
            for shell in self._shells.values():
                shell.close()
            self._shells.clear()
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    @property
    def needs_sudo(self) -> bool:
        return self.become and self.user != "root"

    # -- running ------------------------------------------------------------
    def _channel(self) -> paramiko.Channel:
        if self._transport is None or not self._transport.is_active():
            self.connect()
        assert self._transport is not None
        try:
            return self._transport.open_session(window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise UnreachableError(self.name, self.address, self.port, f"connection lost: {e}") from e

    def run(
        self,
        cmd: str,
        *,
        become: bool | None = None,
        stdin: bytes | BinaryIO | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run a shell command; `become` defaults to the host's setting."""
        use_sudo = (self.become if become is None else become) and self.user != "root"
        if stdin is None:
            return self._run_in_shell(cmd, use_sudo, timeout)
        full = sudo_wrap(cmd) if use_sudo else cmd
        chan = self._channel()
        try:
            chan.exec_command(full)
            if stdin is not None:
                if isinstance(stdin, bytes | bytearray):
                    for i in range(0, len(stdin), CHUNK):
                        chan.sendall(stdin[i : i + CHUNK])
                else:
                    while chunk := stdin.read(CHUNK):
                        chan.sendall(chunk)
            chan.shutdown_write()
            out, err = self._drain(chan, timeout, cmd)
            rc = chan.recv_exit_status()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise UnreachableError(self.name, self.address, self.port, f"connection lost: {e}") from e
        finally:
            chan.close()
        stderr = err.decode(errors="replace")
        if use_sudo and rc == 1 and "a password is required" in stderr:
            stderr += f"\n(k8sboot) {self.user}@{self.name} needs passwordless sudo for become"
        return CommandResult(cmd, rc, out.decode(errors="replace"), stderr)

    def _run_in_shell(self, cmd: str, use_sudo: bool, timeout: float | None) -> CommandResult:
        with self._shell_lock:
            shell = self._shells.get(use_sudo)
            if shell is None or not shell.alive:
                # sh, not bash: dash starts in a millisecond; commands needing bash say so
                shell = RemoteShell(self._channel(), "sudo -n -H sh" if use_sudo else "sh")
                self._shells[use_sudo] = shell
            try:
                rc, out, err = shell.run(cmd, timeout)
            except ShellDied as died:
                self._shells.pop(use_sudo, None)
                stderr = died.stderr.decode(errors="replace")
                if use_sudo and "password is required" in stderr:
                    stderr += f"\n(k8sboot) {self.user}@{self.name} needs passwordless sudo for become"
                return CommandResult(cmd, died.rc or 1, died.stdout.decode(errors="replace"), stderr)
            except (paramiko.SSHException, EOFError, OSError) as e:
                self._shells.pop(use_sudo, None)
                raise UnreachableError(self.name, self.address, self.port, f"connection lost: {e}") from e
            except TimeoutError:
                self._shells.pop(use_sudo, None)
                raise
        return CommandResult(cmd, rc, out.decode(errors="replace"), err.decode(errors="replace"))

    @staticmethod
    def _drain(chan: paramiko.Channel, timeout: float | None, cmd: str) -> tuple[bytes, bytes]:
        # read both streams as they come so neither fills its window and blocks the other
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout if timeout else None
        chan.settimeout(0.2)
        while True:
            got = False
            while chan.recv_ready():
                out += chan.recv(CHUNK)
                got = True
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(CHUNK)
                got = True
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            if deadline and time.monotonic() > deadline:
                raise TimeoutError(f"command timed out after {timeout}s: {cmd}")
            if not got:
                try:
                    data = chan.recv(CHUNK)
                    out += data
                except socket.timeout:
                    pass
        return bytes(out), bytes(err)

    # -- files --------------------------------------------------------------
    def put(
        self,
        dest: str,
        content: bytes | Path,
        *,
        mode: str | None = None,
        owner: str | None = None,
        become: bool | None = None,
    ) -> CommandResult:
        """Write `content` (bytes or a local file) to `dest` atomically (tmp file + rename)."""
        q = shlex.quote(dest)
        tmp = shlex.quote(f"{dest}.k8sboot-tmp")
        steps = [f"mkdir -p {shlex.quote(str(Path(dest).parent))}", f"umask 077; cat > {tmp}"]
        if mode:
            steps.append(f"chmod {mode} {tmp}")
        if owner:
            steps.append(f"chown {shlex.quote(owner)} {tmp}")
        steps.append(f"mv -f {tmp} {q}")
        script = " && ".join(steps)
        if isinstance(content, Path):
            with content.open("rb") as f:
                return self.run(script, become=become, stdin=f)
        return self.run(script, become=become, stdin=content)

    def read(self, path: str, *, become: bool | None = None) -> bytes | None:
        r = self.run(f"cat {shlex.quote(path)} 2>/dev/null || exit 44", become=become)
        if r.rc == 44:
            return None
        return r.stdout.encode()

    def sha256(self, path: str, *, become: bool | None = None) -> str | None:
        r = self.run(f"sha256sum {shlex.quote(path)} 2>/dev/null", become=become)
        return r.stdout.split()[0] if r.rc == 0 and r.stdout else None
