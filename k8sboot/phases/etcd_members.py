"""Phase: etcd's members, started or joined: a new cluster all at once, a growing one one member at a time.

etcd refuses a member that starts with an empty data dir unless the running
cluster was told about it first (`member add`), and it must then be given the
members as they are at that moment. Adding two before either started would
leave a 3-member cluster with one live member: no quorum. So a member whose
host has no data while others do joins alone: add, start, healthy, next.
Members already running are not restarted by a join (their bootstrap
settings live in a file they never read again).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from k8sboot import ui
from k8sboot.cluster_layout import ETCD
from k8sboot.errors import RunError
from k8sboot.etcd.client import EtcdClient, EtcdError, Member, MemberStatus, quorum
from k8sboot.etcd.report import QuorumReport, quorum_report
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext, run_play
from k8sboot.phases.connect import member_data_script
from k8sboot.phases.rolling import run_rolling
from k8sboot.plan import ClusterPlan

ROLES = ["etcd"]


def has_member_data(ctx: RunContext, host: Host) -> bool:
    """Whether this host's etcd data dir holds a member (it ran before): one command."""
    data_dir = ctx.plan.remote_dirs(host)["etcd_data_dir"]
    r = ctx.pool.get(host).run(member_data_script(data_dir), become=True, timeout=30)
    if not r.ok:
        raise RunError(f"{host.name}: cannot look at its etcd data dir {data_dir}: {r.stderr_tail(3)}")
    return "etcd_member_data=yes" in r.stdout.splitlines()


def initial_cluster(members: list[Member], joining: Host, plan: ClusterPlan) -> str:
    """name=peer-url of every member, the one joining (not started, so nameless) by its own name."""
    mine = plan.etcd_peer_url(joining)
    entries = []
    for m in members:
        name = m.name or (plan.etcd_name(joining) if mine in m.peer_urls else "")
        if not name:
            raise RunError(f"etcd has another member that never started ({', '.join(m.peer_urls)}): "
                           f"remove it (k8sboot etcd status shows it) before adding {joining.name}")
        entries += [f"{name}={url}" for url in m.peer_urls]
    return ",".join(entries)


# etcd refuses a member add until every member has been connected for 5 s: right
# after the previous join, wait that out rather than fail
ADD_SETTLE_TIMEOUT = 30.0


def add_when_settled(client: EtcdClient, url: str) -> list[Member]:
    deadline = time.monotonic() + ADD_SETTLE_TIMEOUT
    while True:
        try:
            return client.add_member([url])
        except EtcdError as e:
            if "unhealthy cluster" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(1)


MEMBER_BACK_TIMEOUT = 60.0


def wait_member_back(ctx: RunContext, hosts: list[Host], host: Host) -> None:
    """After a member restarted: until it answers healthy and etcd has its quorum again."""
    plan = ctx.plan
    client = ctx.etcd(hosts)
    mine = plan.etcd_client_url(host)
    deadline = time.monotonic() + MEMBER_BACK_TIMEOUT
    while True:
        statuses = client.statuses()
        own = next((s for s in statuses if s.endpoint == mine), None)
        report: QuorumReport | None = None
        try:
            report = quorum_report(statuses, client.members())
            why = report.summary()
        except EtcdError as e:
            why = str(e)
        if own is not None and own.healthy and own.leader_id and report is not None and report.ok:
            ui.info(f"  etcd: {plan.etcd_name(host)} is back (etcd {own.version}); {why}")
            return
        if time.monotonic() > deadline:
            state = own.error if own is not None and own.error else why
            raise RunError(f"etcd: {plan.etcd_name(host)} is not back {MEMBER_BACK_TIMEOUT:.0f}s after its "
                           f"restart ({state}); the roll stopped there, the members after it are untouched")
        time.sleep(0.5)


class EtcdMembers:
    title = "etcd"

    def run(self, ctx: RunContext) -> None:
        plan = ctx.plan
        hosts = ctx.inventory.hosts_in(ETCD)
        if not ctx.hosts_in(ETCD):
            return  # up --limit without etcd hosts: etcd is not this run's business
        # asked with the facts at connect; a round trip each where this run has none (another command's)
        facts = ctx.learned.facts or {}
        data = {h.name: facts[h.name]["etcd_member_data"] == "yes" for h in hosts
                if facts.get(h.name, {}).get("etcd_member_data")}
        asked = [h for h in hosts if h.name not in data]
        with ThreadPoolExecutor(max_workers=max(1, len(asked))) as ex:
            data.update(zip([h.name for h in asked], ex.map(lambda h: has_member_data(ctx, h), asked)))
        running = [h for h in hosts if data[h.name]]
        joining = [h for h in hosts if not data[h.name]] if running else []
        if running:
            # members that ran before: a change (a new etcd build among them) restarts them one at a
            # time, and the next waits until this one is back, healthy, with the cluster at quorum
            run_rolling(ctx, "etcd", running, ROLES, plan.vars_for_host, "etcd",
                        after_each=lambda h: wait_member_back(ctx, hosts, h))
        else:
            # a new cluster (no host has data) bootstraps all its members together
            run_play(ctx, "etcd", hosts, ROLES, plan.vars_for_host)
            ctx.learned.etcd_created = True
        for host in joining:
            self._join(ctx, host, running)
            running.append(host)
        client = ctx.etcd(hosts)
        report = quorum_report(client.statuses(), client.members())
        ui.info(f"  {report.summary()}")
        if not report.ok:
            raise RunError(f"etcd has no quorum: {report.summary()}")

    def _join(self, ctx: RunContext, host: Host, running: list[Host]) -> None:
        plan = ctx.plan
        client = ctx.etcd(running)
        members = client.members()
        url = plan.etcd_peer_url(host)
        if not any(url in m.peer_urls for m in members):
            ui.info(f"  etcd: adding member {plan.etcd_name(host)} ({url})")
            members = add_when_settled(client, url)
        cluster = initial_cluster(members, host, plan)

        def joining_vars(h: Host) -> dict[str, Any]:
            return {**plan.vars_for_host(h), "etcd_initial_cluster": cluster, "etcd_initial_cluster_state": "existing",
                    "etcd_initial_cluster_rewrite": True}

        run_play(ctx, f"etcd: {host.name} joins", [host], ROLES, joining_vars)


def removal_refusal(name: str, statuses: list[MemberStatus], members: list[Member],
                    target_id: int | None) -> str | None:
    """Why removing this member would lose quorum (None when it is safe)."""
    if target_id is None:
        return None
    remaining = [m for m in members if m.id != target_id]
    if not remaining:
        return f"{name} is etcd's last member"
    healthy_ids = {st.member_id for st in statuses if st.healthy}
    healthy_now = [m for m in members if m.id in healthy_ids]
    if len(healthy_now) < quorum(len(members)):
        # without a quorum now etcd cannot even commit the removal
        down = [m.name or ",".join(m.peer_urls) for m in members if m.id not in healthy_ids]
        return (f"etcd has no quorum now ({len(healthy_now)} of {len(members)} members healthy, "
                f"{quorum(len(members))} needed; down: {', '.join(down)}): bring members back before "
                f"removing {name}")
    healthy = [m for m in remaining if m.id in healthy_ids]
    need = quorum(len(remaining))
    if len(healthy) < need:
        down = [m.name or ",".join(m.peer_urls) for m in remaining if m.id not in healthy_ids]
        return (f"removing {name} would leave etcd without quorum: {len(healthy)} of the {len(remaining)} "
                f"remaining members are healthy, {need} are needed (down: {', '.join(down)}); bring them "
                f"back first")
    return None


class RemoveEtcdMember:
    """Phase of remove-node: the host's member leaves etcd before the host is reset."""

    title = "remove the etcd member"

    def __init__(self, host: Host):
        self.host = host

    def run(self, ctx: RunContext) -> None:
        hosts = ctx.inventory.hosts_in(ETCD)
        client = ctx.etcd(hosts)
        members = client.members()
        name = ClusterPlan.etcd_name(self.host)
        url = ClusterPlan.etcd_peer_url(self.host)
        target = next((m for m in members if m.name == name or url in m.peer_urls), None)
        if target is None:
            ui.info(f"  {name} is not an etcd member (already removed)")
            return
        reason = removal_refusal(name, client.statuses(), members, target.id)
        if reason:
            raise RunError(reason + "; nothing was changed")
        client.remove_member(target.id)
        ui.info(f"  etcd member {name} removed; {len(members) - 1} remain")
