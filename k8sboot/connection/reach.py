"""How this process reaches a TCP service of a host: directly, or through the host's bastion.

The URLs k8sboot builds from the inventory (https://<node ip>:6443, :2379)
stay the names of the servers everywhere (reports, kubeconfigs, etcd member
lists); only where a client opens a connection is a URL of a host behind a
bastion swapped for a local forward through that bastion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from k8sboot.connection.forward import LocalForward
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import UnreachableError
from k8sboot.reachability import tcp_answers


class Reach:
    def __init__(self, bastion_of: Callable[[str], SSHConnection | None]) -> None:
        self._bastion_of = bastion_of  # an address -> the connection of the bastion that reaches it
        self._forwards: dict[tuple[str, int], LocalForward] = {}
        self._lock = threading.Lock()

    def url(self, url: str) -> str:
        """`url`, or the local forward that reaches its server through a bastion."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        bastion = self._bastion_of(host)
        if bastion is None:
            return url
        with self._lock:
            forward = self._forwards.get((host, port))
            if forward is None:
                forward = LocalForward(lambda: bastion.open_tunnel(host, port))
                self._forwards[(host, port)] = forward
        return urlunsplit(parts._replace(netloc=f"127.0.0.1:{forward.port}"))

    def server_of(self, url: str) -> str:
        """The URL a local forward stands for (for messages); any other URL as it is."""
        parts = urlsplit(url)
        if parts.hostname == "127.0.0.1":
            with self._lock:
                for (host, port), forward in self._forwards.items():
                    if forward.port == parts.port:
                        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                        return urlunsplit(parts._replace(netloc=netloc))
        return url

    def answers(self, url: str, timeout: float = 1.5) -> bool:
        """Whether the server of `url` accepts a TCP connection (through its bastion if it has one)."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port or 443
        except ValueError:  # a port out of range in a hand-edited URL
            return False
        bastion = self._bastion_of(host)
        if bastion is None:
            return tcp_answers(url, timeout)
        try:
            bastion.open_tunnel(host, port, timeout).close()
            return True
        except UnreachableError:
            return False

    def close(self) -> None:
        with self._lock:
            for forward in self._forwards.values():
                forward.close()
            self._forwards.clear()


DIRECT = Reach(lambda address: None)
