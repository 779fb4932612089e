"""Phase: wait until every host in `nodes` is registered and Ready according to the API.

When a node is not Ready in time the error names it, shows its conditions and
the last journal lines of the unit that fails on it.
"""

from __future__ import annotations

import re
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from k8sboot import ui
from k8sboot.api_retry import call_api
from k8sboot.cluster_layout import (
    CONTROL_PLANE,
    CONTROL_PLANE_LABEL,
    GROUP_UNITS,
    KUBELET_UNIT,
    NODES,
)
from k8sboot.cluster_status import short_reason
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import RunError
from k8sboot.inventory.model import Host
from k8sboot.kubelet_facts import (
    KUBELET_STARTED_FACT,
    KUBELET_STATE_FACT,
    kubelet_facts_script,
    parse_kubelet_started,
    read_kubelet_facts,
)
from k8sboot.node_heartbeat import NODE_LEASE_NAMESPACE, Heartbeat, posted_since_start
from k8sboot.phases.base import RunContext

NODE_UNITS = GROUP_UNITS[NODES]
DEFAULT_SERVICE_ACCOUNT = ("default", "default")  # namespace, name
# two light GETs per poll; the last thing `up` waits for, so half a poll is saved on average
POLL_INTERVAL = 0.5


ERROR_LINE = re.compile(r"error|fail|fatal|unable|refused|denied|^[EF]\d{4} ", re.IGNORECASE)


def relevant_lines(journal: str, errors: int = 8, tail: int = 5) -> list[str]:
    """The last error-looking lines, then the very last lines: a crashing daemon's
    usage text or stack trace would otherwise push the one line that matters out."""
    all_lines = [ln for ln in journal.strip().splitlines() if ln.strip()]
    picked = [ln for ln in all_lines if ERROR_LINE.search(ln)][-errors:]
    last = [ln for ln in all_lines[-tail:] if ln not in picked]
    return [ln[:300] for ln in picked + (["..."] if picked and last else []) + last]


def diagnose(conn: SSHConnection, node: str, view, heartbeat: Heartbeat | None = None) -> str:
    lines = [f"node {node} ({conn.name}, {conn.address}) is not Ready"]
    if view is None:
        lines.append("  it never registered with the apiserver")
    else:
        for c in view.raw.status.conditions or []:
            lines.append(f"  {c.type}={c.status} {c.reason or ''}: {c.message or ''}")
        lines.append(f"  {heartbeat_text(heartbeat)} (the kubelet renews its Lease in "
                     f"{NODE_LEASE_NAMESPACE} every 10 s)")
    try:
        states = conn.run("systemctl is-active " + " ".join(NODE_UNITS), become=True).stdout.split()
        failing = [u for u, s in zip(NODE_UNITS, states) if s != "active"] or ["kubelet"]
        unit = failing[0]
        lines.append(f"  units: {', '.join(f'{u}={s}' for u, s in zip(NODE_UNITS, states))}")
        journal = conn.run(f"journalctl -u {shlex.quote(unit)} -n 300 --no-pager -o cat", become=True)
        lines.append(f"  last lines of {unit}'s journal (errors first):")
        lines.extend("    | " + line for line in relevant_lines(journal.stdout))
    except Exception as e:  # diagnosis must never hide the real error
        lines.append(f"  (could not read the host's journal: {e})")
    return "\n".join(lines)


class LiveNodes:
    """Which kubelets talk to the apiserver now: a fresh heartbeat by the apiserver's clock, or one
    seen to change while we wait (a node whose clock runs behind costs one renewal, not a hang)."""

    def __init__(self) -> None:
        self.first_seen: dict[str, str] = {}

    def see(self, beats: dict[str, Heartbeat]) -> None:
        for name, beat in beats.items():
            self.first_seen.setdefault(name, beat.renewed)

    def alive(self, name: str, beats: dict[str, Heartbeat]) -> bool:
        beat = beats.get(name)
        return beat is not None and (beat.fresh or beat.renewed != self.first_seen.get(name))


def heartbeat_text(beat: Heartbeat | None) -> str:
    return "no heartbeat yet" if beat is None else f"last heartbeat {max(beat.age, 0):.0f}s ago"


def kubelet_starts(ctx: RunContext, hosts: list[Host]) -> dict[str, datetime | None]:
    """node name -> when the kubelet running there started (None: unknown). Connect's fact holds
    for a host this run left alone; one it changed (the kubelet started, restarted by a handler,
    rolled) or whose kubelet did not run is asked again, all in parallel."""
    facts = ctx.learned.facts or {}
    starts: dict[str, datetime | None] = {}
    again: list[Host] = []
    for host in hosts:
        known = facts.get(host.name, {})
        stats = ctx.result.stats.get(host.name)
        if known.get(KUBELET_STATE_FACT) == "active" and not (stats and stats.changed):
            starts[host.node_name] = parse_kubelet_started(str(known.get(KUBELET_STARTED_FACT) or ""))
        else:
            again.append(host)

    def ask(host: Host) -> datetime | None:
        try:
            r = ctx.pool.get(host).run(kubelet_facts_script(KUBELET_UNIT), become=True, timeout=30)
        except Exception:  # noqa: BLE001 - unknown: judged by Ready and its heartbeat alone, as before
            return None
        if r.rc != 0:
            return None
        return parse_kubelet_started(read_kubelet_facts(r.stdout).get(KUBELET_STARTED_FACT, ""))

    if again:
        with ThreadPoolExecutor(max_workers=max(1, min(ctx.options.forks, len(again)))) as ex:
            starts.update(zip([h.node_name for h in again], ex.map(ask, again)))
    return starts


def counts_ready(view, alive: bool, started: datetime | None) -> bool:
    """Ready=True, the kubelet alive, and that Ready posted by the kubelet running now."""
    return view is not None and view.is_ready and alive and posted_since_start(view.heartbeat, started)


def waiting_for(view, beat: Heartbeat | None, started: datetime | None = None) -> str:
    """Why one node does not count as Ready yet, in a few words."""
    if view is None:
        return "not registered"
    if not view.is_ready:
        return view.ready
    if started is not None and not posted_since_start(view.heartbeat, started):
        return f"Ready as posted before its kubelet started at {started:%H:%M:%S}; waiting for its first status"
    # Ready=True but stale: a kubelet cut off keeps it until the lifecycle controller notices (40 s)
    return f"Ready, {heartbeat_text(beat)}"


class WaitReady:
    title = "wait for nodes Ready"

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check:
            return
        # the kubernetes client loads slowly: imported by the phases that use it, when they run
        from k8sboot.cluster_api import (
            ensure_label,
            node_heartbeats,
            node_views,
            service_account_exists,
            set_pod_cidr,
        )

        timeout = float(ctx.inventory.vars.get("ready_timeout") or ctx.inventory.cluster.get("ready_timeout", 300))
        api = ctx.api()
        wanted = {h.node_name: h for h in ctx.hosts_in(NODES)}  # up --limit: its nodes alone
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        last = ""
        views = {}
        beats: dict[str, Heartbeat] = {}
        live = LiveNodes()
        starts = kubelet_starts(ctx, list(wanted.values()))
        given_cidr: set[str] = set()
        # as minikube's `default_sa` wait: until the controller-manager has made it, every pod
        # created in the default namespace is refused ("serviceaccount default not found")
        account = False
        while True:
            answering: str | None = None
            try:
                views = node_views(api)
                beats = node_heartbeats(api, views)
                account = account or service_account_exists(api, *DEFAULT_SERVICE_ACCOUNT)
            except Exception as e:  # noqa: BLE001 - the apiserver may blink while components restart
                views, beats = {}, {}
                answering = f"apiserver not answering ({type(e).__name__})"
            for name, view in views.items():
                cidr = ctx.plan.pod_cidrs.get(name)
                if name in wanted and cidr and not view.pod_cidr and name not in given_cidr:
                    given_cidr.add(name)  # the kubelet, watching its Node, posts its status at once
                    try:
                        set_pod_cidr(api, name, cidr)
                    except Exception as e:  # noqa: BLE001 - routes use k8sboot's record; the spec informs
                        ui.warn(f"could not write pod CIDR {cidr} into node {name}'s spec: {short_reason(e)}")
            live.see(beats)
            ready = sorted(n for n in wanted if counts_ready(views.get(n), live.alive(n, beats), starts.get(n)))
            waiting = sorted(set(wanted) - set(ready))
            if not waiting and account:
                break
            status = answering or f"{len(ready)}/{len(wanted)} Ready; waiting for " + ", ".join(
                [f"{n} ({waiting_for(views.get(n), beats.get(n), starts.get(n))})" for n in waiting]
                + ([] if account else [f"ServiceAccount {'/'.join(DEFAULT_SERVICE_ACCOUNT)} "
                                       "(the controller-manager makes it)"]))
            if status != last:
                ui.info(f"  {time.monotonic() - started:5.1f}s {status}")
                last = status
            if time.monotonic() > deadline:
                report = [diagnose(ctx.pool.get(wanted[n]), n, views.get(n), beats.get(n)) for n in waiting]
                if not waiting:
                    raise RunError(f"every node is Ready, but after {timeout:.0f}s the ServiceAccount "
                                   f"{'/'.join(DEFAULT_SERVICE_ACCOUNT)} still does not exist: is "
                                   "kube-controller-manager running on the control plane(s)? "
                                   "(journalctl -u kube-controller-manager)")
                raise RunError(f"nodes not Ready after {timeout:.0f}s:\n" + "\n".join(report))
            time.sleep(POLL_INTERVAL)
        ui.info(f"  {time.monotonic() - started:5.1f}s all {len(wanted)} node(s) Ready")
        server = api.configuration.host
        for node in [h.node_name for h in ctx.inventory.hosts_in(CONTROL_PLANE) if h.in_group(NODES)]:
            call_api(lambda: ensure_label(api, node, CONTROL_PLANE_LABEL), f"label node {node}", server)
        ctx.learned.nodes = call_api(lambda: node_views(api), "read the nodes", server)
