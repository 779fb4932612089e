"""One connection per host for the whole run, opened in parallel.

Hosts behind the same bastion share one connection to it: each host's SSH
session runs inside a direct-tcpip channel of that connection.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from k8sboot.connection.file_offer import FileOffer
from k8sboot.connection.kept import KeeperClient, KeptConnection
from k8sboot.connection.keys import default_passphrase_source
from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.reach import Reach
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import UnreachableError
from k8sboot.inventory.model import Bastion, Host


class ConnectionPool:
    def __init__(self, known_hosts: KnownHosts, connect_timeout: float = 10.0, forks: int = 20,
                 checksums_dir: Path | None = None, keeper: KeeperClient | None = None):
        self.known_hosts = known_hosts
        # holds the connections between runs (kept.py); None: every run connects afresh
        self.keeper = keeper
        self.checksums_dir = checksums_dir
        self.connect_timeout = connect_timeout
        self.forks = forks
        self._conns: dict[str, SSHConnection] = {}
        self._bastions: dict[Bastion, SSHConnection] = {}
        self._passphrase = default_passphrase_source()  # one per run: each key file asked once
        # the controller's own clients (apiserver, etcd) reach hosts behind a bastion through it
        self.reach = Reach(self._bastion_reaching)
        # large binaries are fetched by the hosts from here (started at the first such file)
        self.offer = FileOffer()

    def get(self, host: Host) -> SSHConnection:
        conn = self._conns.get(host.name)
        if conn is None:
            if not host.address:
                raise UnreachableError(host.name, "(no address)", host.port,
                                       "the host has no address; provision it first (k8sboot provision)")
            reach = (host.name, host.address, host.port, host.user, host.key, host.become,
                     self.known_hosts, self.connect_timeout)
            if self.keeper is not None and host.bastion is None and host.become_password is None:
                # a bastion's tunnels and sudo's password stay in the run: the keeper holds neither
                conn = KeptConnection(*reach, passphrase=self._passphrase, keeper=self.keeper)
            else:
                conn = SSHConnection(*reach, passphrase=self._passphrase,
                                     via=self._bastion(host.bastion) if host.bastion else None,
                                     become_password=host.become_password)
            conn.checksums = self._load_checksums(host.name, host.address)
            conn.offer = self.offer
            self._conns[host.name] = conn
        return conn

    def know(self, hosts: list[Host]) -> ConnectionPool:
        """Learn how each host is reached, without connecting: what `reach` needs for its addresses."""
        for host in hosts:
            if host.address:
                self.get(host)
        return self

    def _bastion(self, bastion: Bastion) -> SSHConnection:
        conn = self._bastions.get(bastion)
        if conn is None:
            conn = SSHConnection(f"bastion {bastion.address}", bastion.address, bastion.port,
                                 bastion.user, bastion.key, False, self.known_hosts,
                                 self.connect_timeout, passphrase=self._passphrase)
            self._bastions[bastion] = conn
        return conn

    def _bastion_reaching(self, address: str) -> SSHConnection | None:
        for conn in list(self._conns.values()):
            if conn.address == address:
                return conn.via
        return None

    # remote checksums survive between runs, per host and address
    def _checksums_file(self, name: str) -> Path | None:
        return self.checksums_dir / f"{name}.json" if self.checksums_dir else None

    def _load_checksums(self, name: str, address: str) -> dict[str, tuple[str, str]]:
        f = self._checksums_file(name)
        if f is None or not f.exists():
            return {}
        try:
            data = json.loads(f.read_text())
        except (OSError, ValueError, RecursionError):
            return {}  # only a cache: a damaged one means hashing again
        if not isinstance(data, dict) or data.get("address") != address:
            return {}
        files = data.get("files")
        if not isinstance(files, dict):
            return {}
        return {str(k): (str(v[0]), str(v[1])) for k, v in files.items() if isinstance(v, list) and len(v) == 2}

    def _save_checksums(self, conn: SSHConnection) -> None:
        f = self._checksums_file(conn.name)
        if f is None or not conn.checksums:
            return
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"address": conn.address, "files": conn.checksums}, sort_keys=True))
        tmp.replace(f)

    def abort(self) -> None:
        """Cut every connection at once (Ctrl-C): commands blocked on them return."""
        conns = [*self._conns.values(), *self._bastions.values()]
        if conns:
            # in parallel: each host gets a quick "stop that command" before its connection goes
            with ThreadPoolExecutor(max_workers=min(32, len(conns))) as ex:
                list(ex.map(lambda c: c.abort(), conns))

    def let_go(self) -> None:
        """The hosts are going away: nothing keeps their connections for a next run."""
        self.close()
        if self.keeper is not None:
            self.keeper.stop()

    def close(self) -> None:
        self.reach.close()
        self.offer.close()
        for c in self._conns.values():
            self._save_checksums(c)
            c.close()
        self._conns.clear()
        for c in self._bastions.values():
            c.close()
        self._bastions.clear()

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
