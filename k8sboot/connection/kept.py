"""A run's side of the connection keeper (keeper.py): finding or starting it, and hosts reached through it.

`KeptConnection` is an `SSHConnection` whose commands go through the keeper, so
everything built on `run` (put, read, fetches from the controller) is unchanged.
Whatever the keeper will not do for a host (see keeper.py) the connection then
does itself for the rest of the run; a keeper that cannot be started only costs
the handshakes it would have saved.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from k8sboot.connection.interrupt import Interrupt
from k8sboot.connection.keeper_wire import (
    KeeperGone,
    LineReader,
    private_dir,
    runtime_dir,
    send_frame,
    send_line,
    socket_path,
)
from k8sboot.connection.result import CommandResult
from k8sboot.connection.shell import KILL_GRACE
from k8sboot.connection.ssh import DEFAULT_TIMEOUT, SSHConnection, chunks
from k8sboot.errors import UnreachableError

# how long a keeper waits for the next run before it closes its connections, unless the
# inventory says otherwise (cluster.ssh_persist; 0: no keeper): ssh's ControlPersist of Ansible
DEFAULT_PERSIST = 60.0
SPAWN_WAIT = 10.0  # a new keeper answers within this (it imports paramiko first)
# beyond a command's own deadline (the keeper enforces it): time to stop it, and to hear back
ANSWER_MARGIN = KILL_GRACE + 30.0
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class KeeperUnavailable(Exception):
    pass


class KeeperClient:
    """One cluster's keeper: its socket, and starting it when nobody answers there."""

    def __init__(self, path: Path, persist: float):
        self.path = path
        self.persist = persist

    @classmethod
    def for_cluster(cls, cluster_root: Path, persist: float) -> KeeperClient | None:
        directory = private_dir(runtime_dir()) if persist > 0 else None
        return cls(socket_path(cluster_root, directory), persist) if directory is not None else None

    def _dial(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        return sock

    def open(self) -> socket.socket:
        """A connection to the keeper, started first when none answers."""
        try:
            return self._dial()
        except OSError:
            pass
        lock_path = self.path.with_suffix(".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise KeeperUnavailable(f"cannot open {lock_path}: {e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # two runs at once start one keeper
            try:
                return self._dial()
            except OSError:
                pass
            self.path.unlink(missing_ok=True)  # a keeper that ended without removing it
            return self._spawn()
        finally:
            os.close(fd)

    def _spawn(self) -> socket.socket:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGE_PARENT), env.get("PYTHONPATH")]))
        log = self.path.with_suffix(".log")
        with open(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600), "wb") as err:
            # its own session: a Ctrl-C meant for the run does not reach it
            proc = subprocess.Popen(
                [sys.executable, "-m", "k8sboot.connection.keeper", str(self.path), f"{self.persist:g}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd="/", env=env,
                start_new_session=True, close_fds=True)
        deadline = time.monotonic() + SPAWN_WAIT
        while True:
            try:
                return self._dial()
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise KeeperUnavailable(f"the connection keeper did not start (see {log})") from None
                time.sleep(0.01)

    def stop(self) -> None:
        """Close the keeper's connections now (the hosts are going away)."""
        try:
            sock = self._dial()
        except OSError:
            return  # none runs
        try:
            sock.settimeout(10)
            send_line(sock, {"op": "stop"})
            LineReader(sock).line()
        except (OSError, KeeperGone, ValueError, TypeError):
            pass
        finally:
            sock.close()


class KeptConnection(SSHConnection):
    def __init__(self, *args: Any, keeper: KeeperClient, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._keeper: KeeperClient | None = keeper  # None: this host is connected directly
        self._kept_local: str | None = None
        self._in_flight: set[socket.socket] = set()
        self._flight_lock = threading.Lock()

    @property
    def kept(self) -> bool:
        """Do this host's commands still go through the keeper?"""
        return self._keeper is not None

    def _spec(self) -> dict[str, Any]:
        assert self.known_hosts is not None  # the pool keeps only hosts it checks keys of
        # the keeper runs in /: a path relative to the run's directory would name another file there
        key = os.path.abspath(os.path.expanduser(self.key)) if self.key else None
        return {"address": self.address, "port": self.port, "user": self.user, "key": key,
                "become": self.become, "known_hosts": os.path.abspath(self.known_hosts.path),
                "connect_timeout": self.connect_timeout}

    def _ask(self, message: dict[str, Any], stdin: bytes | BinaryIO | None, limit: float,
             interrupt: Interrupt | None = None) -> dict[str, Any] | None:
        """The keeper's answer; None when this host is ours to connect (from now on)."""
        keeper = self._keeper
        if keeper is None:
            return None
        try:
            sock = keeper.open()
        except KeeperUnavailable:
            self._keeper = None
            return None
        with self._flight_lock:
            self._in_flight.add(sock)
        if interrupt is not None:
            interrupt.arm(lambda: _hang_up(sock))  # the keeper stops the command
        try:
            # the first answer comes after connecting, and without stdin after the command too
            sock.settimeout(self.connect_timeout + ANSWER_MARGIN + (limit if stdin is None else 0.0))
            reader = LineReader(sock)
            send_line(sock, {**message, "host": self._spec(), "stdin": stdin is not None})
            reply = reader.line()
            if "go" in reply and stdin is not None:
                sock.settimeout(limit + ANSWER_MARGIN)
                self._stream(sock, stdin)
                reply = reader.line()
        except (KeeperGone, OSError, ValueError, TypeError) as e:
            # the keeper ended under the command (or the run is being stopped): as a lost connection
            raise self._lost(f"the connection keeper stopped answering ({e})") from e
        finally:
            if interrupt is not None:
                interrupt.disarm()
            with self._flight_lock:
                self._in_flight.discard(sock)
            sock.close()
        if "unreachable" in reply:
            raise UnreachableError(self.name, self.address, self.port, str(reply["unreachable"]))
        if "ok" not in reply:
            self._keeper = None  # "unkept": ours from now on; connecting says what is wrong
            return None
        ok: dict[str, Any] = reply["ok"]
        self._kept_local = ok.get("local")
        return ok

    @staticmethod
    def _stream(sock: socket.socket, stdin: bytes | BinaryIO) -> None:
        for chunk in chunks(stdin):
            send_frame(sock, chunk)
        send_frame(sock, b"")

    def connect(self) -> SSHConnection:
        if self._ask({"op": "connect"}, None, 0.0) is not None:
            return self
        return super().connect()

    def run(self, cmd: str, *, become: bool | None = None, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None, interrupt: Interrupt | None = None) -> CommandResult:
        limit = timeout if timeout is not None and timeout > 0 else DEFAULT_TIMEOUT
        ok = self._ask({"op": "run", "cmd": cmd, "become": become, "timeout": limit}, stdin, limit, interrupt)
        if ok is None:
            return super().run(cmd, become=become, stdin=stdin, timeout=timeout, interrupt=interrupt)
        return CommandResult(cmd, int(ok["rc"]), str(ok["stdout"]), str(ok["stderr"]),
                             timed_out=bool(ok["timed_out"]))

    def local_address(self) -> str | None:
        return self._kept_local if self._keeper is not None else super().local_address()

    def abort(self) -> None:
        with self._flight_lock:
            flying = list(self._in_flight)
        for sock in flying:  # the keeper stops what these were running
            _hang_up(sock)
        super().abort()


def _hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
