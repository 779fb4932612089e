"""`k8sboot inventory -i FILE --list`: the resolved inventory, as ansible-inventory prints it."""

from __future__ import annotations

import json
from typing import Any

from k8sboot.commands.context import build_context
from k8sboot.errors import InputError
from k8sboot.inventory import inventory_list


def run(args: Any) -> int:
    ctx = build_context(args)
    listing = inventory_list(ctx.inventory)
    if args.host:
        hostvars = listing["_meta"]["hostvars"]
        if args.host not in hostvars:
            raise InputError(f"no host {args.host!r} in the inventory", file=args.inventory)
        print(json.dumps(hostvars[args.host], indent=2, sort_keys=True, default=str))
    else:
        print(json.dumps(listing, indent=2, sort_keys=True, default=str))
    return 0
