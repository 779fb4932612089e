"""DIR/ansible.cfg: ansible-playbook tuned as Ansible users tune it.

ansible-playbook reads ansible.cfg from the current directory (or from
$ANSIBLE_CONFIG), not from beside the playbook: the printed command sets
ANSIBLE_CONFIG. Relative paths in it are taken from its own directory.
"""

from __future__ import annotations

MIN_FORKS = 5  # Ansible's default: never fewer


def ansible_cfg(hosts: int, host_key_checking: bool, native_inventory: bool) -> str:
    lines = [
        "# Written by `k8sboot export`.",
        "[defaults]",
        # a native k8sboot inventory is not Ansible's format: its translation is beside this file
        *(["inventory = inventory.yml"] if native_inventory else []),
        "roles_path = roles",
        f"forks = {max(MIN_FORKS, hosts)}",  # every host at once, as k8sboot works
        f"host_key_checking = {host_key_checking}",
        "gathering = explicit",  # the plays say gather_facts: false; this keeps it so for ad-hoc runs
        "interpreter_python = auto_silent",
        "retry_files_enabled = False",
        "",
        "[ssh_connection]",
        "pipelining = True",  # one SSH round trip per task instead of several
    ]
    return "\n".join(lines) + "\n"
