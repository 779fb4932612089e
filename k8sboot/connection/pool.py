"""One connection per host for the whole run, opened in parallel."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import RunError, UnreachableError
from k8sboot.inventory.model import Host


class ConnectionPool:
    def __init__(self, known_hosts: KnownHosts, connect_timeout: float = 10.0, forks: int = 20):
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.forks = forks
        self._conns: dict[str, SSHConnection] = {}

    def get(self, host: Host) -> SSHConnection:
        conn = self._conns.get(host.name)
        if conn is None:
            if not host.address:
                raise UnreachableError(host.name, "(no address)", host.port,
                                       "the host has no address; provision it first (k8sboot provision)")
            conn = SSHConnection(
                host.name, host.address, host.port, host.user, host.key, host.become,
                self.known_hosts, self.connect_timeout,
            )
            self._conns[host.name] = conn
        return conn

    def connect_all(self, hosts: list[Host]) -> dict[str, Exception]:
        """Connect to every host in parallel; return the failures by host name."""
        conns = [self.get(h) for h in hosts]
        failures: dict[str, Exception] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(self.forks, len(conns)))) as ex:
            futures = {ex.submit(c.connect): c for c in conns}
            for fut, conn in futures.items():
                try:
                    fut.result()
                except (UnreachableError, RunError) as e:
                    failures[conn.name] = e
        return failures

    def close(self) -> None:
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def __enter__(self) -> "ConnectionPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
