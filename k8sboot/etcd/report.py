"""Is there a quorum? From the members' statuses and the member list, one report.

    report = quorum_report(client.statuses(), client.members())
    report.summary()  # "quorum: 3/3 healthy (needs 2), leader: cp2"
                      # "quorum LOST: 1/3 healthy (needs 2); down: cp1 (connection refused), ..."

Pure: `k8sboot etcd status`, `up`'s quorum wait and `k8sboot status` share it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from k8sboot.etcd.client import Member, MemberStatus, quorum

NOT_STARTED = "added, not started yet"
NOT_ASKED = "not among the endpoints asked"


@dataclass(frozen=True)
class QuorumReport:
    healthy: int
    total: int
    needed: int
    leader: str | None  # the leader's name, as the healthy members agree
    down: list[tuple[str, str]] = field(default_factory=list)  # (name, why)

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.healthy >= self.needed

    def summary(self) -> str:
        counts = f"{self.healthy}/{self.total} healthy (needs {self.needed})"
        down = ", ".join(f"{name} ({_one_line(why)})" for name, why in self.down)
        if self.ok:
            text = f"quorum: {counts}, leader: {self.leader or 'none'}"
            return f"{text}; down: {down}" if down else text
        return f"quorum LOST: {counts}" + (f"; down: {down}" if down else "")


def quorum_report(statuses: Sequence[MemberStatus], members: Sequence[Member],
                  names: Mapping[str, str] | None = None) -> QuorumReport:
    """The quorum the statuses show for these members.

    `members` may be empty (no endpoint could list them): the statuses' endpoints then
    stand for the members. `names` (endpoint -> name, e.g. from the inventory) names
    members the member list cannot: unstarted ones, or all of them when it is empty.
    """
    names = {url.rstrip("/"): name for url, name in (names or {}).items()}
    by_id = {m.id: m for m in members}
    by_url = {url.rstrip("/"): m for m in members for url in m.client_urls}

    def member_of(status: MemberStatus) -> Member | None:
        if status.member_id is not None and status.member_id in by_id:
            return by_id[status.member_id]
        if status.endpoint in by_url:
            return by_url[status.endpoint]
        name = names.get(status.endpoint)  # advertised under another address than we dialled
        return next((m for m in members if name and m.name == name), None)

    def name_of(member: Member | None, endpoint: str | None = None) -> str:
        if member is not None and member.name:
            return member.name
        for url in ((endpoint,) if endpoint else ()) + (member.client_urls if member else ()):
            if url in names:
                return names[url]
        if member is not None:
            return f"{member.id:x}"
        return endpoint or "?"

    healthy_ids: set[int] = set()
    leaders: Counter[int] = Counter()
    for s in statuses:
        if s.healthy:
            m = member_of(s)
            key = m.id if m is not None else s.member_id
            if key is not None:
                healthy_ids.add(key)
            if s.leader_id is not None:
                leaders[s.leader_id] += 1

    down: list[tuple[str, str]] = []
    if members:
        total = len(members)
        healthy = len(healthy_ids & by_id.keys())
        listed = set(healthy_ids)
        for s in statuses:  # in the caller's (the inventory's) order
            m = member_of(s)
            if m is not None and m.id not in listed:
                listed.add(m.id)
                down.append((name_of(m, s.endpoint), s.error or NOT_ASKED))
        for m in members:
            if m.id not in listed:
                down.append((name_of(m), NOT_STARTED if not m.name and not m.client_urls
                             else NOT_ASKED))
    else:
        total = len(statuses)
        healthy = sum(1 for s in statuses if s.healthy)
        down = [(name_of(None, s.endpoint), s.error or "") for s in statuses if not s.healthy]

    # the leader the healthy members agree on, if it is one of them (a leader that just
    # died is still named by the others until they elect a new one)
    leader: str | None = None
    if leaders:
        leader_id = leaders.most_common(1)[0][0]
        if leader_id in healthy_ids:
            if leader_id in by_id:
                leader = name_of(by_id[leader_id])
            else:
                leader = next((name_of(member_of(s), s.endpoint) for s in statuses
                               if s.member_id == leader_id), f"{leader_id:x}")
    return QuorumReport(healthy=healthy, total=total, needed=quorum(total), leader=leader,
                        down=down)


def _one_line(text: str) -> str:
    return " ".join(text.split())
