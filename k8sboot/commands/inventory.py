"""`k8sboot inventory -i FILE --list`: the resolved inventory, as ansible-inventory prints it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from k8sboot.commands.context import build_context
from k8sboot.errors import InputError
from k8sboot.inventory import inventory_list


def run(args: argparse.Namespace) -> int:
    ctx = build_context(args)
    listing = jsonable(inventory_list(ctx.inventory))
    if args.host:
        hostvars = listing["_meta"]["hostvars"]
        if args.host not in hostvars:
            raise InputError(f"no host {args.host!r:.80} in the inventory", file=args.inventory)
        print(json.dumps(hostvars[args.host], indent=2, sort_keys=True, default=str))
    else:
        print(json.dumps(listing, indent=2, sort_keys=True, default=str))
    return 0


def jsonable(value: Any) -> Any:
    """Mapping keys as the JSON text will have them (strings), so that sort_keys never
    compares an int key with a str one (YAML allows `{1: a, b: c}`)."""
    if isinstance(value, dict):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    return json.dumps(key) if isinstance(key, (bool, int, float)) or key is None else str(key)
