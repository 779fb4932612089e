"""Reaching a TCP service (apiserver, etcd) of a host the controller has no route to.

Hosts behind a bastion are reached by SSH through it; the controller's own
clients (the kubernetes client, the etcd client) need the same for HTTPS. A
`LocalForward` listens on 127.0.0.1 and carries every connection made to it
over a new direct-tcpip channel of the bastion's SSH connection, as
`ssh -L` does. The servers' certificates name 127.0.0.1 (k8sboot's PKI puts it
in the apiserver's and etcd's SANs), so TLS is verified as usual.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from typing import Any

import paramiko

BUFFER = 64 * 1024


class LocalForward:
    """127.0.0.1:<port> here -> whatever `open_channel` connects to, one channel per connection."""

    def __init__(self, open_channel: Callable[[], paramiko.Channel]) -> None:
        self._open_channel = open_channel
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._serve, name=f"forward:{self.port}", daemon=True).start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                chan = self._open_channel()
            except Exception:  # noqa: BLE001 - the client sees a closed connection, as with ssh -L
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, chan, self._closed), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


def _pump(conn: socket.socket, chan: paramiko.Channel, closed: threading.Event) -> None:
    """Copy both ways until either side ends."""
    try:
        while not closed.is_set():
            watched: list[Any] = [conn, chan]
            ready = select.select(watched, [], [], 1.0)[0]
            if conn in ready:
                data = conn.recv(BUFFER)
                if not data:
                    break
                chan.sendall(data)
            if chan in ready:
                data = chan.recv(BUFFER)
                if not data:
                    break
                conn.sendall(data)
    except (OSError, EOFError, paramiko.SSHException):
        pass
    finally:
        chan.close()
        conn.close()
