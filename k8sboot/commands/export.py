"""`k8sboot export DIR`: the cluster as an Ansible playbook directory (k8sboot/export/ writes it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from k8sboot import ui
from k8sboot.commands.context import build_context
from k8sboot.export import ExportOptions, export_cluster


def run(args: argparse.Namespace) -> int:
    command = build_context(args)
    result = export_cluster(command, ExportOptions(
        dest=Path(args.dir),
        force=args.force,
        in_containers=args.in_containers,
        host_key_checking=not args.no_host_key_checking,
        inventory_arg=Path(args.inventory) if getattr(args, "inventory", None) else None,
    ))
    d = escape(str(result.dest))  # paths are the user's: a "[" in one is not markup
    ui.info(f"[green]exported cluster {command.inventory.name}[/] to {d}: "
            f"{result.hosts} host(s), plays: {', '.join(result.plays)}")
    ui.info(f"  site.yml, ansible.cfg, host_vars/ ({result.hosts} files), roles/, "
            f"templates/ ({result.templates}), files/ ({result.copied_files} PKI files and image archives)")
    if result.wrote_inventory:
        ui.info(f"  {escape(str(result.inventory))}: the inventory in Ansible's format (a native one is not)")
    ui.info("  binaries stay where k8sboot found them on this machine (k8sboot_binaries in host_vars)")
    ui.info("run:")
    print(f"  {result.command}")
    return 0
