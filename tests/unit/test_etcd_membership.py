"""The pure parts of etcd membership: the initial cluster a joining member is given, when a
removal would lose quorum, and waiting out etcd's "unhealthy cluster" right after a join."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.errors import RunError
from k8sboot.etcd.client import EtcdError, EtcdUnavailable, Member, MemberStatus
from k8sboot.inventory.model import Host, Inventory
from k8sboot.phases import etcd_members
from k8sboot.phases.etcd_members import add_when_settled, initial_cluster, removal_refusal
from k8sboot.plan import ClusterPlan, cluster_settings


def plan_of(*hosts: Host) -> ClusterPlan:
    groups: dict[str, list[str]] = {g: [] for g in layout.ROLE_GROUPS}
    groups[layout.ETCD] = [h.name for h in hosts]
    inv = Inventory(None, {"name": "t"}, {h.name: h for h in hosts}, groups)
    return ClusterPlan(inv, cluster_settings(inv), "v1.27.4", {}, Path("/state/pki"))


E1 = Host("e1", "10.0.0.11", groups=[layout.ETCD])
E2 = Host("e2", "10.0.0.12", groups=[layout.ETCD])
E3 = Host("e3", "10.0.0.13", groups=[layout.ETCD], vars={"etcd_member_name": "etcd-c", "etcd_peer_port": 12380})


def started(mid: int, name: str, ip: str, peer_port: int = 2380) -> Member:
    return Member(mid, name, (f"https://{ip}:{peer_port}",), (f"https://{ip}:2379",))


def unstarted(mid: int, peer_url: str) -> Member:
    return Member(mid, "", (peer_url,), ())


# -- initial_cluster ------------------------------------------------------------------------

def test_the_joining_member_is_named_by_its_hosts_etcd_name():
    plan = plan_of(E1, E2, E3)
    members = [started(1, "e1", "10.0.0.11"), started(2, "e2", "10.0.0.12"),
               unstarted(3, "https://10.0.0.13:12380")]
    assert initial_cluster(members, E3, plan) == (
        "e1=https://10.0.0.11:2380,e2=https://10.0.0.12:2380,etcd-c=https://10.0.0.13:12380")


def test_the_members_of_that_moment_only_not_the_inventorys():
    plan = plan_of(E1, E2, E3)  # e3 is in the inventory but not yet a member
    members = [started(1, "e1", "10.0.0.11"), unstarted(2, "https://10.0.0.12:2380")]
    assert initial_cluster(members, E2, plan) == "e1=https://10.0.0.11:2380,e2=https://10.0.0.12:2380"


def test_every_peer_url_of_a_member_is_listed():
    plan = plan_of(E1, E2)
    two_urls = Member(1, "e1", ("https://10.0.0.11:2380", "https://10.1.0.11:2380"), ("https://10.0.0.11:2379",))
    members = [two_urls, unstarted(2, "https://10.0.0.12:2380")]
    assert initial_cluster(members, E2, plan) == (
        "e1=https://10.0.0.11:2380,e1=https://10.1.0.11:2380,e2=https://10.0.0.12:2380")


def test_another_unstarted_member_is_refused_naming_it_and_the_joining_host():
    plan = plan_of(E1, E2, E3)
    members = [started(1, "e1", "10.0.0.11"), unstarted(9, "https://10.0.0.99:2380"),
               unstarted(3, "https://10.0.0.13:12380")]
    with pytest.raises(RunError) as info:
        initial_cluster(members, E3, plan)
    assert "https://10.0.0.99:2380" in str(info.value) and "e3" in str(info.value)


def test_a_member_on_the_joining_hosts_address_but_another_port_is_not_it():
    plan = plan_of(E1, E3)
    members = [started(1, "e1", "10.0.0.11"), unstarted(3, "https://10.0.0.13:2380")]  # e3 peers on 12380
    with pytest.raises(RunError):
        initial_cluster(members, E3, plan)


# -- removal_refusal -----------------------------------------------------------------------

def status(mid: int, ip: str, *, leader: int | None = 1, error: str | None = None) -> MemberStatus:
    if error:
        return MemberStatus(f"https://{ip}:2379", None, None, None, None, None, error)
    return MemberStatus(f"https://{ip}:2379", mid, leader, 20480, 42, "3.5.9", None)


THREE = [started(1, "e1", "10.0.0.11"), started(2, "e2", "10.0.0.12"), started(3, "e3", "10.0.0.13")]


def test_removing_one_of_three_healthy_members_is_safe():
    statuses = [status(1, "10.0.0.11"), status(2, "10.0.0.12"), status(3, "10.0.0.13")]
    assert removal_refusal("e3", statuses, THREE, 3) is None


def test_removing_one_of_three_while_another_is_down_is_refused_naming_the_down_member():
    statuses = [status(1, "10.0.0.11"), status(2, "10.0.0.12", error="connection refused"),
                status(3, "10.0.0.13")]
    reason = removal_refusal("e3", statuses, THREE, 3)
    assert reason is not None
    assert "quorum" in reason and "e2" in reason and "e3" in reason
    assert "e1" not in reason.split("down:")[1]


def test_removing_the_member_that_is_down_is_safe():
    statuses = [status(1, "10.0.0.11"), status(2, "10.0.0.12", error="connection refused"),
                status(3, "10.0.0.13")]
    assert removal_refusal("e2", statuses, THREE, 2) is None


def test_a_down_member_that_never_started_is_named_by_its_peer_url():
    members = [*THREE[:2], unstarted(3, "https://10.0.0.13:2380")]
    statuses = [status(1, "10.0.0.11"), status(2, "10.0.0.12")]
    reason = removal_refusal("e1", statuses, members, 1)
    assert reason is not None and "https://10.0.0.13:2380" in reason


def test_a_status_with_an_alarm_is_not_healthy():
    statuses = [status(1, "10.0.0.11"), status(3, "10.0.0.13"),
                MemberStatus("https://10.0.0.12:2379", 2, 1, 1, 1, "3.5.9", "alarm: NOSPACE")]
    assert removal_refusal("e1", statuses, THREE, 1) is not None


def test_removing_the_last_member_is_refused():
    reason = removal_refusal("e1", [status(1, "10.0.0.11")], THREE[:1], 1)
    assert reason is not None and "last" in reason and "e1" in reason


def test_two_to_one_with_both_healthy_is_safe_but_not_with_the_other_down():
    two = THREE[:2]
    assert removal_refusal("e2", [status(1, "10.0.0.11"), status(2, "10.0.0.12")], two, 2) is None
    assert removal_refusal("e2", [status(2, "10.0.0.12")], two, 2) is not None


def test_five_members_two_down_one_more_can_not_go():
    five = [*THREE, started(4, "e4", "10.0.0.14"), started(5, "e5", "10.0.0.15")]
    up = [status(1, "10.0.0.11"), status(2, "10.0.0.12"), status(3, "10.0.0.13")]
    assert removal_refusal("e4", up, five, 4) is None  # removing a down one: 3 of 4 healthy, 3 needed
    assert removal_refusal("e3", up, five, 3) is not None  # 2 of 4 healthy


def test_a_cluster_without_quorum_now_can_not_remove_even_its_down_member():
    two = THREE[:2]  # e2 down: 1 of 2 healthy, 2 needed, so etcd commits nothing
    assert removal_refusal("e2", [status(1, "10.0.0.11")], two, 2) is not None


def test_no_target_means_nothing_to_refuse():
    assert removal_refusal("e9", [], THREE, None) is None
    assert removal_refusal("e9", [], [], None) is None


# -- add_when_settled ---------------------------------------------------------------------

class FakeClock:
    """Stands in for the `time` module inside etcd_members: sleeping advances the clock, instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeClient:
    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[list[str]] = []

    def add_member(self, peer_urls: list[str]) -> list[Member]:
        self.calls.append(list(peer_urls))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


UNHEALTHY = EtcdError("etcd at https://10.0.0.11:2379: member add https://10.0.0.13:2380: "
                      "HTTP 503: etcdserver: unhealthy cluster (etcd adds a member only when ...)")
AFTER = [*THREE[:2], unstarted(3, "https://10.0.0.13:2380")]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(etcd_members, "time", fake)
    return fake


def test_an_unhealthy_cluster_is_waited_out(clock):
    client = FakeClient(UNHEALTHY, UNHEALTHY, AFTER)
    assert add_when_settled(client, "https://10.0.0.13:2380") == AFTER  # type: ignore[arg-type]
    assert client.calls == [["https://10.0.0.13:2380"]] * 3
    assert len(clock.sleeps) == 2 and all(0 < s <= 5 for s in clock.sleeps)


def test_the_first_success_is_returned_without_waiting(clock):
    client = FakeClient(AFTER)
    assert add_when_settled(client, "https://10.0.0.13:2380") == AFTER  # type: ignore[arg-type]
    assert clock.sleeps == []


def test_any_other_error_gives_up_at_once(clock):
    refused = EtcdError("etcd at https://10.0.0.11:2379: member add: HTTP 400: etcdserver: Peer URLs already exists")
    client = FakeClient(refused, AFTER)
    with pytest.raises(EtcdError, match="already exists"):
        add_when_settled(client, "https://10.0.0.13:2380")  # type: ignore[arg-type]
    assert len(client.calls) == 1 and clock.sleeps == []


def test_no_endpoint_answering_is_not_retried(clock):
    client = FakeClient(EtcdUnavailable("member add", [("https://10.0.0.11:2379", "connection refused")]), AFTER)
    with pytest.raises(EtcdUnavailable):
        add_when_settled(client, "https://10.0.0.13:2380")  # type: ignore[arg-type]
    assert len(client.calls) == 1


def test_an_unhealthy_cluster_that_stays_so_is_given_up_after_the_settle_timeout(clock, monkeypatch):
    monkeypatch.setattr(etcd_members, "ADD_SETTLE_TIMEOUT", 3.0)
    client = FakeClient(*([UNHEALTHY] * 50))
    with pytest.raises(EtcdError, match="unhealthy cluster"):
        add_when_settled(client, "https://10.0.0.13:2380")  # type: ignore[arg-type]
    assert 2 <= len(client.calls) <= 6
    assert sum(clock.sleeps) <= 3.0 + 1.0


def test_with_the_real_clock_a_zero_timeout_gives_up_quickly(monkeypatch):
    monkeypatch.setattr(etcd_members, "ADD_SETTLE_TIMEOUT", 0.0)
    slept: list[float] = []
    monkeypatch.setattr(etcd_members.time, "sleep", slept.append)
    client = FakeClient(*([UNHEALTHY] * 5))
    with pytest.raises(EtcdError):
        add_when_settled(client, "https://10.0.0.13:2380")  # type: ignore[arg-type]
    assert len(client.calls) <= 2
