"""From the command line to a CommandContext: the inventory file, -e, the user's directories."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from k8sboot import ui
from k8sboot.context import CommandContext
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.errors import InputError
from k8sboot.inventory import apply_machines, load_inventory
from k8sboot.inventory.model import Host, Inventory
from k8sboot.paths import INVENTORY_DIR, ROLES_DIR, TEMPLATES_DIR
from k8sboot.state import ClusterState


def _user_dirs(inv: Inventory, key: str, cli_value: list[str] | None) -> list[Path]:
    dirs: list[Path] = [Path(d).expanduser() for d in (cli_value or [])]
    configured = inv.cluster.get(key)
    if configured:
        for d in configured if isinstance(configured, list) else [configured]:
            p = Path(str(d)).expanduser()
            if not p.is_absolute() and inv.path is not None:
                p = inv.path.parent / p
            dirs.append(p)
    for d in dirs:
        if not d.is_dir():
            raise InputError(f"{key}: {d} is not a directory", file=str(inv.path) if inv.path else None)
    return dirs


def build_context(args: argparse.Namespace) -> CommandContext:
    # no -i: the default cluster, one local VM (like `minikube start`)
    path = Path(args.inventory) if getattr(args, "inventory", None) else INVENTORY_DIR / "local.yml"
    inv = load_inventory(path, getattr(args, "extra_vars", None) or [])
    for w in inv.warnings:
        ui.warn(w)
    state = ClusterState.for_cluster(inv.name, inv.cluster.get("state_dir"))
    apply_machines(inv, state.machines())
    _give_become_password(inv, getattr(args, "ask_become_pass", False))
    return CommandContext(
        inventory=inv,
        state=state,
        templates_dirs=_user_dirs(inv, "templates_dir", getattr(args, "templates", None)) + [TEMPLATES_DIR],
        roles_dirs=_user_dirs(inv, "roles_dir", getattr(args, "roles_path", None)) + [ROLES_DIR],
        accept_new_host_keys=getattr(args, "accept_new_host_keys", False),
        connect_timeout=getattr(args, "connect_timeout", 10.0),
        forks=getattr(args, "forks", DEFAULT_FORKS),
    )


BECOME_PASSWORD_ENV = "K8SBOOT_BECOME_PASSWORD"


def _give_become_password(inv: Inventory, ask: bool) -> None:
    """sudo's password for the hosts whose inventory gives none: asked once, or from the environment."""
    wanting = [h for h in inv.hosts.values() if h.become_password is None]
    if not wanting:
        return
    password = os.environ.get(BECOME_PASSWORD_ENV) or None
    if ask:
        if not sys.stdin.isatty():
            raise InputError(f"--ask-become-pass needs a terminal to ask on; set {BECOME_PASSWORD_ENV} "
                             f"in the environment instead")
        password = getpass.getpass("BECOME password: ")
    if password is not None:
        for host in wanting:
            host.become_password = password


def host_vars(host: Host) -> dict[str, Any]:
    """The vars a role sees for a host: its inventory vars plus its connection settings."""
    return {**host.vars, "address": host.address, "node_name": host.node_name}


def limit_hosts(inv: Inventory, limit: str | None) -> list[Host]:
    if not limit:
        return list(inv.hosts.values())
    names: list[str] = []
    for part in limit.split(","):
        part = part.strip()
        if part in inv.hosts:
            names.append(part)
        elif part in inv.groups:
            names.extend(inv.groups[part])
        elif part == "all":
            names.extend(inv.hosts)
        else:
            raise InputError(f"--limit: {part!r} is neither a host nor a group of the inventory")
    seen: dict[str, None] = dict.fromkeys(names)
    return [inv.hosts[n] for n in seen]
