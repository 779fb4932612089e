"""`k8sboot status`: the cluster as the API sees it and the k8sboot units on every host.

A table by default, `-o json` / `-o yaml` for scripts (the same data). Exit 1 with
one line when the API does not answer, or a host cannot be asked; whatever could
be gathered is shown first.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any

import yaml
from rich.markup import escape
from rich.table import Table

from k8sboot import ui
from k8sboot.cluster_status import gather
from k8sboot.commands.context import build_context

PRESSURE_TYPES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
_BINARY_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL_SUFFIX = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


# -- formatting (pure) ---------------------------------------------------------
def memory_gib(quantity: str | None) -> str:
    """'24598136Ki' -> '23.5Gi'; anything unparsable is shown as it is."""
    if not quantity:
        return "?"
    for table in (_BINARY_SUFFIX, _DECIMAL_SUFFIX):
        for suffix, factor in table.items():
            if quantity.endswith(suffix) and quantity[: -len(suffix)].isdigit():
                return f"{Decimal(quantity[: -len(suffix)]) * factor / 2**30:.1f}Gi"
    return f"{Decimal(quantity) / 2**30:.1f}Gi" if quantity.isdigit() else quantity


def ready_text(node: dict[str, Any]) -> str:
    if not node.get("registered", True):
        return "NotRegistered"
    ready = next((c for c in node["conditions"] if c.get("type") == "Ready"), None)
    if ready is None:
        return "Unknown"
    if ready.get("status") == "True":
        return "Ready,SchedulingDisabled" if node.get("unschedulable") else "Ready"
    word = "NotReady" if ready.get("status") == "False" else "Unknown"
    return f"{word} ({ready['reason']})" if ready.get("reason") else word


def pressure_text(conditions: list[dict[str, Any]]) -> str:
    """The pressure conditions that are not plainly False, with reasons; else 'none'."""
    bad = [c for c in conditions if c.get("type") in PRESSURE_TYPES and c.get("status") != "False"]
    if not bad:
        return "none"
    return ", ".join(
        f"{c['type']}={c.get('status')}" + (f" ({c['reason']})" if c.get("reason") else "") for c in bad
    )


def addresses_text(addresses: list[dict[str, str]]) -> str:
    return ", ".join(f"{a.get('type')} {a.get('address')}" for a in addresses) or "-"


def resource_text(node: dict[str, Any], resource: str) -> str:
    """'allocatable/capacity' (memory in GiB)."""
    alloc, cap = node["allocatable"].get(resource), node["capacity"].get(resource)
    if alloc is None and cap is None:
        return "-"
    if resource == "memory":
        return f"{memory_gib(alloc)}/{memory_gib(cap)}"
    return f"{alloc or '?'}/{cap or '?'}"


def service_text(services: dict[str, str]) -> str:
    styled = []
    for unit, state in services.items():
        style = "green" if state == "active" else "red"
        styled.append(f"{escape(unit)} [{style}]{escape(state)}[/]")
    return ", ".join(styled) or "-"


def problems(data: dict[str, Any]) -> list[str]:
    """One line per thing that kept status from seeing everything."""
    out = []
    api = data["api"]
    if not api["reachable"]:
        out.append(
            f"cluster {data['cluster']}: the API at {api['url'] or '?'} "
            f"does not answer: {api['error']}"
        )
    etcd = data.get("etcd")
    if etcd and not etcd["ok"]:
        out.append(f"etcd: {etcd['summary']}")
    for h in data["hosts"]:
        if not h["reachable"]:
            out.append(f"host {h['name']}: {h['error']}")
    return out


# -- rendering -----------------------------------------------------------------
def _nodes_table(nodes: list[dict[str, Any]]) -> Table:
    t = Table(title="Nodes", title_justify="left", pad_edge=False)
    for col in ("NAME", "STATUS", "ROLES", "ADDRESSES", "PRESSURE", "CPU", "MEMORY", "PODS"):
        t.add_column(col, no_wrap=col in ("NAME", "CPU", "PODS"))
    for n in nodes:
        status = ready_text(n)
        style = "green" if status.startswith("Ready") else "red"
        pressure = pressure_text(n["conditions"]) if n["registered"] else "-"
        t.add_row(
            escape(n["name"]),
            f"[{style}]{escape(status)}[/]",
            ",".join(n["roles"]) or "<none>",
            escape(addresses_text(n["addresses"])),
            escape(pressure) if pressure in ("none", "-") else f"[red]{escape(pressure)}[/]",
            resource_text(n, "cpu"),
            resource_text(n, "memory"),
            resource_text(n, "pods"),
        )
    t.caption = "CPU, MEMORY, PODS: allocatable/capacity"
    t.caption_justify = "left"
    return t


def _info_table(nodes: list[dict[str, Any]]) -> Table:
    t = Table(title="Node versions", title_justify="left", pad_edge=False)
    for col in ("NAME", "KUBELET", "KUBE-PROXY", "CONTAINER-RUNTIME", "OS-IMAGE", "KERNEL"):
        t.add_column(col)
    for n in nodes:
        i = n["nodeInfo"]
        t.add_row(
            escape(n["name"]),
            *(
                escape(str(i.get(k) or "-"))
                for k in (
                    "kubeletVersion",
                    "kubeProxyVersion",
                    "containerRuntimeVersion",
                    "osImage",
                    "kernelVersion",
                )
            ),
        )
    return t


def _hosts_table(hosts: list[dict[str, Any]]) -> Table:
    t = Table(
        title="Services on the hosts (systemctl is-active)", title_justify="left", pad_edge=False
    )
    machines = any(h.get("machine") for h in hosts)  # the column only where a provider made hosts
    for col in ("HOST", "ADDRESS", "GROUPS", *(["MACHINE"] if machines else []), "SERVICES"):
        t.add_column(col)
    for h in hosts:
        services = service_text(h["services"]) if h["reachable"] else "[red]unreachable[/]"
        machine = h.get("machine")
        style = "green" if machine == "running" else "red"
        t.add_row(
            escape(h["name"]), escape(h["address"] or "-"), escape(",".join(h["groups"])),
            *([f"[{style}]{escape(machine)}[/]" if machine else "-"] if machines else []), services
        )
    return t


def render_table(data: dict[str, Any]) -> None:
    api = data["api"]
    if api["reachable"]:
        ui.console.print(
            f"Kubernetes control plane of [bold]{escape(data['cluster'])}[/] is running at "
            f"[bold]{escape(api['url'])}[/] (version {escape(api['version'] or '?')})"
        )
    else:
        ui.console.print(
            f"Kubernetes control plane of [bold]{escape(data['cluster'])}[/] at "
            f"{escape(api['url'] or '?')}: [red]not answering[/]"
        )
    etcd = data.get("etcd")
    if etcd:
        style = "green" if etcd["ok"] else "red"
        ui.console.print(f"etcd: [{style}]{escape(etcd['summary'])}[/]")
    if data["nodes"]:
        ui.console.print(_nodes_table(data["nodes"]))
        ui.console.print(_info_table(data["nodes"]))
    ui.console.print(_hosts_table(data["hosts"]))


def run(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    with ctx.pool() as pool:
        data = gather(ctx.inventory, ctx.state, pool, ctx.forks)
    output = getattr(args, "output", "table")
    if output == "json":
        print(json.dumps(data, indent=2))
    elif output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False), end="")
    else:
        render_table(data)
    issues = problems(data)
    for line in issues:
        ui.error(line)
    return 1 if issues else 0
