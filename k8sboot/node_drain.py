"""Cordon, drain and uncordon a node for a rolling upgrade, through the `kubernetes` client.

What `kubectl drain --ignore-daemonsets --delete-emptydir-data` does, without needing
kubectl on the machine that runs k8sboot: pods leave through the Eviction API, so
PodDisruptionBudgets are honoured and the workload keeps serving while a node restarts.
A cordon k8sboot makes carries CORDON_ANNOTATION, so a rerun after a failure knows which
nodes it must uncordon and which an administrator cordoned on purpose.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

from k8sboot.cluster_api import list_nodes, read_node
from k8sboot.errors import K8sbootError

CORDON_ANNOTATION = "k8sboot.io/cordoned-for"
CORDON_REASON = "upgrade"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
REQUEST_TIMEOUT = 10.0  # seconds, per API call: a dead apiserver must not hang a drain
RETRY_INTERVAL = 1.0
LOG_INTERVAL = 10.0
PDB_BLOCKED = "a PodDisruptionBudget allows no eviction"

# Looked up at call time so tests can run a drain on a fake clock.
_sleep: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class PodRef:
    namespace: str
    name: str
    why: str  # why it is in its list: "DaemonSet", "mirror pod", "no controller", "ReplicaSet web-5f8..."

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class DrainPlan:
    evict: list[PodRef]
    skipped: list[PodRef]  # DaemonSet pods, mirror (static) pods, finished pods
    bare: list[PodRef]  # no controller: nothing recreates them; evicted only with force


class DrainError(K8sbootError):
    """A node could not be drained: names the node and the pods that blocked it."""

    def __init__(self, node: str, pods: Sequence[PodRef], reason: str, hint: str = ""):
        self.node = node
        self.pods = list(pods)
        super().__init__(f"{node}: cannot drain: {reason}: {_names(pods)}" + (f"; {hint}" if hint else ""))


def drain_plan(pods: list[Any], force: bool) -> DrainPlan:
    """Sort a node's pods into those to evict, to leave alone, and those nothing would recreate."""
    plan = DrainPlan(evict=[], skipped=[], bare=[])
    for pod in pods:
        meta = pod.metadata
        phase = pod.status.phase if pod.status else None
        controller = next((o for o in (meta.owner_references or []) if o.controller), None)
        if MIRROR_ANNOTATION in (meta.annotations or {}):
            # the kubelet runs it from a file; deleting the API copy does not stop it
            plan.skipped.append(PodRef(meta.namespace, meta.name, "mirror pod"))
        elif phase in ("Succeeded", "Failed"):
            plan.skipped.append(PodRef(meta.namespace, meta.name, phase))
        elif controller is not None and controller.kind == "DaemonSet":
            # its controller would put it straight back on the node, cordoned or not
            plan.skipped.append(PodRef(meta.namespace, meta.name, "DaemonSet"))
        elif controller is not None:
            plan.evict.append(PodRef(meta.namespace, meta.name, f"{controller.kind} {controller.name}"))
        elif force:
            plan.evict.append(PodRef(meta.namespace, meta.name, "no controller"))
        else:
            plan.bare.append(PodRef(meta.namespace, meta.name, "no controller"))
    return plan


def cordon(api: client.ApiClient, node: str) -> bool:
    """Mark the node unschedulable, as k8sboot's cordon. True if it changed anything.

    A node someone else already cordoned is left as it is, without the annotation:
    a later uncordon of k8sboot's cordons (cordoned_by_k8sboot) must not undo theirs.
    """
    # read without CoreV1Api (see cluster_api.read_node): it loads only for a change
    unschedulable, ours = _cordon_state(read_node(api, node, timeout=REQUEST_TIMEOUT))
    if unschedulable:
        return False
    annotations: dict[str, str | None] = {} if ours else {CORDON_ANNOTATION: CORDON_REASON}
    client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": True},
                                            "metadata": {"annotations": annotations}},
                                     _request_timeout=REQUEST_TIMEOUT)
    return True


def uncordon(api: client.ApiClient, node: str) -> bool:
    """Make the node schedulable again and drop k8sboot's mark. True if it changed anything."""
    unschedulable, ours = _cordon_state(read_node(api, node, timeout=REQUEST_TIMEOUT))
    if not unschedulable and not ours:
        return False
    # a strategic merge patch deletes a key whose value is null
    client.CoreV1Api(api).patch_node(node, {"spec": {"unschedulable": False},
                                            "metadata": {"annotations": {CORDON_ANNOTATION: None}}},
                                     _request_timeout=REQUEST_TIMEOUT)
    return True


def cordoned_by_k8sboot(api: client.ApiClient) -> list[str]:
    """Names of the nodes k8sboot cordoned and has not uncordoned yet."""
    # every rerun of `up` asks this: without CoreV1Api (see cluster_api.list_nodes)
    nodes = list_nodes(api, timeout=REQUEST_TIMEOUT).items or []
    return sorted(n.metadata.name for n in nodes
                  if n.metadata and n.metadata.name
                  and CORDON_ANNOTATION in (n.metadata.annotations or {}))


def drain(api: client.ApiClient, node: str, *, timeout: float, force: bool,
          log: Callable[[str], None]) -> list[PodRef]:
    """Evict the node's pods and wait until they are gone; returns the pods evicted.

    Expects the node cordoned already, or the scheduler may put pods back on it.
    """
    core = client.CoreV1Api(api)
    deadline = _monotonic() + timeout
    pods: list[Any] = core.list_pod_for_all_namespaces(
        field_selector=f"spec.nodeName={node}", _request_timeout=REQUEST_TIMEOUT).items or []
    plan = drain_plan(pods, force)
    if plan.bare:
        raise DrainError(node, plan.bare, "nothing would recreate these pods (no controller)",
                         "pass --force-drain to evict them anyway (they will not come back)")
    # the uid tells our pod from a namesake a StatefulSet creates in its place
    uids = {(p.metadata.namespace, p.metadata.name): p.metadata.uid for p in pods}
    _evict_all(core, node, plan.evict, deadline, timeout, log)
    _wait_gone(core, node, plan.evict, uids, deadline, timeout, log)
    return plan.evict


def _evict_all(core: client.CoreV1Api, node: str, pods: list[PodRef], deadline: float,
               timeout: float, log: Callable[[str], None]) -> None:
    # Every pass tries each pod still pending, so one pod held by its budget does not
    # keep the others on the node.
    pending = list(pods)
    last_log = float("-inf")
    while True:
        blocked = [p for p in pending if not _evict(core, node, p, log)]
        if not blocked:
            return
        now = _monotonic()
        if now >= deadline:
            raise DrainError(node, blocked, f"timed out after {timeout:g}s: {PDB_BLOCKED}")
        if now - last_log >= LOG_INTERVAL:
            log(f"{node}: {PDB_BLOCKED} yet, retrying until {timeout:g}s have passed: "
                f"{_names(blocked)}")
            last_log = now
        pending = blocked
        _sleep(RETRY_INTERVAL)


def _evict(core: client.CoreV1Api, node: str, pod: PodRef, log: Callable[[str], None]) -> bool:
    """One eviction request: True when the pod is on its way out, False when a budget holds it."""
    # The v1.20 apiserver serves Eviction only as policy/v1beta1 (policy/v1 came in 1.22).
    # The client validates this dict into its V1Eviction model, which serializes back to
    # exactly this JSON (a unit test checks the wire body).
    body: Any = {"apiVersion": "policy/v1beta1", "kind": "Eviction",
                 "metadata": {"name": pod.name, "namespace": pod.namespace}}
    try:
        core.create_namespaced_pod_eviction(pod.name, pod.namespace, body,
                                            _request_timeout=REQUEST_TIMEOUT)
    except ApiException as e:
        if e.status == 429:
            return False
        if e.status == 404:
            log(f"{node}: {pod} already gone")
            return True
        raise DrainError(node, [pod], f"eviction refused ({e.status} {_api_message(e)})") from e
    log(f"{node}: evicted {pod} ({pod.why})")
    return True


def _wait_gone(core: client.CoreV1Api, node: str, pods: list[PodRef],
               uids: dict[tuple[str, str], str | None], deadline: float, timeout: float,
               log: Callable[[str], None]) -> None:
    pending = list(pods)
    last_log = _monotonic()  # the evictions were just logged
    while True:
        pending = [p for p in pending if _still_there(core, p, uids.get((p.namespace, p.name)))]
        if not pending:
            return
        now = _monotonic()
        if now >= deadline:
            raise DrainError(node, pending, f"timed out after {timeout:g}s: evicted pods still terminating")
        if now - last_log >= LOG_INTERVAL:
            log(f"{node}: waiting for {len(pending)} evicted pod(s) to terminate: {_names(pending)}")
            last_log = now
        _sleep(RETRY_INTERVAL)


def _still_there(core: client.CoreV1Api, pod: PodRef, uid: str | None) -> bool:
    try:
        current = core.read_namespaced_pod(pod.name, pod.namespace, _request_timeout=REQUEST_TIMEOUT)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return current.metadata is not None and current.metadata.uid == uid


def _cordon_state(node: Any) -> tuple[bool, bool]:
    """(unschedulable, carries k8sboot's cordon mark)."""
    unschedulable = bool(node.spec and node.spec.unschedulable)
    ours = CORDON_ANNOTATION in ((node.metadata.annotations if node.metadata else None) or {})
    return unschedulable, ours


def _api_message(e: ApiException) -> str:
    """The apiserver's own words (the Status message), else the HTTP reason."""
    try:
        return str(json.loads(e.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return str(e.reason)


def _names(pods: Sequence[PodRef]) -> str:
    return ", ".join(str(p) for p in pods)
