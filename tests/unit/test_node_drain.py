"""node_drain: the drain plan, and cordon/drain/uncordon against a fake CoreV1Api on a fake clock.

Node reads go through cluster_api.list_nodes/read_node (no CoreV1Api); the fake answers
them too, with the same timeout checks (test_cluster_api_nodes covers the helpers' wire).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from k8sboot import node_drain
from k8sboot.node_drain import (
    CORDON_ANNOTATION,
    DrainError,
    PodRef,
    cordon,
    cordoned_by_k8sboot,
    drain,
    drain_plan,
    uncordon,
)


def pod(name: str, *, ns: str = "default", owner: tuple[str, str] | None = None,
        controller: bool = True, phase: str = "Running", mirror: bool = False,
        uid: str | None = None) -> client.V1Pod:
    refs = None
    if owner:
        refs = [client.V1OwnerReference(api_version="apps/v1", kind=owner[0], name=owner[1],
                                        uid=f"uid-{owner[1]}", controller=controller)]
    annotations = {"kubernetes.io/config.mirror": "abc123"} if mirror else None
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, namespace=ns, owner_references=refs,
                                     annotations=annotations, uid=uid or f"uid-{name}"),
        status=client.V1PodStatus(phase=phase),
    )


# --- drain_plan -------------------------------------------------------------------------------

def test_plan_sorts_pods_like_kubectl_drain_ignore_daemonsets() -> None:
    pods = [
        pod("proxy-x", ns="kube-system", owner=("DaemonSet", "kube-proxy")),
        pod("kube-apiserver-cp1", ns="kube-system", mirror=True),
        pod("job-abc", owner=("Job", "job"), phase="Succeeded"),
        pod("crashed", phase="Failed"),
        pod("web-5f8-abc", owner=("ReplicaSet", "web-5f8")),
        pod("db-0", owner=("StatefulSet", "db")),
        pod("lonely"),
    ]
    plan = drain_plan(pods, force=False)
    assert plan.evict == [PodRef("default", "web-5f8-abc", "ReplicaSet web-5f8"),
                          PodRef("default", "db-0", "StatefulSet db")]
    assert plan.skipped == [PodRef("kube-system", "proxy-x", "DaemonSet"),
                            PodRef("kube-system", "kube-apiserver-cp1", "mirror pod"),
                            PodRef("default", "job-abc", "Succeeded"),
                            PodRef("default", "crashed", "Failed")]
    assert plan.bare == [PodRef("default", "lonely", "no controller")]


def test_plan_with_force_evicts_bare_pods() -> None:
    plan = drain_plan([pod("lonely"), pod("web-1", owner=("ReplicaSet", "web"))], force=True)
    assert [str(p) for p in plan.evict] == ["default/lonely", "default/web-1"]
    assert plan.bare == []
    assert plan.skipped == []


def test_plan_owner_that_is_not_the_controller_leaves_the_pod_bare() -> None:
    plan = drain_plan([pod("adopted", owner=("ReplicaSet", "web"), controller=False)], force=False)
    assert plan.bare == [PodRef("default", "adopted", "no controller")]


def test_podref_prints_as_namespace_slash_name() -> None:
    assert str(PodRef("kube-system", "coredns-1", "ReplicaSet coredns")) == "kube-system/coredns-1"


# --- fakes ------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def api_error(status: int, message: str = "") -> ApiException:
    e = ApiException(status=status, reason={404: "Not Found", 429: "Too Many Requests"}.get(status, "Error"))
    if message:
        e.body = json.dumps({"kind": "Status", "message": message})
    return e


class FakeCore:
    """The few CoreV1Api calls node_drain makes, and its Node reads; every call must carry a timeout."""

    def __init__(self, pods: list[client.V1Pod] | None = None,
                 nodes: list[client.V1Node] | None = None) -> None:
        self.pods = pods or []
        self.nodes = {n.metadata.name: n for n in nodes or []}
        self.eviction_answers: dict[str, list[int]] = {}  # pod name -> statuses, then 201
        self.read_answers: dict[str, list[str | int]] = {}  # "there" / "replaced" / 404, then 404
        self.evictions: list[tuple[str, str, Any]] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.selectors: list[str] = []
        self.made = 0  # CoreV1Api objects node_drain asked for (reads need none)

    def list_pod_for_all_namespaces(self, *, field_selector: str, _request_timeout: float) -> client.V1PodList:
        self.selectors.append(field_selector)
        return client.V1PodList(items=self.pods)

    def create_namespaced_pod_eviction(self, name: str, namespace: str, body: Any, *,
                                       _request_timeout: float) -> None:
        self.evictions.append((namespace, name, body))
        answers = self.eviction_answers.get(name, [])
        if answers:
            status = answers.pop(0)
            if status != 201:
                raise api_error(status, "Cannot evict pod as it would violate the pod's disruption budget.")

    def read_namespaced_pod(self, name: str, namespace: str, *, _request_timeout: float) -> client.V1Pod:
        answers = self.read_answers.get(name, [])
        answer = answers.pop(0) if answers else 404
        if answer == 404:
            raise api_error(404)
        return pod(name, ns=namespace, uid="uid-new" if answer == "replaced" else None)

    def read_node(self, name: str, *, _request_timeout: float) -> client.V1Node:
        return self.nodes[name]

    def list_node(self, *, _request_timeout: float) -> client.V1NodeList:
        return client.V1NodeList(items=list(self.nodes.values()))

    def patch_node(self, name: str, body: dict[str, Any], *, _request_timeout: float) -> None:
        self.patches.append((name, body))
        n = self.nodes[name]
        if "unschedulable" in body.get("spec", {}):
            n.spec.unschedulable = body["spec"]["unschedulable"]
        annotations = dict(n.metadata.annotations or {})
        for k, v in body.get("metadata", {}).get("annotations", {}).items():
            if v is None:
                annotations.pop(k, None)
            else:
                annotations[k] = v
        n.metadata.annotations = annotations or None


def node(name: str, *, unschedulable: bool = False, ours: bool = False) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name,
                                     annotations={CORDON_ANNOTATION: "upgrade"} if ours else None),
        spec=client.V1NodeSpec(unschedulable=unschedulable or None),
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(node_drain, "_monotonic", c.monotonic)
    monkeypatch.setattr(node_drain, "_sleep", c.sleep)
    return c


def use(monkeypatch: pytest.MonkeyPatch, core: FakeCore) -> client.ApiClient:
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:1"))

    def read_node(a: client.ApiClient, name: str, *, timeout: float) -> client.V1Node:
        assert a is api
        return core.read_node(name, _request_timeout=timeout)

    def list_nodes(a: client.ApiClient, *, timeout: float) -> client.V1NodeList:
        assert a is api
        return core.list_node(_request_timeout=timeout)

    def core_v1_api(a: client.ApiClient) -> FakeCore:
        core.made += 1
        return core

    monkeypatch.setattr(node_drain.client, "CoreV1Api", core_v1_api)
    monkeypatch.setattr(node_drain, "read_node", read_node)
    monkeypatch.setattr(node_drain, "list_nodes", list_nodes)
    return api


# --- drain ------------------------------------------------------------------------------------

def test_drain_retries_a_pdb_refusal_then_evicts(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web")),
                     pod("proxy-x", ns="kube-system", owner=("DaemonSet", "kube-proxy"))])
    core.eviction_answers["web-1"] = [429, 429]
    log: list[str] = []
    evicted = drain(use(monkeypatch, core), "w1", timeout=60, force=False, log=log.append)

    assert evicted == [PodRef("default", "web-1", "ReplicaSet web")]
    assert core.selectors == ["spec.nodeName=w1"]
    assert [(ns, name) for ns, name, _ in core.evictions] == [("default", "web-1")] * 3
    assert core.evictions[0][2] == {"apiVersion": "policy/v1beta1", "kind": "Eviction",
                                    "metadata": {"name": "web-1", "namespace": "default"}}
    assert clock.slept == 2.0
    assert [line for line in log if "PodDisruptionBudget" in line] == [
        "w1: a PodDisruptionBudget allows no eviction yet, retrying until 60s have passed: default/web-1"]
    assert "w1: evicted default/web-1 (ReplicaSet web)" in log


def test_drain_eviction_404_means_already_gone(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web"))])
    core.eviction_answers["web-1"] = [404]
    log: list[str] = []
    assert drain(use(monkeypatch, core), "w1", timeout=60, force=False, log=log.append) == [
        PodRef("default", "web-1", "ReplicaSet web")]
    assert log == ["w1: default/web-1 already gone"]


def test_drain_waits_until_pods_are_gone_or_replaced(monkeypatch: pytest.MonkeyPatch,
                                                     clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web")), pod("db-0", owner=("StatefulSet", "db"))])
    core.read_answers["web-1"] = ["there", "there", 404]
    core.read_answers["db-0"] = ["there", "replaced"]  # same name, new uid: ours is gone
    drain(use(monkeypatch, core), "w1", timeout=60, force=False, log=lambda _: None)
    assert core.read_answers == {"web-1": [], "db-0": []}
    assert clock.slept == 2.0


def test_drain_times_out_on_a_pdb(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web")), pod("api-1", owner=("ReplicaSet", "api"))])
    core.eviction_answers["web-1"] = [429] * 1000
    log: list[str] = []
    with pytest.raises(DrainError) as err:
        drain(use(monkeypatch, core), "w1", timeout=25, force=False, log=log.append)
    message = str(err.value)
    assert message.startswith("w1: ")
    assert "a PodDisruptionBudget allows no eviction" in message
    assert "default/web-1" in message and "default/api-1" not in message
    assert err.value.pods == [PodRef("default", "web-1", "ReplicaSet web")]
    # one waiting line per 10 s at most, over 25 s
    assert len([line for line in log if "PodDisruptionBudget" in line]) == 3
    assert "w1: evicted default/api-1 (ReplicaSet api)" in log  # the budget held only web-1
    assert clock.now - 1000.0 == pytest.approx(25.0)


def test_drain_times_out_on_a_pod_that_does_not_terminate(monkeypatch: pytest.MonkeyPatch,
                                                          clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web"))])
    core.read_answers["web-1"] = ["there"] * 1000
    with pytest.raises(DrainError) as err:
        drain(use(monkeypatch, core), "w1", timeout=30, force=False, log=lambda _: None)
    assert "default/web-1" in str(err.value)
    assert "PodDisruptionBudget" not in str(err.value)
    assert "w1" in str(err.value)


def test_drain_refuses_bare_pods_before_evicting_anything(monkeypatch: pytest.MonkeyPatch,
                                                          clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web")), pod("lonely", ns="tools")])
    with pytest.raises(DrainError) as err:
        drain(use(monkeypatch, core), "w1", timeout=60, force=False, log=lambda _: None)
    assert "tools/lonely" in str(err.value)
    assert "--force-drain" in str(err.value)
    assert "w1" in str(err.value)
    assert core.evictions == []


def test_drain_with_force_evicts_bare_pods(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    core = FakeCore([pod("lonely", ns="tools")])
    evicted = drain(use(monkeypatch, core), "w1", timeout=60, force=True, log=lambda _: None)
    assert evicted == [PodRef("tools", "lonely", "no controller")]
    assert [(ns, name) for ns, name, _ in core.evictions] == [("tools", "lonely")]


def test_drain_reports_an_eviction_the_apiserver_refuses(monkeypatch: pytest.MonkeyPatch,
                                                         clock: FakeClock) -> None:
    core = FakeCore([pod("web-1", owner=("ReplicaSet", "web"))])
    core.eviction_answers["web-1"] = [500]
    with pytest.raises(DrainError, match=r"w1: .*500.*disruption budget.*default/web-1"):
        drain(use(monkeypatch, core), "w1", timeout=60, force=False, log=lambda _: None)


# --- cordon / uncordon ------------------------------------------------------------------------

def test_cordon_marks_the_node_once(monkeypatch: pytest.MonkeyPatch) -> None:
    core = FakeCore(nodes=[node("w1"), node("w2")])
    api = use(monkeypatch, core)
    assert cordon(api, "w1") is True
    assert core.patches == [("w1", {"spec": {"unschedulable": True},
                                    "metadata": {"annotations": {CORDON_ANNOTATION: "upgrade"}}})]
    assert cordon(api, "w1") is False
    assert len(core.patches) == 1
    assert cordoned_by_k8sboot(api) == ["w1"]


def test_cordon_leaves_someone_elses_cordon_unclaimed(monkeypatch: pytest.MonkeyPatch) -> None:
    core = FakeCore(nodes=[node("w1", unschedulable=True)])
    api = use(monkeypatch, core)
    assert cordon(api, "w1") is False
    assert core.patches == []
    assert cordoned_by_k8sboot(api) == []
    assert core.made == 0  # nothing changed: CoreV1Api (a second of imports) never loaded


def test_uncordon_clears_both_and_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    core = FakeCore(nodes=[node("w1", unschedulable=True, ours=True)])
    api = use(monkeypatch, core)
    assert uncordon(api, "w1") is True
    assert core.patches == [("w1", {"spec": {"unschedulable": False},
                                    "metadata": {"annotations": {CORDON_ANNOTATION: None}}})]
    assert not core.nodes["w1"].spec.unschedulable
    assert cordoned_by_k8sboot(api) == []
    assert uncordon(api, "w1") is False
    assert len(core.patches) == 1
    assert core.made == 1  # for the one patch


# --- what the real client puts on the wire ----------------------------------------------------

class _Sent(Exception):
    pass


class CapturingPool:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str], Any]] = []

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **_: Any) -> Any:
        self.sent.append((method, url, dict(headers or {}), json.loads(body) if body else None))
        raise _Sent


def real_api() -> tuple[client.ApiClient, CapturingPool]:
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:1"))
    pool = CapturingPool()
    api.rest_client.pool_manager = pool
    return api, pool


def test_eviction_body_reaches_the_wire_as_policy_v1beta1() -> None:
    api, pool = real_api()
    with pytest.raises(_Sent):
        node_drain._evict(client.CoreV1Api(api), "w1", PodRef("default", "web-1", "ReplicaSet web"),
                          lambda _: None)
    method, url, _, body = pool.sent[0]
    assert (method, url) == ("POST", "http://127.0.0.1:1/api/v1/namespaces/default/pods/web-1/eviction")
    assert body == {"apiVersion": "policy/v1beta1", "kind": "Eviction",
                    "metadata": {"name": "web-1", "namespace": "default"}}


def test_uncordon_patch_is_a_strategic_merge_that_deletes_the_annotation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    api, pool = real_api()
    monkeypatch.setattr(node_drain, "_cordon_state", lambda n: (True, True))
    monkeypatch.setattr(node_drain, "read_node", lambda a, name, **kw: None)
    with pytest.raises(_Sent):
        uncordon(api, "w1")
    method, url, headers, body = pool.sent[0]
    assert (method, url) == ("PATCH", "http://127.0.0.1:1/api/v1/nodes/w1")
    assert headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert body == {"spec": {"unschedulable": False}, "metadata": {"annotations": {CORDON_ANNOTATION: None}}}
