"""What one run learns, phase by phase: typed, each field named after the phase that fills it.

The inventory decides the topology (plan.py); everything here is found out
while running: the binaries' versions, the hosts' facts, the images made
locally, the API client and the nodes as the API reports them. A phase that
reads a field before its phase ran gets an error naming that phase, not a
KeyError or a None deep inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from k8sboot.errors import K8sbootError

if TYPE_CHECKING:  # the kubernetes client takes half a second to import
    from kubernetes.client import ApiClient

    from k8sboot.binaries.resolve import ResolvedBinary
    from k8sboot.cluster_api import NodeView
    from k8sboot.upgrade.roll_plan import RollPlan

T = TypeVar("T")


@dataclass(frozen=True)
class ImageSet:
    """The archives every node imports, the sandbox (pause) image first."""

    sandbox_image: str
    archives: tuple[tuple[str, str], ...]  # (local archive, image name)

    def as_vars(self) -> list[dict[str, str]]:
        return [{"src": src, "name": name} for src, name in self.archives]


@dataclass
class Learned:
    binaries: dict[str, ResolvedBinary] | None = None  # phase "binaries"
    kube_version: str | None = None  # phase "binaries", read from the kube-* binaries themselves
    facts: dict[str, dict[str, Any]] | None = None  # phase "connect": host -> Ansible-style facts
    # phase "roll plan": host -> component -> sha256 of the binary installed there (None: not installed)
    installed: dict[str, dict[str, str | None]] | None = None
    roll: RollPlan | None = None  # phase "roll plan": binaries that change on hosts already running them
    images: ImageSet | None = None  # phase "images"
    # phase "etcd": no member had data, so this run made etcd anew: everything in it was written by
    # apiservers this run configured (with the encryption config: nothing to write again)
    etcd_created: bool = False
    api: ApiClient | None = None  # phase "control plane" (its RBAC step); made on demand otherwise
    # phase "nodes": nodes already running whose role would change something -> the handlers
    # (restarts) those changes notify; rolled, drained where needed, by the phase "roll nodes"
    node_changes: dict[str, set[str]] = field(default_factory=dict)
    nodes: dict[str, NodeView] = field(default_factory=dict)  # phase "wait for nodes Ready"

    @staticmethod
    def need(value: T | None, what: str, phase: str) -> T:
        if value is None:
            raise K8sbootError(f"internal: {what} is needed before the {phase!r} phase made it")
        return value
