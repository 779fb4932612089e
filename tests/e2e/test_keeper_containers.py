"""The connection keeper on real hosts: a second run rides the first run's connections, and nothing
a run asks of a host (stdin, sudo, deadlines, Ctrl-C) works differently through it.

eng-a is reached as root, eng-b as `admin` through sudo. Logins are counted from sshd's journal.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8sboot.connection.kept import KeeperClient, KeptConnection
from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.pool import ConnectionPool
from k8sboot.connection.result import CommandResult
from k8sboot.errors import UnreachableError
from k8sboot.inventory.model import Host
from tests.e2e.helpers import ssh
from tests.lab.containers import ContainerLab, LabHost

pytestmark = pytest.mark.lab

LOGINS = "journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey' || true"


def logins(host: LabHost) -> int:
    return int(ssh(host, LOGINS)[1].split()[0])


def lab_host(h: LabHost, **extra: object) -> Host:
    return Host(name=h.name, address=h.address, port=h.port, key=str(h.key_path), **extra)  # type: ignore[arg-type]


@pytest.fixture()
def keeper(tmp_path: Path) -> Iterator[KeeperClient]:
    k = KeeperClient.for_cluster(tmp_path / "cluster", 30)
    assert k is not None
    yield k
    k.stop()


@pytest.fixture()
def hosts(lab_hosts: dict[str, LabHost]) -> dict[str, Host]:
    return {"eng-a": lab_host(lab_hosts["eng-a"]),
            "eng-b": lab_host(lab_hosts["eng-b"], user="admin", become=True)}


def pool(tmp_path: Path, keeper: KeeperClient, notes: list[str] | None = None) -> ConnectionPool:
    kh = KnownHosts(tmp_path / "known_hosts", on_new_key=(notes.append if notes is not None else None))
    return ConnectionPool(kh, connect_timeout=5, keeper=keeper)


def test_a_second_run_rides_the_kept_connections_with_the_same_answers(tmp_path, keeper, hosts, lab_hosts):
    notes: list[str] = []
    blob = os.urandom(3 * 1024 * 1024 + 7)
    with pool(tmp_path, keeper, notes) as first:
        for name, host in hosts.items():
            conn = first.get(host)
            assert isinstance(conn, KeptConnection)
            assert conn.run("id -u").stdout.strip() == "0", name  # eng-b through sudo
            assert conn.run("wc -c", stdin=b"x" * 100_000).stdout.strip() == "100000"
            r = conn.put("/tmp/keeper-blob", blob, mode="0600")
            assert r.ok, r.stderr
            assert conn.read("/tmp/keeper-blob-missing") is None
    # a first key is recorded by the run itself (the keeper never does), and said so
    assert len(notes) == 2 and all("new host key" in n for n in notes), notes
    for name in hosts:
        code, out = ssh(lab_hosts[name], "sha256sum /tmp/keeper-blob; stat -c %a /tmp/keeper-blob")
        assert code == 0 and out.split()[0] == hashlib.sha256(blob).hexdigest() and out.split()[2] == "600"

    with pool(tmp_path, keeper) as second:  # the keeper connects now (the keys are recorded)
        for host in hosts.values():
            assert second.get(host).run("true").ok
    before = {n: logins(lab_hosts[n]) for n in hosts}
    with pool(tmp_path, keeper) as third:
        for name, host in hosts.items():
            conn = third.get(host).connect()
            assert conn.run("id -un").stdout.strip() == "root"
            assert conn.read("/tmp/keeper-blob") is not None
            assert isinstance(conn, KeptConnection) and conn.kept, f"{name} left the keeper"
    after = {n: logins(lab_hosts[n]) for n in hosts}
    # no new connection: the only login is the ssh() that counted
    assert all(after[n] - before[n] == 1 for n in hosts), (before, after)


def test_a_kept_command_past_its_deadline_or_interrupted_is_stopped_on_the_host(tmp_path, keeper, hosts, lab_hosts):
    a = lab_hosts["eng-a"]
    ssh(a, "rm -f /tmp/keeper-late")
    with pool(tmp_path, keeper) as p:
        p.get(hosts["eng-a"]).connect()  # records the host's key: a host with none is not kept
    with pool(tmp_path, keeper) as p:
        conn = p.get(hosts["eng-a"])
        r = conn.run("sleep 291; touch /tmp/keeper-late", timeout=2)
        assert isinstance(conn, KeptConnection) and conn.kept
        assert r.timed_out, r
        time.sleep(3)
        assert ssh(a, "pgrep -f 'sleep 29[1]' || echo none")[1].strip() == "none"

        failed: list[BaseException] = []

        def long() -> None:
            try:
                conn.run("sleep 292; touch /tmp/keeper-late")
            except BaseException as e:  # noqa: BLE001 - what the run's worker would see
                failed.append(e)

        worker = threading.Thread(target=long)
        worker.start()
        deadline = time.monotonic() + 20
        while ssh(a, "pgrep -f 'sleep 29[2]' || echo none")[1].strip() == "none":
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.2)
        p.abort()  # Ctrl-C
        worker.join(15)
        assert not worker.is_alive(), "the interrupted command did not return"
        assert failed and isinstance(failed[0], UnreachableError), failed
    time.sleep(3)
    assert ssh(a, "pgrep -f 'sleep 29[2]' || echo none")[1].strip() == "none"
    assert ssh(a, "test -e /tmp/keeper-late && echo late || echo none")[1].strip() == "none"
    with pool(tmp_path, keeper) as again:  # the keeper connects afresh
        assert again.get(hosts["eng-a"]).run("true").ok


def test_a_run_that_goes_away_stops_only_its_own_command(tmp_path, keeper, hosts, lab_hosts):
    """A killed run, the rerun started at once, and a `status` beside them share one kept connection:
    the killed run's command stops; the others' go on (once, the whole connection was cut)."""
    a = lab_hosts["eng-a"]
    ssh(a, "rm -f /tmp/keeper-late2")
    with pool(tmp_path, keeper) as p:
        p.get(hosts["eng-a"]).connect()  # records the host's key
    results: dict[str, object] = {}

    def run_in(p: ConnectionPool, name: str, cmd: str) -> threading.Thread:
        def go() -> None:
            try:
                results[name] = p.get(hosts["eng-a"]).run(cmd)
            except BaseException as e:  # noqa: BLE001 - what the run's worker would see
                results[name] = e
        t = threading.Thread(target=go)
        t.start()
        return t

    with pool(tmp_path, keeper) as killed, pool(tmp_path, keeper) as beside:
        doomed = run_in(killed, "killed", "sleep 293; touch /tmp/keeper-late2")
        other = run_in(beside, "beside", "sleep 6.1; echo fine")
        deadline = time.monotonic() + 20
        while "2" in ssh(a, "pgrep -f 'sleep 29[3]' >/dev/null; a=$?; pgrep -f 'sleep 6[.]1' >/dev/null; echo $a$?")[1]:
            assert time.monotonic() < deadline, "the commands never started"
            time.sleep(0.2)
        killed.abort()
        with pool(tmp_path, keeper) as rerun:  # at once, on the same kept connection
            conn = rerun.get(hosts["eng-a"])
            assert conn.run("echo now").stdout.strip() == "now"
            assert isinstance(conn, KeptConnection) and conn.kept
        doomed.join(15)
        other.join(30)
    assert isinstance(results["killed"], UnreachableError), results
    r = results["beside"]
    assert isinstance(r, CommandResult) and r.ok and r.stdout.strip() == "fine", r
    time.sleep(3)
    assert ssh(a, "pgrep -f 'sleep 29[3]' || echo none")[1].strip() == "none"
    assert ssh(a, "test -e /tmp/keeper-late2 && echo late || echo none")[1].strip() == "none"


def test_a_host_that_died_and_came_back_is_connected_afresh(tmp_path, keeper, hosts, container_lab):
    lab: ContainerLab = container_lab[0]
    with pool(tmp_path, keeper) as p:
        assert p.get(hosts["eng-a"]).run("true").ok
    with pool(tmp_path, keeper) as p:
        assert p.get(hosts["eng-a"]).run("true").ok  # through the keeper, which holds it now
    lab.kill("eng-a")
    lab.start_existing("eng-a")
    with pool(tmp_path, keeper) as p:
        conn = p.get(hosts["eng-a"])
        assert conn.run("cat /proc/sys/kernel/random/boot_id").ok
        assert isinstance(conn, KeptConnection) and conn.kept  # the keeper noticed, and connected again
