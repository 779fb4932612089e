"""`k8sboot status` data: the API's view of the cluster and each host's k8sboot units.

`gather` returns plain dicts and lists (JSON/YAML as they are); the shaping
functions below it are pure, so they are unit-tested with literal API objects.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from k8sboot.cluster_layout import (
    APISERVER_LB_UNIT,
    CONTROL_PLANE,
    ETCD,
    GROUP_UNITS,
    NODES,
    POD_ROUTES_UNIT,
)
from k8sboot.connection.pool import ConnectionPool
from k8sboot.connection.reach import DIRECT, Reach
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.inventory.model import Host, Inventory
from k8sboot.plan import apiserver_urls, cluster_settings, uses_apiserver_lb
from k8sboot.state import ClusterState

UNITS_BY_GROUP = GROUP_UNITS  # the units each role group runs
RESOURCES = ("cpu", "memory", "pods")  # the ones the table shows; JSON keeps them all
ROLE_PREFIX = "node-role.kubernetes.io/"
API_TIMEOUT = 5.0
RUNNING_MACHINE = ("running", "unknown")  # the providers' words for a machine worth dialling


# -- shaping (pure) -------------------------------------------------------------
def units_for_groups(groups: list[str]) -> list[str]:
    """The k8sboot units a host in these groups runs, in a stable order, no duplicates."""
    return list(
        dict.fromkeys(u for g, units in UNITS_BY_GROUP.items() if g in groups for u in units)
    )


def node_status(node: dict[str, Any]) -> dict[str, Any]:
    """One node as the API returns it (JSON) -> what status shows.

    Where it is the API's data it keeps the API's names and values (`podCIDR`,
    `conditions` and `nodeInfo` as the API gives them, booleans as booleans),
    so `status -o json` reads with the same tools as `kubectl get node -o json`.
    `ready` is the Ready condition as a boolean: None when it is Unknown or absent.
    """
    meta, spec, status = (
        node.get("metadata") or {},
        node.get("spec") or {},
        node.get("status") or {},
    )
    conditions = list(status.get("conditions") or [])
    ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
    return {
        "name": meta.get("name"),
        "registered": True,
        "ready": {"True": True, "False": False}.get(str(ready)),
        "roles": sorted(
            k[len(ROLE_PREFIX) :] for k in meta.get("labels") or {} if k.startswith(ROLE_PREFIX)
        ),
        "unschedulable": bool(spec.get("unschedulable")),
        "podCIDR": spec.get("podCIDR"),
        "addresses": list(status.get("addresses") or []),
        "conditions": conditions,
        "capacity": dict(status.get("capacity") or {}),
        "allocatable": dict(status.get("allocatable") or {}),
        "nodeInfo": dict(status.get("nodeInfo") or {}),
    }


def unregistered_node(name: str) -> dict[str, Any]:
    """An inventory node the API does not know (yet)."""
    return {
        "name": name,
        "registered": False,
        "ready": None,
        "roles": [],
        "unschedulable": False,
        "podCIDR": None,
        "addresses": [],
        "conditions": [],
        "capacity": {},
        "allocatable": {},
        "nodeInfo": {},
    }


def nodes_status(
    api_nodes: list[dict[str, Any]], inventory_nodes: list[str]
) -> list[dict[str, Any]]:
    """Every node the API knows, plus the inventory's nodes it does not; sorted by name."""
    shaped = {n["name"]: n for n in (node_status(x) for x in api_nodes)}
    for name in inventory_nodes:
        shaped.setdefault(name, unregistered_node(name))
    return [shaped[n] for n in sorted(shaped)]


def parse_is_active(units: list[str], stdout: str) -> dict[str, str]:
    """`systemctl is-active a b c` prints one state per unit, in order."""
    states = stdout.split()
    return {u: (states[i] if i < len(states) else "unknown") for i, u in enumerate(units)}


def short_reason(exc: BaseException) -> str:
    """One short line for why the API did not answer: 'connection refused', 'timed out', ..."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status:
        return f"HTTP {status} {getattr(exc, 'reason', '') or ''}".strip()
    seen: set[int] = set()
    current: BaseException | None = exc
    text = ""
    while current is not None and id(current) not in seen:  # urllib3 wraps the socket error twice
        seen.add(id(current))
        text = str(current)
        reason = getattr(current, "reason", None)
        current = (
            reason
            if isinstance(reason, BaseException)
            else current.__cause__ or current.__context__
        )
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return m.group(1).strip().lower()
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    return (text.splitlines() or [type(exc).__name__])[0][:200] or type(exc).__name__


def machines_down(hosts: list[Host], machines: dict[str, str]) -> str | None:
    """Why none of these hosts can answer, when each is a made machine that is not running
    (None when any of them may: not made by a provider, running, or its state unknown)."""
    states = [machines.get(h.name) for h in hosts]
    if not hosts or any(m is None or m in RUNNING_MACHINE for m in states):
        return None
    words = " / ".join(sorted({m for m in states if m}))
    if len(hosts) == 1:
        return f"its machine ({hosts[0].name}) is {words} (`k8sboot start` boots it)"
    return f"their machines ({', '.join(h.name for h in hosts)}) are {words} (`k8sboot start` boots them)"


def api_unanswered(url: str | None, why: str | None) -> dict[str, Any]:
    """The API's part of the status before (or without) an answer."""
    return {"url": url, "reachable": False, "version": None, "error": why, "nodes": []}


def etcd_unasked(members: int, why: str) -> dict[str, Any]:
    """etcd's part of the status when its members cannot be asked."""
    return {"ok": False, "summary": f"etcd cannot be asked: {why}", "healthy": 0, "total": members,
            "needed": members // 2 + 1, "leader": None, "down": []}


# -- gathering (I/O) ------------------------------------------------------------
def read_api(state: ClusterState, servers: list[str] | None = None, reach: Reach = DIRECT) -> dict[str, Any]:
    """{url, reachable, version, error, nodes: [raw API node JSON]} from the admin kubeconfig."""
    out = api_unanswered(None, None)
    if not state.admin_kubeconfig.exists():
        out["error"] = f"no admin kubeconfig at {state.admin_kubeconfig} (run `k8sboot up` first)"
        return out
    from kubernetes import client  # slow to import: only when asked

    from k8sboot.cluster_api import api_client

    api = api_client(state.admin_kubeconfig, servers or (), reach)
    out["url"] = reach.server_of(api.configuration.host)
    try:
        # raw JSON: exactly what the API says, no client model in between
        raw = client.VersionApi(api).get_code(_preload_content=False, _request_timeout=API_TIMEOUT)
        out["version"] = json.loads(raw.data).get("gitVersion")
        raw = client.CoreV1Api(api).list_node(_preload_content=False, _request_timeout=API_TIMEOUT)
        out["nodes"] = json.loads(raw.data).get("items") or []
        out["reachable"] = True
    except Exception as e:  # noqa: BLE001 - any failure means the same to the user: no answer
        out["error"] = short_reason(e)
    finally:
        api.close()
    return out


def read_etcd(inventory: Inventory, state: ClusterState, reach: Reach = DIRECT) -> dict[str, Any]:
    """etcd's quorum as its members report it (directly, with the local PKI's etcd client cert)."""
    from k8sboot.etcd.client import EtcdClient, EtcdUnavailable, local_tls
    from k8sboot.etcd.report import quorum_report
    from k8sboot.plan import etcd_endpoints

    names = etcd_endpoints(inventory.hosts_in(ETCD))
    try:
        client = EtcdClient(list(names), local_tls(state.pki_dir), timeout=API_TIMEOUT, reach=reach)
        statuses = client.statuses()
        try:
            members = client.members()
        except EtcdUnavailable:
            members = []
        report = quorum_report(statuses, members, names)
    except Exception as e:  # noqa: BLE001 - no PKI yet, or any failure: shown as etcd's line
        return etcd_unasked(len(names), short_reason(e))
    return {"ok": report.ok, "summary": report.summary(), "healthy": report.healthy, "total": report.total,
            "needed": report.needed, "leader": report.leader,
            "down": [{"name": n, "error": why} for n, why in report.down]}


def read_machines(inventory: Inventory, state: ClusterState) -> dict[str, str]:
    """host -> its machine's state in its provider's words ("running", "stopped", "shut off",
    "absent"), for the hosts a provider made; a provider that cannot answer says "unknown"."""
    from k8sboot.providers import provider_for  # a provider's library loads only when one is used

    out: dict[str, str] = {}
    for name in sorted({h.provider for h in inventory.hosts.values() if h.provider}):
        hosts = [h.name for h in inventory.hosts.values() if h.provider == name]
        try:
            out.update(provider_for(name).state(inventory, state))
        except Exception:  # noqa: BLE001 - status shows what it can; the hosts' SSH check still runs
            out.update({h: "unknown" for h in hosts})
    return out


def read_services(pool: ConnectionPool, host: Host, apiserver_lb: bool = False,
                  machine: str | None = None) -> dict[str, Any]:
    """The host's k8sboot units; a made machine that is not running is not dialled (`machine`: its state)."""
    units = units_for_groups(host.groups)
    if apiserver_lb and NODES in host.groups:
        units.append(APISERVER_LB_UNIT)
    if NODES in host.groups:
        units.append(POD_ROUTES_UNIT)
    entry: dict[str, Any] = {
        "name": host.name,
        "address": host.address,
        "groups": list(host.groups),
        "machine": machine,
        "reachable": False,
        "error": None,
        "services": {},
    }
    if machine is not None and machine not in RUNNING_MACHINE:
        entry["error"] = f"its machine is {machine} (`k8sboot start` boots it)"
        return entry
    try:
        conn = pool.get(host)
        r = (
            conn.run("systemctl is-active " + " ".join(units), become=True, timeout=30)
            if units
            else None
        )
        entry["reachable"] = True
        if r is not None:
            entry["services"] = parse_is_active(units, r.stdout)
    except Exception as e:  # noqa: BLE001 - unreachable, key changed, timed out: shown per host
        entry["error"] = str(e)
    return entry


def gather(
    inventory: Inventory, state: ClusterState, pool: ConnectionPool, forks: int = DEFAULT_FORKS
) -> dict[str, Any]:
    """The whole status: the API's answers and every host's units, asked at the same time."""
    hosts = list(inventory.hosts.values())
    pool.know(hosts)  # before the clients below ask how to reach an address
    # first: a stopped machine is not dialled (an address with no machine behind it answers nothing
    # for seconds: `status` after `stop` waited ~12 s for the API and etcd that it can say are down)
    machines = read_machines(inventory, state)
    api_down = machines_down(inventory.hosts_in(CONTROL_PLANE), machines)
    etcd_down = machines_down(inventory.hosts_in(ETCD), machines)
    urls = apiserver_urls(inventory)
    with ThreadPoolExecutor(max_workers=max(2, min(forks, len(hosts)) + 2)) as ex:
        api_future = None if api_down else ex.submit(read_api, state, urls, pool.reach)
        etcd_future = None if etcd_down else ex.submit(read_etcd, inventory, state, pool.reach)
        lb = uses_apiserver_lb(inventory, cluster_settings(inventory))
        host_entries = list(ex.map(lambda h: read_services(pool, h, lb, machines.get(h.name)), hosts))
        api = api_future.result() if api_future else api_unanswered(next(iter(urls), None), api_down)
        etcd = etcd_future.result() if etcd_future else etcd_unasked(len(inventory.hosts_in(ETCD)), etcd_down)
    raw_nodes = api.pop("nodes")
    nodes = (
        nodes_status(raw_nodes, [h.node_name for h in inventory.hosts_in(NODES)])
        if api["reachable"]
        else []
    )
    return {"cluster": inventory.name, "api": api, "etcd": etcd, "nodes": nodes, "hosts": host_entries}
