"""Which inventory ansible-playbook reads, and the group names a play can use in it.

An Ansible INI/YAML inventory (kubespray's) is given to ansible-playbook as it
is. A native k8sboot inventory is not Ansible's format: export writes
DIR/inventory.yml from `k8sboot inventory --list` (listing.py: already
ansible-inventory's shape), keeping only the connection vars: the rest is in
host_vars.
"""

from __future__ import annotations

from typing import Any

from k8sboot.inventory.listing import inventory_list
from k8sboot.inventory.load import parse_file
from k8sboot.inventory.model import Inventory
from k8sboot.inventory.raw import ROLE_ALIASES


def is_native(inv: Inventory) -> bool:
    return inv.path is None or parse_file(inv.path).dialect == "native"


def ansible_groups(inv: Inventory) -> set[str]:
    """The group names ansible-playbook will know: the file's own, or all of k8sboot's for inventory.yml."""
    if is_native(inv):
        return set(inv.groups)
    assert inv.path is not None
    return {*parse_file(inv.path).groups, "all"}


def host_pattern(inv: Inventory, role_group: str, known: set[str]) -> str:
    """A play's `hosts:` for a role group: every group name Ansible knows that means it
    (control_plane:kube_control_plane), or the host names when those groups would not
    hold exactly the hosts k8sboot gives the role."""
    wanted = [h.name for h in inv.hosts_in(role_group)]
    names = [g for g in inv.groups if g in known and ROLE_ALIASES.get(g, g) == role_group]
    covered = {h for g in names for h in inv.groups[g]}
    if names and covered == set(wanted):
        return ":".join(names)
    return ",".join(wanted)


def native_inventory(inv: Inventory) -> dict[str, Any]:
    """Ansible's YAML inventory format: every host with its connection vars, every group."""
    listing = inventory_list(inv)
    hostvars = listing["_meta"]["hostvars"]
    children: dict[str, Any] = {}
    for group in listing["all"]["children"]:
        members = listing[group]["hosts"]
        children[group] = {"hosts": {h: None for h in members}} if members else {}
    return {"all": {
        "hosts": {name: {k: v for k, v in hv.items() if k.startswith("ansible_") and v is not None}
                  for name, hv in hostvars.items()},
        "children": children,
    }}
