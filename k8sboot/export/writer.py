"""Export, start to end: the plan made locally, then every file of DIR."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from k8sboot.context import CommandContext
from k8sboot.export import target, unsafe_yaml
from k8sboot.export.ansible_cfg import ansible_cfg
from k8sboot.export.files import ExportedFiles
from k8sboot.export.host_vars import host_vars
from k8sboot.export.inventory_file import ansible_groups, is_native, native_inventory
from k8sboot.export.local_plan import local_plan
from k8sboot.export.playbook import ROLES_USED, header, plays
from k8sboot.export.sources import copy_roles, copy_templates, user_templates_over_roles


@dataclass
class ExportOptions:
    dest: Path
    force: bool = False
    in_containers: bool = False
    host_key_checking: bool = True
    # the inventory as the user named it (-i): a kubespray directory stays a directory for Ansible
    inventory_arg: Path | None = None


@dataclass
class ExportResult:
    dest: Path
    inventory: Path  # what ansible-playbook is given with -i
    wrote_inventory: bool  # DIR/inventory.yml, for a native inventory
    command: str
    hosts: int
    plays: list[str] = field(default_factory=list)
    copied_files: int = 0
    templates: int = 0


def run_command(dest: Path, inventory: Path) -> str:
    q = shlex.quote
    return (f"ANSIBLE_CONFIG={q(str(dest / target.ANSIBLE_CFG))} ansible-playbook -i {q(str(inventory))} "
            f"{q(str(dest / target.SITE))}")


def export_cluster(command: CommandContext, options: ExportOptions) -> ExportResult:
    inv = command.inventory
    dest = target.check(options.dest, options.force)  # refused before any work
    native = is_native(inv)
    known_groups = ansible_groups(inv)
    plan = local_plan(command, options.in_containers)
    target.clear(dest)

    files = ExportedFiles(dest / target.FILES, plan.pki_dir)
    vars_header = "# Written by `k8sboot export`: the vars k8sboot's plan gives this host.\n"
    for host in inv.hosts.values():
        unsafe_yaml.write(dest / target.HOST_VARS / f"{host.name}.yml", host_vars(plan, host, files), vars_header)

    copy_roles(ROLES_USED, command.roles_dirs, dest / target.ROLES)
    templates = copy_templates(command.templates_dirs, dest / target.TEMPLATES)
    user_templates_over_roles(command.templates_dirs[:-1], dest / target.ROLES)  # the last: the shipped

    if native:
        unsafe_yaml.write(dest / target.INVENTORY, native_inventory(inv),
                          "# Written by `k8sboot export`: the native inventory in Ansible's YAML format.\n")
        inventory = dest / target.INVENTORY
    else:
        inventory = (options.inventory_arg or inv.path or Path()).expanduser().absolute()
    command_line = run_command(dest, inventory)

    site = plays(plan, known_groups)
    (dest / target.SITE).write_text(
        header(plan, command_line, options.in_containers)
        + unsafe_yaml.dump_plain(site))
    (dest / target.ANSIBLE_CFG).write_text(ansible_cfg(len(inv.hosts), options.host_key_checking, native))
    return ExportResult(dest=dest, inventory=inventory, wrote_inventory=native, command=command_line,
                        hosts=len(inv.hosts), plays=[str(p["name"]) for p in site],
                        copied_files=files.count, templates=templates)
