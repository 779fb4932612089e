"""The connection keeper: a run's SSH connections outlive it for a while, as with ssh's ControlPersist.

A no-op rerun on 30 hosts spent a third of its time on handshakes: sshd forks,
exchanges keys and opens a PAM session for every connection (~23 ms of a host's
CPU each), and then a long-lived shell per connection. The first run starts this
process (`python -m k8sboot.connection.keeper SOCKET IDLE`); it connects each host
it is asked about, runs each command through its `SSHConnection` (the same code a
run without it uses: deadlines, sudo, long-lived shells), and leaves when nothing
asked it anything for IDLE seconds. Runs talk to it through keeper_wire.

It never decides anything a user should see: a host whose key is not recorded
yet (or changed), a key that needs a passphrase, a refused login, anything but
"the host cannot be reached" is answered "do it yourself", and the run connects
directly and says what is wrong, exactly as without a keeper.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import paramiko

from k8sboot.connection.interrupt import Interrupt
from k8sboot.connection.keeper_wire import KeeperGone, LineReader, peer_uid, send_line
from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import K8sbootError, UnreachableError

# a connection idle for longer is asked whether the host still answers before it is used
PROBE_AFTER = 2.0
PROBE_TIMEOUT = 3.0
# a request's first line (and each frame of its stdin) must come within this
READ_TIMEOUT = 30.0
ACCEPT_SLICE = 0.5  # how often the idle clock is looked at


class Unkept(Exception):
    """Not for the keeper: the run connects to this host itself (and reports what is wrong)."""


class StrictKnownHosts(KnownHosts):
    """Recorded keys only: recording a first key, or replacing a changed one, is the run's to tell the user."""

    def check(self, host: str, address: str, port: int, key: paramiko.PKey) -> None:
        if not self.recorded(address, port):
            raise Unkept(f"no host key is recorded for {address}:{port}")
        super().check(host, address, port, key)


@dataclass(frozen=True)
class HostSpec:
    """Everything that makes two connections the same one."""

    address: str
    port: int
    user: str
    key: str | None
    become: bool
    known_hosts: str
    connect_timeout: float

    @classmethod
    def from_message(cls, m: Any) -> HostSpec:
        if not isinstance(m, dict):
            raise TypeError("host: not an object")
        spec = cls(m["address"], m["port"], m["user"], m["key"], m["become"], m["known_hosts"],
                   m["connect_timeout"])
        if not (isinstance(spec.address, str) and isinstance(spec.port, int) and isinstance(spec.user, str)
                and (spec.key is None or isinstance(spec.key, str)) and isinstance(spec.become, bool)
                and isinstance(spec.known_hosts, str) and isinstance(spec.connect_timeout, int | float)):
            raise TypeError("host: a field of the wrong type")
        return spec


class Held:
    def __init__(self, conn: SSHConnection):
        self.conn = conn
        self.lock = threading.Lock()  # one connect (or probe) at a time
        self.used = time.monotonic()
        # requests between connecting and their answer (under Keeper._lock): a connection in use is
        # not probed, as a probe that fails (a slow host, sshd's MaxSessions) closes it under them
        self.serving = 0


def _network_failure(e: UnreachableError) -> bool:
    # the socket could not be opened or the link broke: connecting directly would fail the same way
    return isinstance(e.__cause__, OSError)


class FrameStream:
    """A command's stdin, as the run streams it: what `SSHConnection.run` reads with `.read(n)`."""

    def __init__(self, reader: LineReader, on_end: Any):
        self._reader = reader
        self._on_end = on_end
        self._ended = False

    def read(self, _n: int = -1) -> bytes:
        if self._ended:
            return b""
        try:
            data = self._reader.frame()
        except OSError as e:
            # the run went away mid-stream: end the command (its channel closes), do not wait for more
            raise KeeperGone(str(e)) from e
        if not data:
            self._ended = True
            self._on_end()
        return data


class Keeper:
    def __init__(self, path: Path, idle: float):
        self.path = path
        self.idle = idle
        self._held: dict[HostSpec, Held] = {}
        self._stores: dict[str, StrictKnownHosts] = {}
        self._lock = threading.Lock()
        self._busy = 0
        self._last = time.monotonic()
        self._stop = threading.Event()

    # -- the listener ----------------------------------------------------------
    def serve(self, listener: socket.socket) -> None:
        inode = os.stat(self.path).st_ino
        listener.settimeout(ACCEPT_SLICE)
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                if self._idle_over() or not self._still_ours(inode):
                    break
                continue
            self._start(client)
        # new runs must not find us any more; whoever dialled before that is still answered
        if self._still_ours(inode):
            self.path.unlink(missing_ok=True)
        listener.setblocking(False)
        while True:
            try:
                client, _ = listener.accept()
            except (BlockingIOError, OSError):
                break
            self._start(client)
        listener.close()
        while True:
            with self._lock:
                if self._busy == 0:
                    break
            time.sleep(0.05)
        for held in list(self._held.values()):
            held.conn.close()

    def _start(self, client: socket.socket) -> None:
        if peer_uid(client) != os.geteuid():
            client.close()  # the directory keeps others out; this is the second lock
            return
        with self._lock:
            self._busy += 1
        threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _idle_over(self) -> bool:
        with self._lock:
            return self._busy == 0 and time.monotonic() - self._last > self.idle

    def _still_ours(self, inode: int) -> bool:
        try:
            return os.stat(self.path).st_ino == inode
        except OSError:
            return False  # removed: someone wants us gone

    # -- one request -----------------------------------------------------------
    def _handle(self, client: socket.socket) -> None:
        in_use: Held | None = None  # the connection this request counts in
        try:
            client.settimeout(READ_TIMEOUT)
            reader = LineReader(client)
            message = reader.line()
            op = message.get("op")
            if op == "stop":
                self._stop.set()
                send_line(client, {"ok": {}})
                return
            spec = HostSpec.from_message(message.get("host"))
            try:
                held = in_use = self._connected(spec)
            except Unkept as e:
                self._answer(client, {"unkept": str(e)})
                return
            except UnreachableError as e:
                self._answer(client, {"unreachable" if _network_failure(e) else "unkept": e.reason})
                return
            except K8sbootError as e:
                self._answer(client, {"unkept": str(e)})
                return
            if op == "connect":
                send_line(client, {"ok": {"local": held.conn.local_address()}})
            elif op == "run":
                try:
                    self._run(client, reader, held, message)
                except UnreachableError as e:
                    # lost under the command: said as such, never "try it yourself" (it may have run)
                    self._answer(client, {"unreachable": e.reason})
        except (KeeperGone, OSError, ValueError, KeyError, TypeError):
            pass  # the run went away, or sent something we do not speak: nothing to answer
        finally:
            client.close()
            with self._lock:
                if in_use is not None:
                    in_use.serving -= 1
                self._busy -= 1
                self._last = time.monotonic()

    @staticmethod
    def _answer(client: socket.socket, message: dict[str, Any]) -> None:
        try:
            send_line(client, message)
        except OSError:
            pass

    def _store(self, path: str) -> StrictKnownHosts:
        with self._lock:
            store = self._stores.get(path)
            if store is None:
                store = self._stores[path] = StrictKnownHosts(Path(path))
            return store

    def _connected(self, spec: HostSpec) -> Held:
        with self._lock:
            held = self._held.get(spec)
        if held is None:
            conn = SSHConnection(spec.address, spec.address, spec.port, spec.user, spec.key, spec.become,
                                 self._store(spec.known_hosts), spec.connect_timeout,
                                 passphrase=lambda _path: None)  # nobody to ask: the run does it
            with self._lock:
                held = self._held.setdefault(spec, Held(conn))
        with held.lock:
            with self._lock:
                idle = held.serving == 0 and time.monotonic() - held.used > PROBE_AFTER
            if idle and not held.conn.answers(PROBE_TIMEOUT):
                held.conn.close()  # gone while we waited (powered off, re-created): connect afresh
            try:
                held.conn.connect()
            except UnreachableError:
                held.conn.close()
                raise
            held.used = time.monotonic()
            with self._lock:
                held.serving += 1
        return held

    def _run(self, client: socket.socket, reader: LineReader, held: Held, message: dict[str, Any]) -> None:
        cmd, become, timeout = message["cmd"], message.get("become"), message.get("timeout")
        if not isinstance(cmd, str) or not (become is None or isinstance(become, bool)) or \
                not (timeout is None or isinstance(timeout, int | float)):
            raise TypeError("run: a field of the wrong type")
        done = threading.Event()
        interrupt = Interrupt()

        def watch() -> None:
            # the run closing its end before the answer is Ctrl-C: stop this command on the host; the
            # connection stays, for the other runs it serves (and the rerun that comes right after)
            try:
                client.settimeout(None)
                left = client.recv(1) == b""
            except OSError:
                left = True
            if left and not done.is_set():
                interrupt.press()

        stdin: FrameStream | None = None
        if message.get("stdin"):
            send_line(client, {"go": True})
            stdin = FrameStream(reader, lambda: threading.Thread(target=watch, daemon=True).start())
        else:
            threading.Thread(target=watch, daemon=True).start()
        try:
            # run reads stdin with .read(n) alone: all a BinaryIO is asked for there
            r = held.conn.run(cmd, become=become, stdin=cast(BinaryIO, stdin), timeout=timeout,
                              interrupt=interrupt)
        finally:
            held.used = time.monotonic()
        done.set()
        send_line(client, {"ok": {"rc": r.rc, "stdout": r.stdout, "stderr": r.stderr, "timed_out": r.timed_out,
                                  "local": held.conn.local_address()}})
        try:
            client.shutdown(socket.SHUT_RDWR)  # wakes the watcher
        except OSError:
            pass


def main(argv: list[str]) -> int:
    path, idle = Path(argv[0]), float(argv[1])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is born 0600: no moment when others could connect
    try:
        listener.bind(str(path))
    except OSError:
        return 0  # another keeper got there first: it serves
    finally:
        os.umask(old)
    listener.listen(128)
    Keeper(path, idle).serve(listener)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
