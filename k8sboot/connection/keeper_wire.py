"""How a run talks to its connection keeper (keeper.py): where the socket is, who may use it, the messages.

One Unix connection carries one request: a JSON line, then (for a command with
stdin) the stdin as length-prefixed frames once the keeper says "go", then the
keeper's JSON line with the result. A request's socket closing early is how a
run says "stop that command" (Ctrl-C).

Whoever reaches the socket runs commands as root on every host the keeper holds,
so it lives in a directory only we can enter (checked, not assumed), and the
keeper serves only peers with our own uid (SO_PEERCRED), as ssh's ControlMaster does.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import sys
from pathlib import Path
from typing import Any

# a change to what is said here, or to how a host is connected, means a new keeper: the
# socket's name carries a digest of these modules, so an old keeper is never asked
_CODE = ("keeper_wire.py", "keeper.py", "kept.py", "ssh.py", "shell.py", "known_hosts.py", "keys.py")
FRAME_HEADER = struct.Struct(">I")
MAX_LINE = 64 * 1024 * 1024  # a reply carries a command's whole output (a `read` of a kubeconfig, a log)
PEER_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


class KeeperGone(Exception):
    """The keeper closed the request without answering (it ended, or was stopped)."""


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR/k8sboot, else /tmp/k8sboot-<uid>: short (a socket's path has ~100 bytes) and ours."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "k8sboot" if base else Path(f"/tmp/k8sboot-{os.geteuid()}")


def private_dir(path: Path) -> Path | None:
    """`path`, made if missing, when only we can enter it; None when it is anyone else's or a link."""
    try:
        path.mkdir(mode=0o700, parents=False, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        return None
    return path


def code_digest() -> str:
    here = Path(__file__).resolve().parent
    h = hashlib.sha256(sys.executable.encode())
    for name in _CODE:
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()


def socket_path(cluster_root: Path, directory: Path) -> Path:
    """One keeper per cluster state directory and per version of this code."""
    key = hashlib.sha256(f"{Path(cluster_root).resolve()}\0{code_digest()}".encode()).hexdigest()[:20]
    return directory / f"{key}.sock"


def peer_uid(sock: socket.socket) -> int:
    _, uid, _ = PEER_CREDENTIALS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                        PEER_CREDENTIALS.size))
    return int(uid)


def send_line(sock: socket.socket, message: dict[str, Any]) -> None:
    sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")


class LineReader:
    """Reads a request's JSON lines and frames from its socket (buffered: a line and frames may share a read)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buf = bytearray()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise KeeperGone("the other side closed the request")
        self._buf += chunk

    def line(self) -> dict[str, Any]:
        while (end := self._buf.find(b"\n")) < 0:
            if len(self._buf) > MAX_LINE:
                raise ValueError("message too long")
            self._fill()
        raw = bytes(self._buf[:end])
        del self._buf[: end + 1]
        message = json.loads(raw)
        if not isinstance(message, dict):
            raise TypeError("a message is a JSON object")
        return message

    def _exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def frame(self) -> bytes:
        """The next frame of stdin; b'' once it ended."""
        (size,) = FRAME_HEADER.unpack(self._exactly(FRAME_HEADER.size))
        return self._exactly(size) if size else b""


def send_frame(sock: socket.socket, data: bytes) -> None:
    sock.sendall(FRAME_HEADER.pack(len(data)) + data)
