"""`inventory --list`, in the shape `ansible-inventory --list` prints.

Host vars carry the native connection keys and, so that the output also works
as an Ansible dynamic inventory, the matching `ansible_*` vars.
"""

from __future__ import annotations

from typing import Any

from k8sboot.inventory.model import Host, Inventory


def inventory_list(inv: Inventory) -> dict[str, Any]:
    out: dict[str, Any] = {"_meta": {"hostvars": {n: host_vars(h) for n, h in inv.hosts.items()}}}
    groups = [g for g in inv.groups if g != "all"]
    out["all"] = {"children": groups}
    for group in groups:
        out[group] = {"hosts": list(inv.groups[group])}
    return out


def host_vars(host: Host) -> dict[str, Any]:
    out = dict(host.vars)
    out.update(address=host.address, port=host.port, user=host.user, key=host.key,
               become=host.become)
    if host.provider:
        out["provider"] = host.provider
    out.update(ansible_host=host.address, ansible_port=host.port, ansible_user=host.user,
               ansible_become=host.become)
    if host.key:
        out["ansible_ssh_private_key_file"] = host.key
    if host.bastion:
        b = host.bastion
        out["bastion"] = {"address": b.address, "port": b.port, "user": b.user, "key": b.key}
        jump = f"{b.user}@[{b.address}]:{b.port}" if ":" in b.address else f"{b.user}@{b.address}:{b.port}"
        # what Ansible's ssh connection reads (the jump host's key must then be in an agent)
        out["ansible_ssh_common_args"] = f"-o ProxyJump={jump}"
    return out
