"""`k8sboot stop | start | down | remove-node`: a cluster's life after `up`."""

from __future__ import annotations

import argparse

from k8sboot.cluster_layout import CONTROL_PLANE, ETCD
from k8sboot.commands import up as up_command
from k8sboot.commands.phased import confirmed, run_phased
from k8sboot.errors import InputError
from k8sboot.phases.base import Phase, RunContext
from k8sboot.phases.sequences import boot_phases, down_phases, remove_node_phases, stop_phases


def stop(args: argparse.Namespace) -> int:
    return run_phased(args, lambda ctx: stop_phases(),
                      "stopped: all state kept; `k8sboot start` brings it back")


def start(args: argparse.Namespace) -> int:
    # boot the machines, then `up`: idempotent, it starts what is stopped and waits for Ready
    run_phased(args, lambda ctx: boot_phases(), "machines booted")
    args.check = args.diff = False
    return up_command.run(args)


def down(args: argparse.Namespace) -> int:
    if not confirmed(args, "`down` resets every host and deletes the cluster's state",
                     "Reset every host, destroy the VMs and delete the cluster's state?"):
        return 0
    return run_phased(args, lambda ctx: down_phases(),
                "cluster removed")


def remove_node(args: argparse.Namespace) -> int:
    def phases(ctx: RunContext) -> list[Phase]:
        inv = ctx.inventory
        host = inv.hosts.get(args.name)
        if host is None:
            raise InputError(f"no host {args.name!r} in the inventory", file=str(inv.path))
        for group, what in ((CONTROL_PLANE, "control plane"), (ETCD, "etcd member")):
            if host.in_group(group) and len(inv.hosts_in(group)) == 1:
                raise InputError(f"{args.name} is the cluster's only {what}: `k8sboot down` removes a "
                                 f"whole cluster")
        return remove_node_phases(host)

    if not confirmed(args, f"remove-node resets {args.name}",
                     f"Remove {args.name} from the cluster and reset its host?"):
        return 0
    return run_phased(args, phases, f"{args.name} removed; take it out of the inventory and run `k8sboot up` "
                              f"(the other hosts then forget it)")
