"""Every command that changes a cluster, as an ordered list of phases: read this file to know the order.

Each phase runs over the hosts it concerns, all of them in parallel, and is
idempotent: a second `up` with the same input changes nothing, and a command
cut short (Ctrl-C, a lost host) finishes when run again.
"""

from __future__ import annotations

from pathlib import Path

from k8sboot.binaries.components import KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER
from k8sboot.cluster_layout import CONTROL_PLANE, ETCD
from k8sboot.inventory.model import Host
from k8sboot.phases.api_access import ApiAccess
from k8sboot.phases.base import Phase
from k8sboot.phases.binaries import ResolveBinaries
from k8sboot.phases.cluster_identity import CheckClusterIdentity
from k8sboot.phases.connect import Connect
from k8sboot.phases.encrypt_secrets import EncryptSecrets
from k8sboot.phases.etcd_members import EtcdMembers, RemoveEtcdMember
from k8sboot.phases.etcd_restore import RestoreEtcd, StopControlPlane
from k8sboot.phases.images import Images
from k8sboot.phases.lifecycle import (
    DeleteNode,
    DestroyMachines,
    ForgetCluster,
    ResetHosts,
    StartMachines,
    StopMachines,
    StopServices,
)
from k8sboot.phases.make_plan import MakePlan
from k8sboot.phases.node_roll import NodeRoles, RollNodes
from k8sboot.phases.parallel import ConcurrentChains
from k8sboot.phases.pki import Pki
from k8sboot.phases.pod_cidrs import PodCidrs
from k8sboot.phases.pod_routes import PodRoutes
from k8sboot.phases.preflight import Preflight
from k8sboot.phases.provision import Provision
from k8sboot.phases.roles import RolePhase
from k8sboot.phases.roll_plan import PlanRoll
from k8sboot.phases.stage_binaries import StageBinaries
from k8sboot.phases.summary import Summary
from k8sboot.phases.wait_ready import WaitReady


def up_phases() -> list[Phase]:
    return [
        Provision(),                                      # VMs for hosts with a provider
        ResolveBinaries(),                                # check the user's binaries: before any host
        Connect(),                                        # SSH to every host, gather facts
        Preflight(),                                      # OS, swap, ports, kernel: before installing
        PlanRoll(),                                       # new builds on running hosts: the roll, skew, snapshot
        Images(),                                         # the pause image and other archives
        MakePlan(),                                       # roles, addresses, CIDRs, vars per host
        PodCidrs(),                                       # each node's pod CIDR, stable across reruns
        Pki(),                                            # CAs, certificates, kubeconfigs (local)
        ConcurrentChains("etcd + control plane | nodes | pod routes", [
            [
                ConcurrentChains("etcd | control plane binaries", [
                    [EtcdMembers()],                      # etcd members started or joined one by one; quorum
                    # fetched ahead, before the nodes' fetches crowd in (the control plane role installs them)
                    [StageBinaries(CONTROL_PLANE, (KUBE_APISERVER, KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER))],
                ]),
                # apiserver ready; where it already serves, changes roll one host at a time
                RolePhase("control plane", ["control_plane"], CONTROL_PLANE, rolling_unit="kube-apiserver"),
                ApiAccess(),                              # RBAC: apiserver -> kubelet
                EncryptSecrets(),                         # Secrets written before encryption: again
            ],
            # containerd, CNI, kubelet, kube-proxy on new nodes (they register once the apiserver is up);
            # nodes already running are previewed: what would change waits for "roll nodes"
            [NodeRoles()],
            # routes between the nodes' pod CIDRs: agents that wait for the apiserver, then follow the Nodes
            [PodRoutes()],
        ]),
        RollNodes(),                                      # changed nodes in batches: cordon, drain, role, Ready
        WaitReady(),                                      # every node Ready in the API
        Summary(),                                        # nodes table, kubeconfig path
    ]


def certs_renew_phases(renewing_pki: Phase) -> list[Phase]:
    # `certs renew` is `up` whose pki phase first re-issues the chosen leaves (`renewing_pki` runs
    # Pki itself after that): the roles then install the new files and restart what uses them,
    # running control planes and etcd members one at a time, running nodes through "roll nodes"
    return [renewing_pki if isinstance(phase, Pki) else phase for phase in up_phases()]


def etcd_restore_phases(snapshot: Path) -> list[Phase]:
    return [
        ResolveBinaries(), Connect(),
        CheckClusterIdentity(),                           # this state's CAs and keys on the hosts: before any stop
        Images(), MakePlan(),                             # the plan: names, URLs, dirs per host
        StopControlPlane(),                               # nothing writes while etcd is replaced
        RestoreEtcd(snapshot),                            # every member from the snapshot; quorum
        RolePhase("control plane", ["control_plane"], CONTROL_PLANE),  # started again, apiserver ready
        WaitReady(),                                      # every node Ready again
    ]


def stop_phases() -> list[Phase]:
    return [StopServices(), StopMachines()]                # units stopped, then the VMs shut down


def boot_phases() -> list[Phase]:
    # `start` = these, then up_phases(): idempotent, it starts what is stopped and waits for Ready
    return [StartMachines()]


def down_phases() -> list[Phase]:
    return [ResetHosts(), DestroyMachines(), ForgetCluster()]  # hosts as before `up`, no VMs, no state


def remove_node_phases(host: Host) -> list[Phase]:
    return [
        *([RemoveEtcdMember(host)] if host.in_group(ETCD) else []),  # refused if etcd would lose quorum
        DeleteNode(host),                                 # the Node object
        ResetHosts([host.name]),                          # then its host, as `down` leaves one
    ]
