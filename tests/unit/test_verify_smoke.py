"""k8sboot verify --smoke: the workload's objects and how a pod's state is told (no cluster)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from kubernetes import client

from k8sboot.health.smoke import workload
from k8sboot.health.smoke.image import PAGE, TAG, build_smoke_image

BUSYBOX = Path("/bin/busybox")


def test_each_pod_is_pinned_to_its_node_and_never_pulls():
    pod = workload.pod_manifest("wk2", TAG, 8080)
    assert pod.metadata.name == "smoke-wk2" and pod.spec.node_name == "wk2"
    [c] = pod.spec.containers
    assert c.image == TAG and c.image_pull_policy == "Never"
    assert pod.spec.tolerations[0].operator == "Exists"  # control-plane nodes run one too
    assert pod.metadata.labels == workload.service_manifest(8080).spec.selector


def pod(
    ready: bool = False, ip: str | None = None, waiting: str | None = None, phase: str = "Pending"
):
    statuses = None
    if waiting:
        statuses = [
            client.V1ContainerStatus(
                name="httpd",
                image=TAG,
                image_id="",
                ready=False,
                restart_count=0,
                state=client.V1ContainerState(
                    waiting=client.V1ContainerStateWaiting(reason=waiting, message="m")
                ),
            )
        ]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="smoke-wk1"),
        status=client.V1PodStatus(
            phase=phase,
            pod_ip=ip,
            container_statuses=statuses,
            conditions=[client.V1PodCondition(type="Ready", status="True" if ready else "False")],
        ),
    )


def test_pod_state_ready_needs_the_condition_and_an_ip():
    st = workload._state("wk1", pod(ready=True, ip="10.244.1.5", phase="Running"))
    assert st.ready and st.ip == "10.244.1.5" and st.problem == ""
    assert not workload._state("wk1", pod(ready=True, ip=None)).ready


def test_a_stuck_pod_says_why():
    st = workload._state("wk1", pod(waiting="ErrImageNeverPull"))
    assert not st.ready and st.problem.startswith("ErrImageNeverPull")
    assert st.problem.split(":")[0] in workload.STUCK
    assert workload._state("wk1", pod()).problem.startswith("phase Pending")


@pytest.mark.skipif(not BUSYBOX.is_file(), reason="needs busybox-static")
def test_the_image_serves_a_page_with_busybox_httpd(tmp_path):
    tar_path = build_smoke_image(tmp_path)
    first = tar_path.read_bytes()
    with tarfile.open(tar_path) as tar:
        [manifest] = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(manifest["Config"]))
        with tarfile.open(fileobj=tar.extractfile(manifest["Layers"][0])) as layer:
            assert layer.extractfile("www/index.html").read() == PAGE
    assert manifest["RepoTags"] == [TAG]
    assert config["config"]["Entrypoint"][:3] == ["/bin/busybox", "httpd", "-f"]
    assert build_smoke_image(tmp_path / "again").read_bytes() == first  # reproducible: same bytes
