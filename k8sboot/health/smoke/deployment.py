"""The smoke run from start to end: image on every node, workload up, and removed again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.pool import ConnectionPool
from k8sboot.inventory.model import Host
from k8sboot.health.smoke import workload
from k8sboot.health.smoke.image import PAGE, PORT, TAG, build_smoke_image
from k8sboot.health.smoke.load import import_image
from k8sboot.health.smoke.workload import PodState
from k8sboot.state import ClusterState


@dataclass
class SmokeDeployment:
    """What the smoke checks look at, by inventory host name."""

    nodes: dict[str, str]  # host -> node name
    import_errors: dict[str, str] = field(default_factory=dict)
    pods: dict[str, PodState] = field(default_factory=dict)
    service_ip: str = ""
    page: bytes = PAGE
    port: int = PORT

    def ready_pods(self) -> list[tuple[str, PodState]]:
        return [(h, p) for h, p in self.pods.items() if p.ready and p.ip]


def deploy(
    hosts: list[Host],
    state: ClusterState,
    api: Any,
    connect_timeout: float = 10.0,
    ready_timeout: float = 90.0,
) -> SmokeDeployment:
    """Import the image on every node (in parallel), then one pod per node and the Service."""
    archive = build_smoke_image(state.ensure().root / "images")
    run = SmokeDeployment({h.name: h.node_name for h in hosts})
    with (
        ConnectionPool(KnownHosts(state.known_hosts), connect_timeout) as pool,
        ThreadPoolExecutor(max_workers=max(1, min(10, len(hosts)))) as ex,
    ):
        errors = ex.map(lambda h: import_image(pool.get(h), archive, TAG), hosts)
        run.import_errors = {h.name: e for h, e in zip(hosts, errors) if e}
    core = client.CoreV1Api(api)
    # a node without the image would only show ErrImageNeverPull: its import error says more
    usable = [h for h in hosts if h.name not in run.import_errors]
    run.service_ip = workload.create(core, [h.node_name for h in usable], TAG, PORT)
    states = (
        workload.wait_ready(core, [h.node_name for h in usable], ready_timeout) if usable else {}
    )
    for h in hosts:
        if h.name in run.import_errors:
            run.pods[h.name] = PodState(
                h.node_name,
                workload.pod_name(h.node_name),
                problem=f"not started: the image is not on {h.name}",
            )
        else:
            run.pods[h.name] = states[h.node_name]
    return run


def remove(api: Any) -> bool:
    """Delete the namespace (pods, Service) and wait for it to go; True if it went."""
    return workload.delete_namespace(client.CoreV1Api(api))
