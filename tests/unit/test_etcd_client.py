"""The etcd client against a real three-member etcd on 127.0.0.1, with k8sboot's own PKI.

No mocks: /usr/bin/etcd (Debian's) serves the v3 JSON gateway the client speaks, and
/usr/bin/etcdctl judges the snapshots. One cluster for the module (about 2 s to start).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from k8sboot.etcd import EtcdClient, EtcdError, EtcdTLS, EtcdUnavailable, local_tls, quorum_report
from k8sboot.pki import PkiSpec, ensure_pki

ETCD = Path("/usr/bin/etcd")
ETCDCTL = Path("/usr/bin/etcdctl")
NAMES = ("m1", "m2", "m3")

pytestmark = pytest.mark.skipif(not ETCD.exists(), reason=f"{ETCD} is absent (Debian package etcd-server)")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Cluster:
    root: Path
    pki: Path
    client_ports: dict[str, int]
    peer_ports: dict[str, int]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def endpoint(self, name: str) -> str:
        return f"https://127.0.0.1:{self.client_ports[name]}"

    @property
    def endpoints(self) -> list[str]:
        return [self.endpoint(n) for n in NAMES]

    @property
    def tls(self) -> EtcdTLS:
        return local_tls(self.pki)

    def client(self, endpoints: list[str] | None = None, timeout: float = 2.0) -> EtcdClient:
        return EtcdClient(self.endpoints if endpoints is None else endpoints, self.tls, timeout)

    def start(self, name: str) -> None:
        etcd_pki = self.pki / "etcd"
        initial = ",".join(f"{n}=https://127.0.0.1:{self.peer_ports[n]}" for n in NAMES)
        client_url = self.endpoint(name)
        peer_url = f"https://127.0.0.1:{self.peer_ports[name]}"
        cmd = [
            str(ETCD), "--name", name, "--data-dir", str(self.root / f"{name}.etcd"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", initial, "--initial-cluster-state", "new",
            "--initial-cluster-token", "k8sboot-test",
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--client-cert-auth", "--trusted-ca-file", str(etcd_pki / "ca.crt"),
            "--cert-file", str(etcd_pki / f"{name}-server.crt"),
            "--key-file", str(etcd_pki / f"{name}-server.key"),
            "--peer-client-cert-auth", "--peer-trusted-ca-file", str(etcd_pki / "ca.crt"),
            "--peer-cert-file", str(etcd_pki / f"{name}-peer.crt"),
            "--peer-key-file", str(etcd_pki / f"{name}-peer.key"),
        ]
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the process keeps it
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        log.close()

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.kill()
        proc.wait(10)

    def wait_healthy(self, timeout: float = 15.0) -> None:
        """Until every member answers and all agree on one leader."""
        client = self.client(timeout=1.0)
        deadline = time.monotonic() + timeout
        while True:
            statuses = client.statuses()
            leaders = {s.leader_id for s in statuses}
            if all(s.healthy for s in statuses) and len(leaders) == 1:
                return
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {n}\n" + (self.root / f"{n}.log").read_text()[-1500:]
                                 for n in NAMES)
                pytest.fail(f"etcd did not become healthy: {statuses}\n{logs}")
            time.sleep(0.1)

    def put(self, key: str, value: bytes) -> None:
        """A key, through the gateway (to make the database span several snapshot chunks)."""
        ctx = ssl.create_default_context(cafile=str(self.tls.ca))
        ctx.load_cert_chain(str(self.tls.cert), str(self.tls.key))
        body = {"key": base64.b64encode(key.encode()).decode(),
                "value": base64.b64encode(value).decode()}
        req = urllib.request.Request(self.endpoints[0] + "/v3/kv/put", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=5, context=ctx) as r:
            r.read()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("etcd")
    pki = root / "pki"
    ensure_pki(PkiSpec("etcdtest", control_planes=[("cp1", ["127.0.0.1"])],
                       etcd_members=[(n, ["127.0.0.1"]) for n in NAMES]), pki)
    ports = free_ports(2 * len(NAMES))
    c = Cluster(root, pki, dict(zip(NAMES, ports[:3], strict=True)),
                dict(zip(NAMES, ports[3:], strict=True)))
    try:
        for name in NAMES:
            c.start(name)
        c.wait_healthy()
        yield c
    finally:  # SIGKILL: a graceful stop waits seconds for peers, and the data is thrown away
        for proc in c.procs.values():
            proc.kill()
        for proc in c.procs.values():
            proc.wait(10)


def test_members_lists_every_member_by_name_with_its_urls(cluster: Cluster) -> None:
    members = cluster.client().members()
    assert sorted(m.name for m in members) == sorted(NAMES)
    for m in members:
        assert m.id > 0
        assert m.client_urls == (cluster.endpoint(m.name),)
        assert m.peer_urls == (f"https://127.0.0.1:{cluster.peer_ports[m.name]}",)


def test_members_come_from_the_first_endpoint_that_answers(cluster: Cluster) -> None:
    dead = f"https://127.0.0.1:{free_ports(1)[0]}"
    members = cluster.client([dead, *cluster.endpoints]).members()
    assert len(members) == 3


def test_statuses_agree_on_exactly_one_leader(cluster: Cluster) -> None:
    client = cluster.client()
    statuses = client.statuses()
    members = {m.id: m.name for m in client.members()}
    assert [s.endpoint for s in statuses] == cluster.endpoints
    assert all(s.healthy and s.error is None for s in statuses)
    assert len({s.leader_id for s in statuses}) == 1
    assert sum(s.is_leader for s in statuses) == 1
    assert {s.member_id for s in statuses} == set(members)
    for s in statuses:
        assert s.db_size and s.db_size > 0
        assert s.raft_index and s.raft_index > 0
        assert s.version and s.version.startswith("3.")
    report = quorum_report(statuses, client.members())
    assert report.ok and (report.healthy, report.total, report.needed) == (3, 3, 2)
    leader = next(s for s in statuses if s.is_leader)
    assert report.leader == members[leader.member_id or 0]


def _etcdctl_snapshot_status(path: Path) -> dict[str, int]:
    out = subprocess.run([str(ETCDCTL), "--write-out=json", "snapshot", "status", str(path)],
                         env={**os.environ, "ETCDCTL_API": "3"}, capture_output=True, text=True,
                         check=False,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_snapshot_is_a_file_etcdctl_accepts_readable_only_by_us(cluster: Cluster) -> None:
    for i in range(40):  # ~320 KiB: the stream spans many 32 KiB chunks
        cluster.put(f"/test/key{i}", os.urandom(8192))
    dest = cluster.root / "snapshots" / "s.db"
    size = cluster.client().snapshot(dest)
    assert size == dest.stat().st_size > 320 * 1024
    assert dest.stat().st_mode & 0o777 == 0o600
    status = _etcdctl_snapshot_status(dest)
    assert status["totalKey"] >= 40 and status["totalSize"] > 0
    assert not [p for p in dest.parent.iterdir() if p != dest]  # no temp file left behind


def test_snapshot_replaces_an_existing_file_whole(cluster: Cluster) -> None:
    dest = cluster.root / "again.db"
    dest.write_bytes(b"old")
    size = cluster.client().snapshot(dest)
    assert dest.stat().st_size == size > 3
    _etcdctl_snapshot_status(dest)


def test_added_member_appears_unstarted_and_is_removed_again(cluster: Cluster) -> None:
    client = cluster.client()
    fake_peer = f"https://127.0.0.1:{free_ports(1)[0]}"
    deadline = time.monotonic() + 10
    while True:  # etcd refuses until every member has been connected for 5 s
        try:
            after_add = client.add_member([fake_peer])
            break
        except EtcdError as exc:
            if "unhealthy cluster" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert len(after_add) == 4
    new = next(m for m in after_add if m.peer_urls == (fake_peer,))
    assert new.name == "" and new.client_urls == ()
    report = quorum_report(client.statuses(), after_add)
    assert (report.healthy, report.total, report.needed) == (3, 4, 3)
    client.remove_member(new.id)
    assert sorted(m.name for m in client.members()) == sorted(NAMES)


def test_a_dead_member_is_unhealthy_with_a_reason_and_the_others_carry_on(cluster: Cluster) -> None:
    names = {cluster.endpoint(n): n for n in NAMES}
    try:
        cluster.kill("m3")
        statuses = {s.endpoint: s for s in cluster.client().statuses()}
        dead = statuses[cluster.endpoint("m3")]
        assert not dead.healthy and dead.error == "connection refused"
        assert dead.member_id is None and dead.leader_id is None
        assert all(statuses[cluster.endpoint(n)].healthy for n in ("m1", "m2"))
        report = quorum_report(list(statuses.values()), cluster.client().members(), names)
        assert report.ok and report.healthy == 2
        assert report.down == [("m3", "connection refused")]

        cluster.kill("m2")  # m1 alone: it answers, and soon knows no leader
        client = cluster.client()
        deadline = time.monotonic() + 10
        while (lone := client.status(cluster.endpoint("m1"))).leader_id is not None:
            assert time.monotonic() < deadline, "m1 still names a leader"
            time.sleep(0.1)
        assert lone.healthy and lone.raft_index
        report = quorum_report(client.statuses(), client.members(), names)
        assert not report.ok and report.leader is None
        assert report.summary() == ("quorum LOST: 1/3 healthy (needs 2); "
                                    "down: m2 (connection refused), m3 (connection refused)")
    finally:
        for name in ("m2", "m3"):
            if name not in cluster.procs:
                cluster.start(name)
    cluster.wait_healthy()


def test_no_endpoint_answering_names_each_endpoint_and_why(cluster: Cluster) -> None:
    dead = [f"https://127.0.0.1:{p}" for p in free_ports(2)]
    with pytest.raises(EtcdUnavailable) as raised:
        cluster.client(dead).members()
    message = str(raised.value)
    for endpoint in dead:
        assert f"{endpoint}: connection refused" in message
    assert raised.value.failures == [(e, "connection refused") for e in dead]


def test_a_server_outside_the_etcd_ca_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    ensure_pki(PkiSpec("other", control_planes=[("cp1", ["127.0.0.1"])],
                       etcd_members=[("m1", ["127.0.0.1"])]), other)
    status = EtcdClient(cluster.endpoints[:1], local_tls(other), 2.0).status(cluster.endpoints[0])
    assert not status.healthy and status.error and status.error.startswith("TLS: ")
