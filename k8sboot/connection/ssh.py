"""One SSH connection to one host (paramiko), kept open for a whole run.

Everything a module does on a host goes through `run` (a command, optional
stdin) and `put` (stream bytes to a file). Files are streamed through an exec
channel (`cat > tmp && mv`) rather than SFTP: one round trip, full speed, and
it works the same with sudo.
"""

from __future__ import annotations

import ipaddress
import secrets
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import paramiko

from k8sboot.connection.file_offer import MIN_SIZE as MIN_PULL_SIZE
from k8sboot.connection.file_offer import (
    PULL_UNAVAILABLE,
    STAGE_DIR,
    STAGE_DIR_MODE,
    STAGE_MAX_AGE_MINUTES,
    STAGED_MODE,
    FileOffer,
    pull_steps,
    staged_path,
)
from k8sboot.connection.interrupt import Interrupt
from k8sboot.connection.keys import PassphraseSource, agent_keys, default_identity_files, load_key
from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.result import CommandResult
from k8sboot.connection.shell import KILL_GRACE, KILL_TREE, RemoteShell, ShellDied, ShellLost
from k8sboot.errors import InputError, UnreachableError

# Large windows: the default 2 MiB throttles binary uploads to a crawl.
WINDOW_SIZE = 64 * 1024 * 1024
MAX_PACKET = 32768
CHUNK = 1024 * 1024
# the deadline of a command whose caller gives none: nothing k8sboot runs takes longer
DEFAULT_TIMEOUT = 300.0
# size, inode, mtime and ctime (ns) of a file: ctime cannot be set back by anyone, so a
# file whose signature is unchanged still has the checksum recorded for it
STAT_SIGNATURE = "%s %i %.9Y %.9Z"
# long-lived shells per connection at most (commands beyond wait for one): sshd's
# MaxSessions is 10 by default, and uploads and kills open channels of their own
MAX_SHELLS = 4
EOF_SETTLE = 0.5  # seconds _drain waits for a command's EOF after its exit status


def _detect_dead_peers(sock: socket.socket) -> None:
    """A host that vanishes (powered off, cable pulled) ends the connection in ~20 s.

    Without this a command waiting on a dead host waits for its deadline, and
    an idle TCP connection never notices at all: keepalive probes after 5 s of
    silence, and unacknowledged data gives up after 20 s.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 5), ("TCP_KEEPINTVL", 3), ("TCP_KEEPCNT", 4),
                          ("TCP_USER_TIMEOUT", 20_000)):
        if hasattr(socket, option):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


# -n: never prompt (no stdin to answer it); -H: root's HOME for tools that write there
SUDO_NO_PASSWORD = "sudo -n -H"
# the password comes first on stdin (-S), read by sudo byte by byte, so what follows it is
# the command's own stdin; -k: always ask, so a cached credential never leaves the password
# line unread for the command; -p '': no prompt text on stderr
SUDO_PASSWORD_ON_STDIN = "sudo -k -S -p ''"
SUDO_WITH_PASSWORD = f"{SUDO_PASSWORD_ON_STDIN} -H"
BECOME_PASSWORD_HINT = ("sudo wants a password: give it with --ask-become-pass, the environment "
                        "variable K8SBOOT_BECOME_PASSWORD, or ansible_become_password in a vars file")


def chunks(stdin: bytes | BinaryIO) -> Iterator[bytes]:
    """A command's stdin in CHUNK pieces: sliced from memory, or read from a file as it is sent."""
    if isinstance(stdin, bytes | bytearray):
        for i in range(0, len(stdin), CHUNK):
            yield bytes(stdin[i : i + CHUNK])
    else:
        while chunk := stdin.read(CHUNK):
            yield chunk


def sudo_wrap(cmd: str, sudo: str = SUDO_NO_PASSWORD) -> str:
    return f"{sudo} sh -c {shlex.quote(cmd)}"


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
        via: SSHConnection | None = None,
        become_password: str | None = None,
        passphrase: PassphraseSource | None = None,
    ):
        self.name = name
        self.address = address
        self.port = port
        self.user = user
        self.key = key
        self.become = become
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.via = via  # the bastion's connection: this host is reached through it
        self._become_password = become_password
        self._passphrase = passphrase  # asks for an encrypted key's passphrase (once per file)
        self._sudo_needs_password: bool | None = None  # learned at the first sudo
        self._transport: paramiko.Transport | None = None
        self._lock = threading.Lock()
        # long-lived shells (sudo? -> the idle ones); every shell made, for close and abort
        self._idle_shells: dict[bool, list[RemoteShell]] = {False: [], True: []}
        self._shells: list[RemoteShell] = []
        # remote path -> (stat signature, sha256): kept between runs by the pool
        self.checksums: dict[str, tuple[str, str]] = {}
        self._shell_lock = threading.Condition()
        self.offer: FileOffer | None = None  # where large files can be fetched from (set by the pool)
        self._pull_unavailable = False  # learned at the first fetch that could not reach us

    # -- connecting ---------------------------------------------------------
    def _keys(self) -> list[paramiko.PKey]:
        """The inventory's key (or the agent's copy of it); else, as OpenSSH: the agent's, then ~/.ssh/id_*."""
        agent = agent_keys()
        if self.key:
            return load_key(self.key, self._passphrase, agent)
        found: list[paramiko.PKey] = list(agent)
        for path in default_identity_files():
            try:
                found += load_key(path, self._passphrase, agent)
            except InputError:
                continue  # an encrypted default key nobody can open: the others may still do
        unique: dict[bytes, paramiko.PKey] = {}
        for key in found:
            unique.setdefault(key.asbytes(), key)
        return list(unique.values())

    def connect(self) -> SSHConnection:
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self
            keys = self._keys()
            sock = self._open_socket()
            try:
                t = paramiko.Transport(sock)
                t.default_window_size = WINDOW_SIZE
                t.default_max_packet_size = MAX_PACKET
                if self.known_hosts is not None:
                    # ask for a key of a recorded type first, as OpenSSH does
                    self.known_hosts.prefer_recorded(t, self.address, self.port)
                t.start_client(timeout=self.connect_timeout)
                server_key = t.get_remote_server_key()
                if self.known_hosts is not None:
                    self.known_hosts.check(self.name, self.address, self.port, server_key)
                last: Exception | None = None
                for k in keys:
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
                if self.needs_sudo:
                    self._check_sudo(t)
            except (paramiko.SSHException, EOFError, OSError) as e:
                sock.close()
                raise UnreachableError(self.name, self.address, self.port, str(e) or type(e).__name__) from e
            except BaseException:
                # a refused host key or failed login: nothing may keep the half-made transport's thread
                sock.close()
                raise
            self._transport = t
            return self

    def answers(self, timeout: float) -> bool:
        """Is the open connection still alive: does the host open a channel within `timeout`?

        For a connection kept idle (keeper.py): a host powered off or re-created meanwhile
        says nothing, and a command sent into that silence would wait for its deadline.
        """
        t = self._transport
        if t is None or not t.is_active():
            return False
        try:
            t.open_session(timeout=timeout).close()
        except (paramiko.SSHException, EOFError, OSError):
            return False
        return True

    def _open_socket(self) -> socket.socket | paramiko.Channel:
        if self.via is not None:
            # through the bastion: its own checks (host key, auth) happen first
            try:
                return self.via.open_tunnel(self.address, self.port, self.connect_timeout)
            except UnreachableError as e:
                raise UnreachableError(self.name, self.address, self.port,
                                       f"through bastion {self.via.address}:{self.via.port}: {e.reason}") from e
        try:
            sock = socket.create_connection((self.address, self.port), self.connect_timeout)
        except OSError as e:
            raise UnreachableError(self.name, self.address, self.port, str(e)) from e
        _detect_dead_peers(sock)
        # each SSH message goes out whole (paramiko writes a packet at once): Nagle held the
        # second of two small ones until the host's delayed ACK, 40 ms in every authentication
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def open_tunnel(self, address: str, port: int, timeout: float | None = None) -> paramiko.Channel:
        """A TCP stream to address:port as this host reaches it (SSH direct-tcpip, as `ssh -W`)."""
        self.connect()
        assert self._transport is not None
        try:
            return self._transport.open_channel(
                "direct-tcpip", (address, port), ("127.0.0.1", 0),
                timeout=timeout if timeout is not None else self.connect_timeout)
        except paramiko.ChannelException as e:
            # sshd's reason: "Connect failed" (refused / no route), "Administratively prohibited"
            raise UnreachableError(self.name, self.address, self.port,
                                   f"cannot open a tunnel to {address}:{port}: {e.text or e}") from e
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(e) from e

    def close(self) -> None:
        with self._shell_lock:  # never inside self._lock: a new shell takes them the other way round
            shells = list(self._shells)
            self._shells.clear()
            self._idle_shells = {False: [], True: []}
        for shell in shells:
            shell.close()
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    @property
    def needs_sudo(self) -> bool:
        return self.become and self.user != "root"

    def _check_sudo(self, t: paramiko.Transport) -> None:
        """Can this user become root, and how? Asked at connect, so a refusal changes nothing anywhere.

        A user sudo lets in without a password stays on `sudo -n`: feeding a
        password nobody reads would hand it to the command as input. One round
        trip, only for connections that use sudo at all.
        """
        def rc_of(cmd: str, stdin: bytes = b"") -> tuple[int, str]:
            chan = t.open_session()
            try:
                chan.settimeout(self.connect_timeout)
                chan.exec_command(cmd)
                if stdin:
                    chan.sendall(stdin)
                chan.shutdown_write()
                err = chan.makefile_stderr("rb").read().decode(errors="replace")
                return chan.recv_exit_status(), err
            finally:
                chan.close()

        rc, err = rc_of("sudo -n true")
        if rc == 0:
            self._sudo_needs_password = False
            return
        if "password is required" not in err:
            raise UnreachableError(self.name, self.address, self.port,
                                   f"{self.user!r} cannot use sudo for become: {err.strip() or f'exit {rc}'}")
        if self._become_password is None:
            raise UnreachableError(self.name, self.address, self.port,
                                   f"{self.user!r}: {BECOME_PASSWORD_HINT}")
        rc, err = rc_of(f"{SUDO_PASSWORD_ON_STDIN} true", self._become_password.encode() + b"\n")
        if rc != 0:
            why = "sudo did not accept the become password" if "incorrect password" in err or \
                "try again" in err.lower() else f"sudo refused: {err.strip() or f'exit {rc}'}"
            raise UnreachableError(self.name, self.address, self.port, f"{why} for user {self.user!r}")
        self._sudo_needs_password = True

    def _sudo(self) -> tuple[str, bytes]:
        """The sudo words for become, and what sudo reads from stdin before the command's input."""
        if self._sudo_needs_password and self._become_password is not None:
            return SUDO_WITH_PASSWORD, self._become_password.encode() + b"\n"
        return SUDO_NO_PASSWORD, b""

    def _exec(self, chan: paramiko.Channel, script: str, use_sudo: bool) -> None:
        """Start `script` on an opened channel, through sudo when asked (its password first on stdin).

        The channel is opened first: connecting is when sudo's needs are learned.
        """
        if not use_sudo:
            chan.exec_command(script)
            return
        sudo, password = self._sudo()
        chan.exec_command(sudo_wrap(script, sudo))
        if password:
            chan.sendall(password)

    def _sudo_hint(self, stderr: str) -> str:
        if "a password is required" in stderr:
            return f"\n(k8sboot) {self.user}@{self.name}: {BECOME_PASSWORD_HINT}"
        return ""

    def abort(self) -> None:
        """Stop what runs on this host and cut the connection (Ctrl-C): blocked callers return at once."""
        for shell in list(self._shells):
            shell.stop_command()
        t = self._transport
        if t is not None:
            t.close()

    # -- running ------------------------------------------------------------
    def _channel(self) -> paramiko.Channel:
        if self._transport is None or not self._transport.is_active():
            self.connect()
        assert self._transport is not None
        try:
            return self._transport.open_session(window_size=WINDOW_SIZE, max_packet_size=MAX_PACKET)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(e) from e

    def _lost(self, e: BaseException | str) -> UnreachableError:
        return UnreachableError(self.name, self.address, self.port, f"connection lost: {str(e) or type(e).__name__}")

    def run(
        self,
        cmd: str,
        *,
        become: bool | None = None,
        stdin: bytes | BinaryIO | None = None,
        timeout: float | None = None,
        interrupt: Interrupt | None = None,
    ) -> CommandResult:
        """Run a shell command; `become` defaults to the host's setting.

        Every command has a deadline (`timeout`, else DEFAULT_TIMEOUT): when it
        passes, the command is stopped on the host and the result says so.
        `interrupt` stops this command alone, leaving the connection to others.
        """
        use_sudo = (self.become if become is None else become) and self.user != "root"
        limit = timeout if timeout is not None and timeout > 0 else DEFAULT_TIMEOUT
        if stdin is None:
            return self._run_in_shell(cmd, use_sudo, limit, interrupt)
        return self._run_with_stdin(cmd, use_sudo, stdin, limit, interrupt)

    def _run_with_stdin(self, cmd: str, use_sudo: bool, stdin: bytes | BinaryIO, limit: float,
                        interrupt: Interrupt | None) -> CommandResult:
        # coreutils `timeout` (its own process group) enforces the deadline on the host too
        wrapped = f"timeout -k 5 {limit:g} sh -c {shlex.quote(cmd)}"
        chan = self._channel()
        deadline = time.monotonic() + limit + KILL_GRACE
        if interrupt is not None:
            # the host's side then reads the end of its stdin and writes into a closed pipe, as when
            # the whole connection is cut
            interrupt.arm(chan.close)
        try:
            self._exec(chan, wrapped, use_sudo)
            try:
                self._send(chan, stdin, deadline)
                chan.shutdown_write()
            except (OSError, EOFError, paramiko.SSHException, TimeoutError) as e:
                # the remote side stopped reading (a full disk, a failed mkdir): its exit
                # status and stderr say why, unless the connection itself is gone
                if self._transport is None or not self._transport.is_active():
                    raise self._lost(e) from e
            out, err = self._drain(chan, deadline, cmd)
            rc = chan.recv_exit_status()
            if rc == -1 and (self._transport is None or not self._transport.is_active()):
                raise self._lost("the connection closed before the command ended")
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(e) from e
        finally:
            if interrupt is not None:
                interrupt.disarm()
            chan.close()
        stderr = err.decode(errors="replace")
        if rc == 124:
            stderr += f"\n(k8sboot) timed out after {limit:g}s; the command was stopped"
        if use_sudo and rc == 1:
            stderr += self._sudo_hint(stderr)
        return CommandResult(cmd, rc, out.decode(errors="replace"), stderr, timed_out=rc == 124)

    @staticmethod
    def _send(chan: paramiko.Channel, stdin: bytes | BinaryIO, deadline: float) -> None:
        chan.settimeout(max(1.0, deadline - time.monotonic()))
        for chunk in chunks(stdin):
            chan.sendall(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError("upload did not finish before its deadline")

    def _kill_tree(self, use_sudo: bool) -> Callable[[int, bool], None]:
        def kill(pid: int, now: bool) -> None:
            script = f"sh -c {shlex.quote(KILL_TREE)} k8sboot-kill {pid} {'now' if now else 'grace'}"
            try:
                chan = self._channel()
                self._exec(chan, script, use_sudo)
                self._drain(chan, time.monotonic() + (3 if now else 10), "kill")
                chan.close()
            except (UnreachableError, TimeoutError, paramiko.SSHException, EOFError, OSError):
                pass  # the caller gives up on the shell when the command does not end
        return kill

    def _take_shell(self, use_sudo: bool) -> RemoteShell:
        """An idle long-lived shell, or a new one: two chains on one host (etcd's and the nodes')
        then run side by side instead of one waiting for the other's every command."""
        with self._shell_lock:
            while True:
                idle = self._idle_shells[use_sudo]
                while idle:
                    shell = idle.pop()
                    if shell.alive:
                        return shell
                    self._forget(shell)
                if len(self._shells) < MAX_SHELLS:
                    break
                self._shell_lock.wait()  # sshd allows 10 sessions per connection: uploads need some
            # sh, not bash: dash starts in a millisecond; commands needing bash say so
            chan = self._channel()  # connects first: that is when sudo's needs are learned
            sudo, password = self._sudo() if use_sudo else ("", b"")
            try:
                shell = RemoteShell(chan, f"{sudo} sh" if use_sudo else "sh",
                                    self._kill_tree(use_sudo), preamble=password)
            except (paramiko.SSHException, EOFError, OSError) as e:
                # the connection went between opening the channel and starting the shell
                # (a host cut off mid-run): a lost host, not a failed task
                chan.close()
                raise self._lost(e) from e
            self._shells.append(shell)
            return shell

    def _forget(self, shell: RemoteShell) -> None:
        # with _shell_lock held
        if shell in self._shells:
            self._shells.remove(shell)
            shell.close()
        self._shell_lock.notify()

    def _give_back(self, use_sudo: bool, shell: RemoteShell, usable: bool) -> None:
        with self._shell_lock:
            if usable and shell in self._shells:
                self._idle_shells[use_sudo].append(shell)
                self._shell_lock.notify()
            else:
                self._forget(shell)

    def _run_in_shell(self, cmd: str, use_sudo: bool, limit: float, interrupt: Interrupt | None) -> CommandResult:
        shell = self._take_shell(use_sudo)
        usable = False
        try:
            got = shell.run(cmd, limit, interrupt)
            # a shell whose command was stopped from another thread may yet be hit by that kill
            usable = interrupt is None or not interrupt.pressed
        except ShellDied as died:
            stderr = died.stderr.decode(errors="replace")
            if use_sudo:
                stderr += self._sudo_hint(stderr)
            return CommandResult(cmd, died.rc or 1, died.stdout.decode(errors="replace"), stderr)
        except (ShellLost, paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(e) from e
        except TimeoutError as e:
            return CommandResult(cmd, 124, "", f"(k8sboot) {e}", timed_out=True)
        finally:
            self._give_back(use_sudo, shell, usable)
        stderr = got.stderr.decode(errors="replace")
        if got.timed_out:
            stderr += f"\n(k8sboot) timed out after {limit:g}s; the command was stopped"
        return CommandResult(cmd, got.rc, got.stdout.decode(errors="replace"), stderr, timed_out=got.timed_out)

    def _drain(self, chan: paramiko.Channel, deadline: float, cmd: str) -> tuple[bytes, bytes]:
        # read both streams as they come so neither fills its window and blocks the other
        out, err = bytearray(), bytearray()
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
                break  # exited, or closed: the caller tells the two apart
            if time.monotonic() > deadline:
                raise TimeoutError(f"command timed out: {cmd}")
            if not got:
                try:
                    out += chan.recv(CHUNK)
                except TimeoutError:
                    pass
        # the exit status can be handed over before the last of stderr (seen with a write
        # that failed on a full disk while the upload was still streaming): read until the
        # server's EOF, which follows all output, for a moment at most
        settle = time.monotonic() + EOF_SETTLE
        while not chan.eof_received and time.monotonic() < settle:
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(CHUNK)
            elif chan.recv_ready():
                out += chan.recv(CHUNK)
            else:
                time.sleep(0.005)
        while chan.recv_ready():
            out += chan.recv(CHUNK)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(CHUNK)
        return bytes(out), bytes(err)

    # -- files --------------------------------------------------------------
    def put(
        self,
        dest: str,
        content: bytes | Path | BinaryIO,
        *,
        size: int | None = None,
        mode: str | None = None,
        owner: str | None = None,
        become: bool | None = None,
        timeout: float | None = None,
        sha256: str | None = None,
    ) -> CommandResult:
        """Write `content` to `dest` atomically, and only if it arrived whole (see put_script).

        `size` is needed only for a stream; bytes and files know their own. A
        large local file whose `sha256` the caller vouches for is fetched by the
        host from the controller instead, when the host can (see file_offer).
        """
        if size is None:
            if isinstance(content, Path):
                size = content.stat().st_size
            elif isinstance(content, bytes | bytearray):
                size = len(content)
            else:
                raise TypeError("put: a stream needs its size")
        if isinstance(content, Path) and sha256 and size >= MIN_PULL_SIZE:
            started = time.monotonic()
            pulled = self._pull(dest, content, size, sha256, mode, owner, become, timeout)
            if pulled is not None:
                return pulled
            if timeout is not None:  # the upload gets what the failed fetch left of the deadline
                timeout = max(1.0, timeout - (time.monotonic() - started))
        script = put_script(dest, size, mode=mode, owner=owner)
        if isinstance(content, Path):
            with content.open("rb") as f:
                return self.run(script, become=become, stdin=f, timeout=timeout)
        return self.run(script, become=become, stdin=content, timeout=timeout)

    def _pull(self, dest: str, path: Path, size: int, sha256: str, mode: str | None, owner: str | None,
              become: bool | None, timeout: float | None) -> CommandResult | None:
        """The host fetches `path` from the controller: the result, or None to upload through SSH instead."""
        found = self._offer_url(path, sha256)
        if found is None or self.offer is None:
            return None
        local, url = found
        limit = timeout if timeout is not None and timeout > 0 else DEFAULT_TIMEOUT
        script = put_script(dest, size, mode=mode, owner=owner,
                            fill=lambda tmp: pull_steps(url, tmp, sha256, limit, staged=staged_path(sha256)))
        r = self.run(script, become=become, timeout=limit)
        if r.timed_out:
            return r  # the task's deadline passed: no time left for an upload either
        if r.ok:
            self.offer.count(self.name, fetched=True)
            return r
        if r.rc == PULL_UNAVAILABLE:
            self._pull_unavailable = True  # no curl, or no route back to us: never ask this host again
        # anything else (a fetch cut short, a wrong sha256): SSH's authenticated pipe instead
        self.offer.count(self.name, fetched=False,
                         why=f"fetching from {local} failed ({r.stderr_tail(1) or f'exit code {r.rc}'})")
        return None

    def _offer_url(self, path: Path, sha256: str) -> tuple[str, str] | None:
        """(our address as the host sees it, the URL it fetches `path` by), or None when it cannot."""
        if self.offer is None or self.via is not None or self._pull_unavailable:
            return None  # behind a bastion the host cannot be assumed to reach us
        local = self.local_address()
        if local is None or ipaddress.ip_address(local.split("%")[0]).is_loopback:
            return None  # a forwarded port (Vagrant's 127.0.0.1:2222): the host's loopback is not ours
        return local, self.offer.url(local, path, sha256)

    def stage(self, path: Path, sha256: str, timeout: float | None = None) -> CommandResult | None:
        """Fetch `path` into the host's staging directory, ahead of the put that installs it (which then
        takes it from there); None when the host cannot fetch it from us (that put uploads it then)."""
        size = path.stat().st_size
        found = self._offer_url(path, sha256) if size >= MIN_PULL_SIZE else None
        if found is None:
            return None
        url = found[1]
        limit = timeout if timeout is not None and timeout > 0 else DEFAULT_TIMEOUT
        dest = staged_path(sha256)
        q_dir, q_dest = shlex.quote(STAGE_DIR), shlex.quote(dest)
        # root's alone (pull_steps takes a file from there unchecked): a link there is not ours
        own = (f"[ ! -L {q_dir} ] || exit {PULL_UNAVAILABLE}; mkdir -p {q_dir} && chown 0:0 {q_dir} && "
               f"chmod {STAGE_DIR_MODE} {q_dir}")
        prune = (f"find {q_dir} -maxdepth 1 -type f -mmin +{STAGE_MAX_AGE_MINUTES} -delete 2>/dev/null; "
                 f"[ -f {q_dest} ] && exit 0")
        fetch = put_script(dest, size, mode=STAGED_MODE, fill=lambda tmp: pull_steps(url, tmp, sha256, limit))
        return self.run(f"{{ {own}; }} || exit {PULL_UNAVAILABLE}; {{ {prune}; }}; {fetch}", become=True,
                        timeout=limit)

    def local_address(self) -> str | None:
        """Our address as the host sees it (where it can fetch from us)."""
        t = self._transport
        sock = t.sock if t is not None else None
        if not isinstance(sock, socket.socket):
            return None
        try:
            return str(sock.getsockname()[0])
        except OSError:
            return None

    def read(self, path: str, *, become: bool | None = None, timeout: float | None = None) -> bytes | None:
        r = self.run(f"cat {shlex.quote(path)} 2>/dev/null || exit 44", become=become, timeout=timeout)
        if r.rc == 44:
            return None
        return r.stdout.encode()


def put_script(dest: str, size: int, *, mode: str | None = None, owner: str | None = None,
               fill: Callable[[str], list[str]] | None = None) -> str:
    """The remote side of an upload: stdin to a temporary file, renamed over `dest` if it is whole.

    `fill` gives other steps that write the temporary file (its path given) and check its content.

    The temporary file has a name no other writer uses (two chains may write the
    same file on one host). It is renamed only once it has the size that was
    sent: SSH's own MAC vouches for every byte that arrives, so what can go wrong
    is a stream cut short (the size tells) or a failed write (cat fails). Hashing
    again on the host cost a cold `up` 4 s of CPU on the lab's 2 cores for
    nothing more. Whatever ends the script (a failed check, the deadline's TERM,
    a cut connection: then writing to stderr would kill it by SIGPIPE) removes
    the temporary file; `dest` stays as it was. On success stdout is the new
    file's stat signature (see engine/modules/remote_file.py).
    """
    q = shlex.quote(dest)
    tmp_path = f"{dest}.k8sboot-tmp.{secrets.token_hex(6)}"
    tmp = shlex.quote(tmp_path)
    parent = shlex.quote(str(Path(dest).parent))
    stale = shlex.quote(f"{Path(dest).name}.k8sboot-tmp.*")
    steps = [
        f"mkdir -p {parent}",
        # a host that went down mid-upload can leave one behind: an hour later it is stale
        f"{{ find {parent} -maxdepth 1 -name {stale} -mmin +60 -delete 2>/dev/null || true; }}",
        "umask 077",
    ]
    steps += fill(tmp_path) if fill is not None else [f"cat > {tmp}"]
    # whichever way it came, the file is renamed only once it has the size that was sent
    steps.append(f"{{ [ \"$(stat -c %s {tmp})\" = {int(size)} ] || "
                 f"{{ printf '%s\\n' {shlex.quote(f'(k8sboot) {dest}: the upload arrived incomplete')} >&2; false; }}; }}")
    if mode:
        steps.append(f"chmod {shlex.quote(mode)} {tmp}")
    if owner:
        steps.append(f"chown {shlex.quote(owner)} {tmp}")
    steps.append(f"mv -f {tmp} {q}")
    steps.append(f"stat -c {shlex.quote(STAT_SIGNATURE)} {q}")
    return (f"trap '' PIPE; trap {shlex.quote(f'rm -f {tmp}')} EXIT; trap 'exit 143' HUP INT TERM; "
            + " && ".join(steps))
