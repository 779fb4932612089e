"""Inventory checks: each problem is one InputError naming the file and line.

Shape checks (unknown keys, ports, booleans) run while a dialect parses, where
the line is at hand; role checks run on the resolved inventory. Warnings are
things that work but are probably not what a production cluster wants.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from k8sboot import cluster_layout as layout
from k8sboot.booleans import parse_bool
from k8sboot.errors import InputError
from k8sboot.inventory.model import ROLE_GROUPS, Inventory
from k8sboot.inventory.yaml_lines import line_of

# Ansible's own truthy/falsy spellings (module_utils.parsing.convert_bool).


def suggest(word: Any, choices: Iterable[str]) -> str:
    """' did you mean X?' for the nearest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_keys(mapping: dict[str, Any], allowed: Iterable[str], what: str, file: str) -> None:
    allowed = list(allowed)
    for key in mapping:
        if key not in allowed:
            raise InputError(
                f"unknown {what} key {key!r}{suggest(key, allowed)} "
                f"(allowed: {', '.join(allowed)})",
                file=file, line=line_of(mapping, key))


def require_mapping(value: Any, what: str, file: str, line: int | None) -> dict[str, Any]:
    """None reads as empty (`vars:` with nothing under it); anything else must be a mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a mapping (key: value), not {_kind(value)}",
                         file=file, line=line)
    return value


def as_port(value: Any, what: str, file: str, line: int | None) -> int:
    port: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        port = value
    elif isinstance(value, str) and _ascii_digits(value.strip()):
        port = int(value)
    if port is None or not 1 <= port <= 65535:
        raise InputError(f"{what} must be an integer from 1 to 65535, not {value!r}",
                         file=file, line=line)
    return port


def _ascii_digits(text: str) -> bool:
    # str.isdigit() is true for "２２" and "²" too; int() takes the first, not the second
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


def as_bool(value: Any, what: str, file: str, line: int | None) -> bool:
    """As Ansible reads a boolean: yes/no, true/false, on/off, 1/0 (y/n, t/f), any case."""
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise InputError(f"{what} must be true or false (or yes/no, on/off, 1/0), not "
                     f"{short(value)}", file=file, line=line)


def check_roles(inv: Inventory, host_lines: dict[str, int | None], file: str) -> None:
    """Every host needs a role; the cluster needs a control plane and etcd."""
    for host in inv.hosts.values():
        if not any(host.in_group(g) for g in ROLE_GROUPS):
            raise InputError(
                f"host {host.name!r} is in no role group: put it in etcd, control_plane or "
                f"nodes (kube_control_plane / kube_node / etcd in kubespray inventories), "
                f"or remove it",
                file=file, line=host_lines.get(host.name))
    if not inv.groups.get(layout.CONTROL_PLANE):
        raise InputError(
            "no control plane host: put at least one host in the control_plane group "
            "(kube_control_plane in kubespray inventories)", file=file)
    if not inv.groups.get(layout.ETCD):
        raise InputError(
            "no etcd host: put at least one host (usually the control plane hosts) in the "
            "etcd group", file=file)


def role_warnings(inv: Inventory) -> list[str]:
    warnings: list[str] = []
    etcd = len(inv.groups.get(layout.ETCD, []))
    if etcd and etcd % 2 == 0:
        warnings.append(
            f"etcd has {etcd} members: an even count tolerates no more failures than one "
            f"fewer; use 1, 3 or 5")
    nodes = len(inv.groups.get(layout.NODES, []))
    if nodes < 3:
        warnings.append(
            f"only {nodes} host(s) in nodes: fine for a lab, but production clusters want "
            f"at least three")
    return warnings


def short(value: Any) -> str:
    """repr() of a value for a one-line message: quoted, escaped, at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {short(value)}"
    return f"{type(value).__name__} {short(value)}"
