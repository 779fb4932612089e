"""The cluster plan, made by k8sboot's own local phases, as `up` makes it: no host is contacted.

`up` runs binaries, connect, preflight, images, plan, pod CIDRs and pki before
any role; export runs the same phase objects (so the PKI, the pause image, the
pod CIDR record and the binaries manifest land in the cluster's state
directory exactly as `up` would leave them, and a later `up` reuses them),
except the two that need the hosts:

- connect: its facts are assumed instead (AssumedFacts). Of all facts the
  plan reads only the virtualization type: a system container gets
  containerd's restrict_oom_score_adj and no kubelet protectKernelDefaults.
  The default assumes VMs or machines; --in-containers assumes containers.
- preflight checks the hosts themselves: ansible-playbook gets no such check.

The pod CIDR phase keeps the allocation recorded in the state directory and
does not ask a running cluster's API about nodes the record lacks (that would
contact a host): see RecordedPodCidrs.
"""

from __future__ import annotations

from typing import Any

from k8sboot import ui
from k8sboot.context import CommandContext
from k8sboot.phases.base import Phase, RunContext, run_phases
from k8sboot.phases.binaries import ResolveBinaries
from k8sboot.phases.images import Images
from k8sboot.phases.make_plan import MakePlan
from k8sboot.phases.pki import Pki
from k8sboot.phases.pod_cidrs import PodCidrs
from k8sboot.plan import ClusterPlan

# what systemd-detect-virt prints in a container it cannot name; one of plan.CONTAINER_VIRT
CONTAINER_VIRT_TYPE = "container-other"
NO_VIRT_TYPE = "none"  # systemd-detect-virt's answer on a machine (a VM says kvm etc.: the same vars)


class AssumedFacts:
    """Stands in for the connect phase: every host's facts as the user says they are."""

    title = "facts (assumed: export contacts no host)"

    def __init__(self, in_containers: bool):
        self.in_containers = in_containers

    def run(self, ctx: RunContext) -> None:
        virt = CONTAINER_VIRT_TYPE if self.in_containers else NO_VIRT_TYPE
        facts: dict[str, dict[str, Any]] = {name: {"virtualization_type": virt} for name in ctx.inventory.hosts}
        ctx.learned.facts = facts
        ui.info(f"  every host taken to be {'a system container' if self.in_containers else 'a VM or machine'}"
                f" (virtualization_type {virt})")


class RecordedPodCidrs(PodCidrs):
    """The pod CIDR phase, without asking a running cluster's API (export contacts no host).

    For a node the state directory's record lacks, the lowest free subnet is
    taken, as on a first `up`. Only a node that some other tool already gave
    a different pod CIDR could disagree; k8sboot then keeps the record's for
    the routes, as `up` does once the record exists.
    """

    @staticmethod
    def _observed(ctx: RunContext) -> dict[str, str]:
        return {}


def local_phases(in_containers: bool) -> list[Phase]:
    # up_phases()' order (phases/sequences.py), host-contacting phases left out or stood in for
    return [ResolveBinaries(), AssumedFacts(in_containers), Images(), MakePlan(), RecordedPodCidrs(), Pki()]


def local_plan(command: CommandContext, in_containers: bool) -> ClusterPlan:
    options = command.run_options(forks=command.forks)
    ctx = RunContext(command, command.pool(), options, ui.Reporter(verbose=0, diff=False, live=False))
    run_phases(local_phases(in_containers), ctx)  # closes the pool it never opened a connection in
    return ctx.plan
