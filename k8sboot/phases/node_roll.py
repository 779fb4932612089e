"""Phases: the node role, and the roll of nodes that already run.

`up` installs new nodes at once, beside the control plane (phase "nodes").
A node that already runs is only previewed there (check mode, all at once: a
no-op rerun stays one quick pass); if its role would change something, the
change waits for phase "roll nodes", after etcd and the control planes
(apiservers are upgraded before kubelets), and goes in batches of
--max-unavailable nodes:
- a change that restarts the kubelet or containerd (a new kubelet build, its
  config, containerd's config) drains the node first: cordon, evict its pods
  (PodDisruptionBudgets respected), run the role, wait until the node is Ready
  again (with the new kubelet's version when the kubelet changed), uncordon;
- a change that restarts nothing pods run on (kube-proxy's build or config,
  sysctls, the apiserver balancer), or restarts the kubelet only for new
  credentials (`certs renew`: pods keep running through a kubelet restart),
  is applied to those nodes together, with no drain.
A failure stops the roll: the node where it failed stays cordoned, the nodes
after it are untouched, and a rerun of `up` continues (nodes k8sboot cordoned
and that need nothing more are uncordoned then).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

from k8sboot import ui
from k8sboot.binaries import components as comps
from k8sboot.cluster_layout import KUBELET_UNIT, NODES
from k8sboot.connection.result import key_values
from k8sboot.errors import K8sbootError, RunError
from k8sboot.inventory.model import Host
from k8sboot.kubelet_facts import KUBELET_STATE_FACT
from k8sboot.phases.base import RunContext, run_play
from k8sboot.phases.rolling import unit_states, would_change

ROLES = ["node"]
# what the node role's tasks notify that drains first (roles/node/handlers/main.yml): a new
# kubelet build or config, containerd's; not "kubelet certificates changed", a topic the
# kubelet's restart listens to
DRAINING_HANDLERS = frozenset({"restart kubelet", "restart containerd"})
# `systemctl is-active` of a unit that runs, or that systemd is (re)starting
RUNNING_STATES = frozenset({"active", "activating", "reloading", "deactivating"})
# a kubelet that systemd restarted this often since the roll started it is crash-looping
CRASH_RESTARTS = 3


def batches(items: list[Host], size: int) -> list[list[Host]]:
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


def needs_drain(handlers: set[str]) -> bool:
    return bool(handlers & DRAINING_HANDLERS)


class NodeRoles:
    """In the concurrent part of `up`: new nodes installed; running ones previewed for the roll."""

    title = "nodes"

    def run(self, ctx: RunContext) -> None:
        hosts = ctx.hosts_in(NODES)
        vars_for_host = ctx.plan.vars_for_host
        if ctx.options.check or not hosts:
            run_play(ctx, self.title, hosts, ROLES, vars_for_host)
            return
        # a node runs when its kubelet is installed and systemd runs it, or keeps restarting it (a
        # build that crashes is rolled too: drained, and proven Ready again); one whose kubelet never
        # started (a first run cut short) is installed like a new one
        facts = ctx.learned.facts or {}
        states = {h.name: str(facts[h.name][KUBELET_STATE_FACT]) for h in hosts
                  if facts.get(h.name, {}).get(KUBELET_STATE_FACT)}
        asked = [h for h in hosts if h.name not in states]  # no facts of this run (another command's)
        states.update(unit_states(ctx, asked, KUBELET_UNIT) if asked else {})
        installed = ctx.learned.installed or {}
        live = [h for h in hosts if states[h.name] in RUNNING_STATES
                and installed.get(h.name, {}).get(comps.KUBELET, "unknown") is not None]
        fresh = [h for h in hosts if h not in live]
        if fresh:
            run_play(ctx, self.title, fresh, ROLES, vars_for_host)
        if live:
            ctx.learned.node_changes = would_change(ctx, live, ROLES, vars_for_host)
            if not ctx.learned.node_changes:
                ui.info(f"{self.title}: nothing to change on {', '.join(h.name for h in live)}")


class RollNodes:
    title = "roll nodes"

    def run(self, ctx: RunContext) -> None:
        if ctx.options.check:
            return
        changes = ctx.learned.node_changes
        api = ctx.api()
        from k8sboot import node_drain

        hosts = [h for h in ctx.hosts_in(NODES) if h.name in changes]
        try:
            left_cordoned = set(node_drain.cordoned_by_k8sboot(api))
        except Exception as e:  # noqa: BLE001 - any client error: the API does not answer
            if hosts:
                raise RunError(f"cannot roll {', '.join(h.name for h in hosts)}: the API does not answer "
                               f"({type(e).__name__}); nothing was drained") from None
            return  # nothing to roll; "wait for nodes Ready" reports the API
        if not hosts and not left_cordoned:
            return
        quiet = [h for h in hosts if not needs_drain(changes[h.name])]
        drained = [h for h in hosts if needs_drain(changes[h.name])]
        if quiet:
            restarts = sorted({n for h in quiet for n in changes[h.name]}) or ["nothing"]
            run_play(ctx, f"nodes without drain ({', '.join(restarts)})", quiet, ROLES, ctx.plan.vars_for_host)
        groups = batches(drained, ctx.roll.max_unavailable)
        for i, batch in enumerate(groups, 1):
            try:
                self._roll_batch(ctx, api, batch, f"{i}/{len(groups)}")
            except K8sbootError as e:
                rest = [h.name for b in groups[i:] for h in b]
                raise RunError(
                    f"the node roll stopped at {', '.join(h.name for h in batch)} (batch {i} of {len(groups)}): "
                    f"{e}\n{', '.join(h.name for h in batch)} stay(s) cordoned; "
                    + (f"not rolled yet: {', '.join(rest)}. " if rest else "")
                    + "Fix the cause and run `k8sboot up` again: the roll continues where it stopped.") from None
        rolled = {h.node_name for h in drained}
        by_node = {h.node_name: h for h in ctx.inventory.hosts_in(NODES)}
        for name in sorted(left_cordoned - rolled):
            # cordoned by a roll that stopped, and nothing more to do on it now: back in service once Ready
            if name in by_node:
                wait_back(ctx, api, [by_node[name]], {}, None)
                node_drain.uncordon(api, name)
                ui.info(f"  uncordoned {name} (an earlier roll stopped there)")

    def _roll_batch(self, ctx: RunContext, api: Any, batch: list[Host], label: str) -> None:
        from k8sboot import node_drain

        started = time.monotonic()
        registered = {h.node_name: _heartbeat(api, h.node_name) for h in batch}
        unregistered = [h for h in batch if registered[h.node_name] is MISSING]
        if unregistered:  # no Node object yet: nothing runs there to drain
            run_play(ctx, f"nodes: {', '.join(h.name for h in unregistered)} (batch {label}, not registered yet)",
                     unregistered, ROLES, ctx.plan.vars_for_host)
            batch = [h for h in batch if h not in unregistered]
            if not batch:
                return
        names = [h.node_name for h in batch]
        before = {n: registered[n] for n in names}
        restarts = {h.node_name: kubelet_restarts(ctx, h) for h in batch}
        for name in names:
            node_drain.cordon(api, name)
        for name in names:
            evicted = node_drain.drain(api, name, timeout=ctx.roll.drain_timeout, force=ctx.roll.force_drain,
                                       log=lambda line: ui.info(f"  {line}"))
            ui.info(f"  {name}: cordoned, {len(evicted)} pod(s) evicted")
        drained_at = time.monotonic()
        run_play(ctx, f"nodes: {', '.join(names)} (batch {label}, drained)", batch, ROLES, ctx.plan.vars_for_host)
        installed_at = time.monotonic()
        version = _expected_kubelet_version(ctx, batch)
        wait_back(ctx, api, batch, before, version, restarts)
        for name in names:
            node_drain.uncordon(api, name)
        ui.info(f"  {', '.join(names)}: Ready{f' on kubelet {version}' if version else ''} and uncordoned "
                f"(drain {drained_at - started:.1f}s, install {installed_at - drained_at:.1f}s, "
                f"Ready {time.monotonic() - installed_at:.1f}s)")



def _expected_kubelet_version(ctx: RunContext, batch: list[Host]) -> str | None:
    """The kubelet version the nodes must report, when this roll changes their kubelet binary."""
    roll = ctx.learned.roll
    binaries = ctx.learned.binaries or {}
    if roll is None or comps.KUBELET not in binaries:
        return None
    if any(comps.KUBELET in roll.changing(h.name, "nodes") for h in batch):
        return binaries[comps.KUBELET].version
    return None


MISSING = object()  # a node the API does not know


def _heartbeat(api: Any, node: str) -> Any:
    """The Ready condition's last heartbeat (None: no such condition; MISSING: no such node)."""
    from kubernetes.client.rest import ApiException

    from k8sboot.cluster_api import read_node

    try:
        status = read_node(api, node, timeout=10).status
    except ApiException as e:
        if e.status == 404:
            return MISSING
        raise
    ready = next((c for c in ((status.conditions if status else None) or []) if c.type == "Ready"), None)
    return ready.last_heartbeat_time if ready else None


def _node_state(api: Any, node: str) -> tuple[bool, str, Any]:
    """(Ready, kubelet version, Ready's last heartbeat) as the API reports the node."""
    from k8sboot.cluster_api import read_node

    status = read_node(api, node, timeout=10).status
    ready = next((c for c in ((status.conditions if status else None) or []) if c.type == "Ready"), None)
    info = status.node_info if status else None
    return (bool(ready and ready.status == "True"), info.kubelet_version if info else "",
            ready.last_heartbeat_time if ready else None)


def wait_back(ctx: RunContext, api: Any, batch: list[Host], before: dict[str, Any], version: str | None,
              restarts: dict[str, int] | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
    """Until every node of the batch is Ready again, as its restarted kubelet reports it.

    Proof that the restarted kubelet spoke: a Ready heartbeat other than the one
    seen before the roll, and its version in the node's status when the binary
    changed. (`before` lacks a node: any Ready heartbeat will do.)
    A kubelet that systemd keeps restarting (`restarts`: its restart count
    before the roll) fails the wait at once, with its journal.
    """
    from k8sboot.phases.wait_ready import diagnose

    deadline = time.monotonic() + ctx.roll.ready_timeout
    waiting = {h.node_name: h for h in batch}
    if restarts is None:
        restarts = {h.node_name: kubelet_restarts(ctx, h) for h in batch}
    last_check = 0.0
    while waiting:
        for name in list(waiting):
            try:
                ready, kubelet_version, beat = _node_state(api, name)
            except Exception:  # noqa: BLE001 - the apiserver may blink; the deadline decides
                continue
            # a restarted kubelet posts its status at once: a new heartbeat proves it runs (the
            # Ready condition alone may be the old kubelet's, not yet expired)
            spoke = (name not in before or beat != before[name]) and (not version or kubelet_version == version)
            if ready and spoke:
                del waiting[name]
        if not waiting:
            return
        if time.monotonic() - last_check > 2:
            last_check = time.monotonic()
            for name, host in waiting.items():
                crash = _crash_looping(ctx, host, restarts.get(name, 0))
                if crash:
                    raise RunError(f"{crash}\n{diagnose(ctx.pool.get(host), name, _view(api, name))}")
        if time.monotonic() > deadline:
            host = next(iter(waiting.values()))
            raise RunError(f"not Ready {ctx.roll.ready_timeout:.0f}s after its roll:\n"
                           + diagnose(ctx.pool.get(host), host.node_name, _view(api, host.node_name)))
        sleep(1)


def _view(api: Any, node: str) -> Any:
    """The node as the API shows it, for a diagnosis (None when the API does not answer)."""
    from k8sboot.cluster_api import node_views

    try:
        return node_views(api).get(node)
    except Exception:  # noqa: BLE001 - a diagnosis must not hide the failure it explains
        return None


def _kubelet_props(ctx: RunContext, host: Host) -> dict[str, str]:
    r = ctx.pool.get(host).run(f"systemctl show {shlex.quote(KUBELET_UNIT)} -p NRestarts -p ActiveState",
                               become=True, timeout=30)
    return key_values(r.stdout)


def kubelet_restarts(ctx: RunContext, host: Host) -> int:
    """systemd's count of the kubelet's automatic restarts (it survives `systemctl restart`)."""
    value = _kubelet_props(ctx, host).get("NRestarts", "0")
    return int(value) if value.isdigit() else 0


def _crash_looping(ctx: RunContext, host: Host, restarts_before: int) -> str | None:
    props = _kubelet_props(ctx, host)
    value = props.get("NRestarts", "0")
    restarts = (int(value) if value.isdigit() else 0) - restarts_before
    if restarts >= CRASH_RESTARTS or props.get("ActiveState") == "failed":
        return (f"{host.name}: the kubelet does not stay up after the roll "
                f"(systemd restarted it {restarts} times since; state {props.get('ActiveState', '?')})")
    return None
