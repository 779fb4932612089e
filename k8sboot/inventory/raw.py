"""The dialect-neutral inventory as parsed, before vars are resolved.

Each dialect (native YAML, Ansible INI, Ansible YAML) fills one `RawInventory`;
`resolve.py` then applies var precedence the same way for all of them. Line
numbers ride along so that checks made after parsing can still point at a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from k8sboot import cluster_layout as layout
from k8sboot.errors import InputError
from k8sboot.inventory.validate import short
from k8sboot.inventory.values import check_name, check_vars
from k8sboot.inventory.yaml_lines import line_of

# Connection settings and the Ansible vars that carry them (first name is canonical).
# Native host keys are fed into the var chain under the canonical name, so an
# Ansible-style `ansible_user` in group_vars or `-e` works for every dialect.
CONNECTION_VARS: dict[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "key": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "become": ("ansible_become",),
}

# kubespray's group names -> k8sboot's role groups (the original names are kept too).
ROLE_ALIASES: dict[str, str] = {
    "kube_control_plane": layout.CONTROL_PLANE,
    "kube-master": layout.CONTROL_PLANE,
    "kube_master": layout.CONTROL_PLANE,
    "kube_node": layout.NODES,
    "kube-node": layout.NODES,
}


# kubespray's group for the jump host in front of the cluster (its host is not a member)
BASTION_GROUP = "bastion"
# a native `bastion:` rides the precedence chain under this name (a JumpSpec, see bastion.py)
BASTION_VAR = "k8sboot_bastion"
# Ansible's ssh options, where its users write ProxyJump / -J / ProxyCommand
SSH_ARGS_VARS = ("ansible_ssh_extra_args", "ansible_ssh_common_args")  # the first wins
# sudo's password: taken out of the vars at once, so no listing, log or state file shows it
BECOME_PASSWORD_VARS = ("ansible_become_password", "ansible_become_pass")


def settings_as_vars(settings: dict[str, Any]) -> dict[str, Any]:
    """Native connection keys under their Ansible var names, for the precedence chain."""
    out = {CONNECTION_VARS[k][0]: v for k, v in settings.items() if k in CONNECTION_VARS}
    if "bastion" in settings:
        out[BASTION_VAR] = settings["bastion"]
    return out


@dataclass
class RawHost:
    name: str
    line: int | None
    vars: dict[str, Any] = field(default_factory=dict)  # host-level vars written inline
    # native connection keys (address, port, user, key, become) written on the host;
    # they beat the host's own vars, as an explicit setting should
    settings: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None
    # where each var was first set, so a conflicting second definition can name both lines
    var_lines: dict[str, int | None] = field(default_factory=dict)


@dataclass
class RawGroup:
    name: str
    line: int | None
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawInventory:
    file: str
    dialect: str  # "native", "ansible-ini" or "ansible-yaml"
    cluster: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)  # native connection defaults
    all_vars: dict[str, Any] = field(default_factory=dict)
    hosts: dict[str, RawHost] = field(default_factory=dict)  # in file order
    groups: dict[str, RawGroup] = field(default_factory=dict)  # never contains "all"

    def group(self, name: str, line: int | None) -> RawGroup:
        if name not in self.groups:
            # group_vars/NAME is read from disk: a '/' would leave the inventory's directory
            check_name(name, "group", self.file, line)
            self.groups[name] = RawGroup(name, line)
        return self.groups[name]

    def add_group_vars(self, name: str, line: int | None, group_vars: dict[str, Any]) -> None:
        """Vars written inline for a group ("all" means the all level)."""
        check_vars(group_vars, f"group {name!r} vars", self.file, line)
        (self.all_vars if name == "all" else self.group(name, line).vars).update(group_vars)

    def add_host(self, name: str, line: int | None, host_vars: dict[str, Any]) -> RawHost:
        """Define (or re-mention) a host; a second definition may add vars, not contradict them."""
        host = self.hosts.get(name)
        if host is None:
            # host_vars/NAME.yml and the state dir's per-host files are named after it
            check_name(name, "host", self.file, line)
            host = self.hosts[name] = RawHost(name, line)
        check_vars(host_vars, f"host {name!r}", self.file, line)
        for key, value in host_vars.items():
            where = line_of(host_vars, key) or line
            if key in host.vars and host.vars[key] != value:
                first = host.var_lines.get(key)
                raise InputError(
                    f"host {name!r} is defined twice with different values for {key!r} "
                    f"({short(host.vars[key])} on line {first}, {short(value)} here): set its vars in "
                    f"one place and list only the name elsewhere",
                    file=self.file, line=where)
            host.vars[key] = value
            host.var_lines.setdefault(key, where)
        return host
