"""cluster_api.list_nodes / read_node: Node reads without CoreV1Api, sent and answered as its own.

A local HTTP server stands in for the apiserver: the requests are compared with what
CoreV1Api.list_node/read_node send, and the answers must be the same models and the
same ApiException subclasses (api_retry classifies them by status).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException, NotFoundException, ServiceException

from k8sboot import api_retry
from k8sboot.cluster_api import (
    ensure_kubelet_api_rbac,
    ensure_label,
    list_nodes,
    node_heartbeats,
    node_views,
    read_cluster_role,
    read_cluster_role_binding,
    read_node,
    service_account_exists,
)
from k8sboot.cluster_layout import KUBELET_API_ROLE, KUBELET_API_USER


def node_json(name: str, *, ready: str = "True", labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name},
                     "annotations": {"k8sboot.io/cordoned-for": "upgrade"} if name == "w2" else None},
        "spec": {"podCIDR": f"10.200.{name[-1]}.0/24", "unschedulable": name == "w2" or None},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletReady",
                                   "message": "kubelet is posting ready status",
                                   "lastHeartbeatTime": "2024-05-01T10:00:00Z"}],
                   "nodeInfo": {"kubeletVersion": "v1.20.15", "kubeProxyVersion": "", "architecture": "amd64",
                                "bootID": "b", "containerRuntimeVersion": "containerd://1.4", "kernelVersion": "5",
                                "machineID": "m", "operatingSystem": "linux", "osImage": "Debian",
                                "systemUUID": "u"}},
    }


class FakeApiserver(ThreadingHTTPServer):
    """Answers GET /api/v1/nodes[/name] from `nodes`; records every request it gets."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.nodes: dict[str, dict[str, Any]] = {}
        self.status_override: int | None = None  # answer this status (with a Status body) to everything
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.service_accounts: set[str] = set()  # paths that answer 200
        self.objects: dict[str, dict[str, Any]] = {}  # any other path that answers 200, with its body
        self.date: str | None = None  # the Date header of every answer (the real time when None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeApiserver

    def do_GET(self) -> None:
        srv = self.server
        headers = {k.lower(): v for k, v in self.headers.items()}
        srv.requests.append(("GET", self.path, headers))
        if srv.status_override is not None:
            self._answer(srv.status_override, {"kind": "Status", "message": "etcdserver: request timed out"})
        elif self.path == "/api/v1/nodes":
            self._answer(200, {"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": "42"},
                               "items": list(srv.nodes.values())})
        elif self.path.startswith("/api/v1/nodes/") and self.path[len("/api/v1/nodes/"):] in srv.nodes:
            self._answer(200, srv.nodes[self.path[len("/api/v1/nodes/"):]])
        elif unquote(self.path) in srv.objects:  # names such as system:... arrive %-quoted
            self._answer(200, srv.objects[unquote(self.path)])
        elif self.path in srv.service_accounts:
            namespace, name = self.path.split("/")[4], self.path.split("/")[6]
            self._answer(200, {"apiVersion": "v1", "kind": "ServiceAccount",
                               "metadata": {"name": name, "namespace": namespace}})
        else:
            self._answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                               "message": f"nodes \"{self.path.rsplit('/', 1)[-1]}\" not found",
                               "reason": "NotFound", "code": 404})

    def do_POST(self) -> None:  # a create: the object as sent, now there
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv.requests.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
        srv.objects[f"{self.path}/{body['metadata']['name']}"] = body
        self._answer(201, body)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return self.server.date or super().date_time_string(timestamp)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def apiserver() -> Iterator[FakeApiserver]:
    srv = FakeApiserver()
    srv.nodes = {"w1": node_json("w1"), "w2": node_json("w2", ready="False")}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def api_for(srv: FakeApiserver) -> client.ApiClient:
    conf = client.Configuration(host=srv.url)
    conf.api_key = {"BearerToken": "s3cret"}
    conf.api_key_prefix = {"BearerToken": "Bearer"}
    conf.retries = 0
    return client.ApiClient(conf)


def test_list_nodes_sends_the_get_core_v1_api_sends_and_returns_typed_nodes(apiserver: FakeApiserver) -> None:
    api = api_for(apiserver)
    nodes = list_nodes(api, timeout=5.0)
    ours = apiserver.requests.pop()
    expected = client.CoreV1Api(api).list_node(_request_timeout=5.0)
    theirs = apiserver.requests.pop()

    assert ours == theirs
    assert ours[:2] == ("GET", "/api/v1/nodes")
    assert ours[2]["authorization"] == "Bearer s3cret"
    assert ours[2]["accept"] == "application/json"
    assert isinstance(nodes, client.V1NodeList)
    assert all(isinstance(n, client.V1Node) for n in nodes.items)
    assert [n.metadata.name for n in nodes.items] == ["w1", "w2"]
    assert nodes.items[0].status.conditions[0].last_heartbeat_time.year == 2024  # a datetime, as CoreV1Api's
    assert nodes == expected


def test_read_node_sends_the_get_core_v1_api_sends_and_returns_a_typed_node(apiserver: FakeApiserver) -> None:
    api = api_for(apiserver)
    w2 = read_node(api, "w2", timeout=10)
    ours = apiserver.requests.pop()
    expected = client.CoreV1Api(api).read_node("w2", _request_timeout=10)
    theirs = apiserver.requests.pop()

    assert ours == theirs
    assert ours[:2] == ("GET", "/api/v1/nodes/w2")
    assert isinstance(w2, client.V1Node)
    assert w2 == expected
    assert w2.spec.unschedulable is True and w2.status.node_info.kubelet_version == "v1.20.15"


def test_the_timeout_reaches_urllib3_as_core_v1_api_passes_it(apiserver: FakeApiserver,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    api = api_for(apiserver)
    seen: list[Any] = []
    real = api.rest_client.pool_manager.request

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("timeout"))
        return real(*args, **kwargs)

    monkeypatch.setattr(api.rest_client.pool_manager, "request", spy)
    read_node(api, "w1", timeout=3)
    client.CoreV1Api(api).read_node("w1", _request_timeout=3)
    list_nodes(api, timeout=2.5)
    client.CoreV1Api(api).list_node(_request_timeout=2.5)
    assert [repr(t) for t in seen[0::2]] == [repr(t) for t in seen[1::2]]  # urllib3 Timeouts
    assert seen[0].total == 3 and seen[2].total == 2.5


def test_a_missing_node_raises_the_same_not_found_which_api_retry_calls_definite(
        apiserver: FakeApiserver) -> None:
    api = api_for(apiserver)
    with pytest.raises(ApiException) as ours:
        read_node(api, "gone", timeout=5)
    with pytest.raises(ApiException) as theirs:
        client.CoreV1Api(api).read_node("gone", _request_timeout=5)
    assert type(ours.value) is type(theirs.value) is NotFoundException
    assert (ours.value.status, ours.value.reason, ours.value.body) == \
        (theirs.value.status, theirs.value.reason, theirs.value.body)
    assert api_retry.is_api_error(ours.value) and not api_retry.is_transient(ours.value)


def test_a_5xx_raises_the_same_service_exception_which_api_retry_retries(apiserver: FakeApiserver) -> None:
    api = api_for(apiserver)
    apiserver.status_override = 504
    with pytest.raises(ApiException) as ours:
        list_nodes(api, timeout=5)
    with pytest.raises(ApiException) as theirs:
        client.CoreV1Api(api).list_node(_request_timeout=5)
    assert type(ours.value) is type(theirs.value) is ServiceException
    assert ours.value.status == 504
    assert api_retry.is_transient(ours.value)
    assert api_retry.reason_of(ours.value) == api_retry.reason_of(theirs.value)


def test_no_answer_is_the_same_transient_urllib3_error() -> None:
    conf = client.Configuration(host="http://127.0.0.1:1")  # nothing listens there
    conf.retries = 0
    api = client.ApiClient(conf)
    with pytest.raises(Exception) as ours:
        list_nodes(api, timeout=2)
    with pytest.raises(Exception) as theirs:
        client.CoreV1Api(api).list_node(_request_timeout=2)
    assert type(ours.value) is type(theirs.value)
    assert api_retry.is_transient(ours.value)


def test_node_views_and_a_label_already_there_read_through_the_helpers(apiserver: FakeApiserver) -> None:
    api = api_for(apiserver)
    views = node_views(api)
    assert {n: (v.ready, v.pod_cidr) for n, v in views.items()} == {
        "w1": ("True", "10.200.1.0/24"), "w2": ("False", "10.200.2.0/24")}
    assert ensure_label(api, "w1", "kubernetes.io/hostname", "w1") is False
    assert [(m, p) for m, p, _ in apiserver.requests] == [("GET", "/api/v1/nodes"), ("GET", "/api/v1/nodes/w1")]


# what a no-op rerun of `up` asks the API ("roll nodes", "wait for nodes Ready", the kubelet RBAC), in a
# fresh interpreter: CoreV1Api's module (~236 models, over a second of CPU) and the RBAC API's stay unloaded
RERUN_READS = """
import sys
from kubernetes import client
from k8sboot import node_drain
from k8sboot.cluster_api import ensure_kubelet_api_rbac, ensure_label, node_views
from k8sboot.phases import node_roll

conf = client.Configuration(host=sys.argv[1])
conf.retries = 0
api = client.ApiClient(conf)
assert node_drain.cordoned_by_k8sboot(api) == ["w2"]
assert sorted(node_views(api)) == ["w1", "w2"]
assert ensure_label(api, "w1", "kubernetes.io/hostname", "w1") is False
assert node_roll._node_state(api, "w1")[:2] == (True, "v1.20.15")
assert node_roll._heartbeat(api, "gone") is node_roll.MISSING
assert ensure_kubelet_api_rbac(api) is False
print(sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.")))
"""


ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
BINDINGS = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"


def kubelet_api_rbac() -> dict[str, dict[str, Any]]:
    """The apiserver -> kubelet ClusterRole and binding as the apiserver shows them once applied."""
    meta = {"name": KUBELET_API_ROLE, "labels": {"app.kubernetes.io/managed-by": "k8sboot"},
            "resourceVersion": "7", "uid": "u-1"}
    return {
        f"{ROLES}/{KUBELET_API_ROLE}": {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta,
            "rules": [{"apiGroups": [""], "verbs": ["*"],
                       "resources": ["nodes/proxy", "nodes/stats", "nodes/log", "nodes/spec", "nodes/metrics"]}]},
        f"{BINDINGS}/{KUBELET_API_ROLE}": {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": KUBELET_API_ROLE},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": KUBELET_API_USER}]},
    }


def test_the_rbac_reads_send_what_rbac_authorization_v1_api_sends(apiserver: FakeApiserver) -> None:
    apiserver.objects = kubelet_api_rbac()
    api = api_for(apiserver)
    rbac = client.RbacAuthorizationV1Api(api)
    for ours_read, theirs_read in (
            (lambda: read_cluster_role(api, KUBELET_API_ROLE, timeout=4),
             lambda: rbac.read_cluster_role(KUBELET_API_ROLE, _request_timeout=4)),
            (lambda: read_cluster_role_binding(api, KUBELET_API_ROLE, timeout=4),
             lambda: rbac.read_cluster_role_binding(KUBELET_API_ROLE, _request_timeout=4))):
        ours = ours_read()
        ours_request = apiserver.requests.pop()
        theirs = theirs_read()
        assert ours_request == apiserver.requests.pop()
        assert type(ours) is type(theirs) and ours == theirs
    with pytest.raises(NotFoundException):
        read_cluster_role(api, "absent", timeout=4)


def test_kubelet_api_rbac_is_created_once_then_only_read(apiserver: FakeApiserver) -> None:
    api = api_for(apiserver)
    assert ensure_kubelet_api_rbac(api) is True
    assert [(m, p) for m, p, _ in apiserver.requests if m == "POST"] == [("POST", ROLES), ("POST", BINDINGS)]
    apiserver.requests.clear()
    assert ensure_kubelet_api_rbac(api) is False
    assert {m for m, _, _ in apiserver.requests} == {"GET"}


def test_a_rerun_that_changes_nothing_never_loads_core_v1_api(apiserver: FakeApiserver) -> None:
    apiserver.objects = kubelet_api_rbac()
    done = subprocess.run([sys.executable, "-c", RERUN_READS, apiserver.url], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "kubernetes.client.api.core_v1_api" not in done.stdout.splitlines()[-1]
    assert json.loads(done.stdout.splitlines()[-1].replace("'", '"')) == []


def test_the_default_service_account_is_read_as_core_v1_api_reads_it(apiserver: FakeApiserver) -> None:
    # `up` waits for it (phases/wait_ready.py): until then, pods in the namespace are refused
    api = api_for(apiserver)
    assert service_account_exists(api, "default", "default") is False
    ours = apiserver.requests.pop()
    with pytest.raises(NotFoundException):
        client.CoreV1Api(api).read_namespaced_service_account("default", "default", _request_timeout=5.0)
    assert ours == apiserver.requests.pop()
    apiserver.service_accounts.add("/api/v1/namespaces/default/serviceaccounts/default")
    assert service_account_exists(api, "default", "default") is True
    apiserver.status_override = 500
    with pytest.raises(ApiException):
        service_account_exists(api, "default", "default")


LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"


def lease_json(name: str, renewed: str | None) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     **({"renewTime": renewed} if renewed else {})}}


def test_heartbeats_are_aged_by_the_apiservers_clock_not_ours(apiserver: FakeApiserver) -> None:
    apiserver.date = "Thu, 03 Dec 2026 02:16:00 GMT"
    apiserver.objects[LEASES] = {"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList", "items": [
        lease_json("w1", "2026-12-03T02:15:54.763165Z"),  # renewed 5 s before the apiserver's now
        lease_json("w2", "2026-12-03T02:14:44.136071Z"),  # cut off: 76 s
        lease_json("w3", "2026-12-03T02:16:03.000000Z"),  # a clock ahead of the apiserver's
        lease_json("w4", None),  # created, never renewed
    ]}
    beats = node_heartbeats(api_for(apiserver), {}, timeout=5.0)
    method, path, headers = apiserver.requests[-1]
    assert (method, path, headers["accept"], headers["authorization"]) == ("GET", LEASES, "application/json",
                                                                           "Bearer s3cret")
    assert sorted(beats) == ["w1", "w2", "w3"]
    assert beats["w1"].age == pytest.approx(5.236835) and beats["w1"].fresh
    assert beats["w2"].age == pytest.approx(75.863929) and not beats["w2"].fresh
    assert beats["w3"].age == pytest.approx(-3.0) and beats["w3"].fresh
    assert beats["w1"].renewed == "2026-12-03T02:15:54.763165+00:00"


def test_heartbeats_refused_raise_the_clients_exception(apiserver: FakeApiserver) -> None:
    apiserver.status_override = 403
    with pytest.raises(ApiException) as e:
        node_heartbeats(api_for(apiserver), {}, timeout=5.0)
    assert e.value.status == 403


def test_a_node_without_a_lease_lives_by_its_status_post_and_the_later_sign_counts(apiserver: FakeApiserver) -> None:
    # a new kubelet creates its Lease only at its first renewal after registering: its status post
    # (the Ready condition's lastHeartbeatTime) is its heartbeat until then
    apiserver.date = "Wed, 01 May 2024 10:00:07 GMT"  # the nodes' Ready heartbeat: 10:00:00
    apiserver.objects[LEASES] = {"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList", "items": [
        lease_json("w2", "2024-05-01T09:58:00.000000Z"),  # older than w2's status post
    ]}
    api = api_for(apiserver)
    beats = node_heartbeats(api, node_views(api), timeout=5.0)
    assert beats["w1"].age == pytest.approx(7.0) and beats["w1"].fresh  # no Lease yet
    assert beats["w2"].age == pytest.approx(7.0)  # the later of the two
    apiserver.objects[LEASES]["items"] = [lease_json("w2", "2024-05-01T10:00:05.000000Z")]
    assert node_heartbeats(api, node_views(api), timeout=5.0)["w2"].age == pytest.approx(2.0)


def test_a_renewal_or_a_date_that_is_not_a_time_is_passed_over(apiserver: FakeApiserver) -> None:
    apiserver.date = "not a date"  # then our own clock: the nodes' heartbeats (2024) are old
    apiserver.objects[LEASES] = {"apiVersion": "coordination.k8s.io/v1", "kind": "LeaseList", "items": [
        lease_json("w1", "yesterday"), lease_json("w2", None)]}
    api = api_for(apiserver)
    beats = node_heartbeats(api, node_views(api), timeout=5.0)
    assert sorted(beats) == ["w1", "w2"] and not beats["w1"].fresh  # from their status posts
