"""The inventory: which hosts, how to reach them, which roles and vars they have.

`load_inventory(path, extra_vars)` reads the native YAML format or an Ansible
(kubespray) INI/YAML inventory, with group_vars/ and host_vars/ beside it.
"""

from k8sboot.inventory.listing import inventory_list
from k8sboot.inventory.load import load_inventory
from k8sboot.inventory.machines import apply_machines
from k8sboot.inventory.model import ROLE_GROUPS, Host, Inventory

__all__ = ["ROLE_GROUPS", "Host", "Inventory", "apply_machines", "inventory_list", "load_inventory"]
