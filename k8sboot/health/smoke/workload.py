"""The smoke workload through the API: one pod pinned to each node and a ClusterIP Service.

Everything lives in one namespace, so removing it removes everything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kubernetes import client
from kubernetes.client.rest import ApiException

NAMESPACE = "k8sboot-smoke"
APP_LABEL = {"app.kubernetes.io/name": "k8sboot-smoke", "app.kubernetes.io/managed-by": "k8sboot"}
# waiting reasons that will not fix themselves: report them at once instead of timing out
POD_GONE_TIMEOUT = (
    20.0  # seconds the kubelets get to stop the pods before their objects are removed
)
STUCK = {
    "ErrImageNeverPull",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerError",
    "CreateContainerConfigError",
    "RunContainerError",
}


@dataclass
class PodState:
    node: str
    name: str
    ip: str | None = None
    ready: bool = False
    problem: str = ""  # why it is not ready (empty when ready)


def pod_name(node: str) -> str:
    return f"smoke-{node}"[:63]


def pod_manifest(node: str, image: str, port: int) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=pod_name(node), labels=APP_LABEL),
        spec=client.V1PodSpec(
            node_name=node,  # pinned: the scheduler is not what is being tested
            tolerations=[client.V1Toleration(operator="Exists")],  # control-plane nodes too
            # httpd as PID 1 ignores SIGTERM: do not wait the default 30 s for it
            termination_grace_period_seconds=1,
            automount_service_account_token=False,  # it needs no API access
            containers=[
                client.V1Container(
                    name="httpd",
                    image=image,
                    image_pull_policy="Never",
                    ports=[client.V1ContainerPort(container_port=port)],
                    readiness_probe=client.V1Probe(
                        tcp_socket=client.V1TCPSocketAction(port=port), period_seconds=1
                    ),
                )
            ],
        ),
    )


def service_manifest(port: int) -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name="smoke", labels=APP_LABEL),
        spec=client.V1ServiceSpec(
            type="ClusterIP",
            selector=APP_LABEL,
            ports=[client.V1ServicePort(port=port, target_port=port)],
        ),
    )


def _delete(call, *args: object, **kwargs: object) -> None:
    """A delete call; already gone is fine. The answer is not parsed: the generated client
    expects the object back, 1.20 sends a Status for some kinds (Services) and parsing fails."""
    try:
        call(*args, _preload_content=False, **kwargs)
    except ApiException as e:
        if e.status != 404:
            raise


def _stopped(pod: client.V1Pod) -> bool:
    """True when no container of the pod runs any more (or none ever started)."""
    statuses = pod.status.container_statuses if pod.status else None
    if not pod.spec.node_name or not statuses:
        return True
    return all(cs.state is None or cs.state.running is None for cs in statuses)


def delete_pods(core: client.CoreV1Api, deadline: float) -> bool:
    """Stop the pods gracefully, then drop their objects; True if all were gone by deadline.

    A kubelet reports a container's end within a second or two but confirms the pod's
    deletion only at its next status sync (up to 10 s later): once the containers are
    seen stopped, removing the object does not wait for that bookkeeping.
    """
    _delete(core.delete_collection_namespaced_pod, NAMESPACE, grace_period_seconds=1)
    polite = min(deadline, time.monotonic() + POD_GONE_TIMEOUT)
    while pods := core.list_namespaced_pod(NAMESPACE).items:
        for pod in pods:
            # after POD_GONE_TIMEOUT, a node that cannot confirm (kubelet or runtime down)
            # would keep the namespace terminating for ever: drop its pod regardless
            if _stopped(pod) or time.monotonic() > polite:
                _delete(core.delete_namespaced_pod, pod.metadata.name, NAMESPACE,
                        grace_period_seconds=0)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def delete_namespace(core: client.CoreV1Api, timeout: float = 90.0) -> bool:
    """Delete the namespace and wait until it is gone; True if gone in time.

    The pods go first: the namespace controller then finds the namespace empty and
    finishes in one pass, where left to itself it requeues with backoff while the
    pods terminate (about 16 s here, against 6 this way).
    """
    deadline = time.monotonic() + timeout
    if not delete_pods(core, deadline):
        return False
    _delete(core.delete_namespaced_service, "smoke", NAMESPACE)
    _delete(core.delete_namespace, NAMESPACE)
    while time.monotonic() < deadline:
        try:
            core.read_namespace(NAMESPACE)
        except ApiException as e:
            if e.status == 404:
                return True
            raise
        time.sleep(0.5)
    return False


def create(core: client.CoreV1Api, nodes: list[str], image: str, port: int) -> str:
    """Namespace, Service and one pod per node; returns the Service's ClusterIP."""
    if not delete_namespace(core):  # a leftover from an interrupted run
        raise RuntimeError(f"namespace {NAMESPACE} from an earlier run is still terminating")
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE, labels=APP_LABEL))
    )
    # pods need the namespace's "default" service account, which a controller makes
    # after a while (seconds): make it now (the controller then finds it there)
    try:
        core.create_namespaced_service_account(
            NAMESPACE,
            client.V1ServiceAccount(
                metadata=client.V1ObjectMeta(name="default"), automount_service_account_token=False
            ),
        )
    except ApiException as e:
        if e.status != 409:
            raise
    svc = core.create_namespaced_service(NAMESPACE, service_manifest(port))
    for node in nodes:
        _create_pod(core, pod_manifest(node, image, port))
    return str(svc.spec.cluster_ip)


def _create_pod(core: client.CoreV1Api, pod: client.V1Pod, timeout: float = 20.0) -> None:
    # a namespace a moment old has no "default" service account yet: the apiserver
    # says so (500 with retryAfterSeconds, or 403) until the controller makes it
    deadline = time.monotonic() + timeout
    while True:
        try:
            core.create_namespaced_pod(NAMESPACE, pod)
            return
        except ApiException as e:
            if (
                e.status not in (403, 500)
                or "service account" not in (e.body or "")
                or time.monotonic() > deadline
            ):
                raise
            time.sleep(0.3)


def _state(node: str, pod: client.V1Pod) -> PodState:
    st = PodState(node, pod.metadata.name, pod.status.pod_ip)
    ready = next((c for c in pod.status.conditions or [] if c.type == "Ready"), None)
    st.ready = bool(ready and ready.status == "True" and st.ip)
    if st.ready:
        return st
    for cs in pod.status.container_statuses or []:
        waiting = cs.state.waiting if cs.state else None
        if waiting and waiting.reason:
            st.problem = f"{waiting.reason}: {waiting.message or ''}".rstrip(": ")
            return st
        terminated = cs.state.terminated if cs.state else None
        if terminated:
            st.problem = f"container exited ({terminated.reason or terminated.exit_code})"
            return st
    st.problem = f"phase {pod.status.phase}" + (
        f", {ready.reason or ''} {ready.message or ''}".rstrip() if ready else ""
    )
    return st


def _last_event(core: client.CoreV1Api, pod: str) -> str:
    try:
        events = core.list_namespaced_event(
            NAMESPACE, field_selector=f"involvedObject.name={pod}"
        ).items
    except ApiException:
        return ""
    if not events:
        return ""
    e = max(
        events, key=lambda ev: ev.last_timestamp or ev.event_time or ev.metadata.creation_timestamp
    )
    return f"{e.reason}: {e.message}"


def wait_ready(
    core: client.CoreV1Api, nodes: list[str], timeout: float = 90.0
) -> dict[str, PodState]:
    """Each node's pod: ready, stuck (at once), or whatever it was when time ran out."""
    deadline = time.monotonic() + timeout
    states: dict[str, PodState] = {}
    while True:
        pods = {p.metadata.name: p for p in core.list_namespaced_pod(NAMESPACE).items}
        states = {
            n: _state(n, pods[pod_name(n)])
            if pod_name(n) in pods
            else PodState(n, pod_name(n), problem="the pod does not exist")
            for n in nodes
        }
        pending = [
            s for s in states.values() if not s.ready and s.problem.split(":")[0] not in STUCK
        ]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for s in states.values():
        if not s.ready:
            event = _last_event(core, s.name)
            s.problem += (f" (after {timeout:.0f}s)" if s in pending else "") + (
                f"; last event {event}" if event else ""
            )
    return states
