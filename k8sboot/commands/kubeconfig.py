"""`k8sboot kubeconfig`: where the admin kubeconfig is, or merge it into ~/.kube/config."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.errors import InputError
from k8sboot.pki.files import PRIVATE_MODE, write_atomic
from k8sboot.plan import apiserver_urls
from k8sboot.reachability import first_answering


def merge_kubeconfig(source: Path, target: Path, name: str) -> None:
    """Add (or replace) this cluster's cluster/user/context entries, named after the cluster."""
    new = yaml.safe_load(source.read_text())
    cur = yaml.safe_load(target.read_text()) if target.exists() else None
    cur = cur or {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    cluster = {"name": name, "cluster": new["clusters"][0]["cluster"]}
    user = {"name": f"{name}-admin", "user": new["users"][0]["user"]}
    context = {"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}
    for key, entry in (("clusters", cluster), ("users", user), ("contexts", context)):
        items = [e for e in cur.get(key) or [] if e.get("name") != entry["name"]]
        cur[key] = items + [entry]
    cur["current-context"] = name
    target.parent.mkdir(parents=True, exist_ok=True)
    # 0600 from its first byte: the file holds the cluster's admin key
    write_atomic(target, yaml.safe_dump(cur, sort_keys=False).encode(), PRIVATE_MODE)


def point_at_live_apiserver(path: Path, servers: list[str]) -> str | None:
    """With several control planes: if the kubeconfig's apiserver does not answer, switch to one that does.

    Returns a note for the user when it switched (or found none answering).
    """
    data = yaml.safe_load(path.read_text())
    cluster = data["clusters"][0]["cluster"]
    current = str(cluster["server"])
    if len(servers) < 2:
        return None
    live = first_answering([current, *servers])
    if live is None:
        return f"no apiserver answers ({', '.join(servers)})"
    if live == current:
        return None
    cluster["server"] = live
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode(), PRIVATE_MODE)
    return f"{current} does not answer: the kubeconfig now points at {live}"


def run(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    path = ctx.state.admin_kubeconfig
    if not path.exists():
        raise InputError(f"cluster {ctx.inventory.name} has no kubeconfig yet ({path}): run `k8sboot up` first")
    note = point_at_live_apiserver(path, apiserver_urls(ctx.inventory))
    if note:
        ui.warn(note)
    if args.merge:
        target = Path(args.merge_into).expanduser()
        merge_kubeconfig(path, target, ctx.inventory.name)
        print(f"merged context {ctx.inventory.name!r} into {target} (now the current context)")
    else:
        print(path)
    return 0
