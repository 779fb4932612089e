"""Each host's vars as ansible-playbook must see them: the plan's and the inventory's.

k8sboot hands a role `plan.vars_for_host(host)`: the plan's vars with the
inventory's own (already resolved: all < group < host < -e) on top. Written
as host_vars beside the playbook they outrank the inventory's group and host
vars in Ansible too, so both tools see one value per var whatever the
inventory's layering. Left out: the connection settings (ansible_host,
ansible_user, ansible_become, ansible_ssh_*, a bastion), which stay the
inventory's business: ansible-playbook reads them from the inventory it is
given, where the user may change them without exporting again.
"""

from __future__ import annotations

from typing import Any

from k8sboot.export.files import ExportedFiles, rewrite_file_vars
from k8sboot.inventory.model import Host
from k8sboot.inventory.raw import BASTION_VAR
from k8sboot.plan import ClusterPlan

# the plan's stand-ins for Ansible facts: the roles read them, so they stay
PLAN_FACTS = frozenset({"ansible_virtualization_type", "ansible_virtualization_role"})


def is_connection_var(name: str) -> bool:
    return (name.startswith("ansible_") and name not in PLAN_FACTS) or name == BASTION_VAR


def host_vars(plan: ClusterPlan, host: Host, files: ExportedFiles) -> dict[str, Any]:
    out = {k: v for k, v in plan.vars_for_host(host).items() if not is_connection_var(k)}
    return rewrite_file_vars(out, files)
