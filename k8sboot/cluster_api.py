"""Talking to the apiserver through the official `kubernetes` client."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from k8sboot.cluster_layout import KUBELET_API_ROLE, KUBELET_API_USER
from k8sboot.connection.reach import DIRECT, Reach
from k8sboot.node_heartbeat import NODE_LEASE_NAMESPACE, Heartbeat, latest_heartbeat
from k8sboot.reachability import first_answering

if TYPE_CHECKING:
    from kubernetes.client import V1Node, V1NodeList

# every call gets a deadline: a slow apiserver (an emulated VM warming up) is retried by the caller
REQUEST_TIMEOUT = 10.0


def api_client(kubeconfig: Path, other_servers: Sequence[str] = (), reach: Reach = DIRECT) -> client.ApiClient:
    """A client from a kubeconfig; with other_servers (every apiserver), one that answers.

    The admin kubeconfig names one control plane; when that machine is down the
    others serve the same API under the same certificate. `reach` says how this
    process gets to a server (through a bastion for hosts behind one).
    """
    api = config.new_client_from_config(config_file=str(kubeconfig))
    api.configuration.retries = 0
    server = api.configuration.host
    if other_servers:
        server = first_answering([server, *other_servers], answers=reach.answers) or server
    api.configuration.host = reach.url(server)
    return api


# Reading Nodes without CoreV1Api: its module imports ~236 model classes (V1Pod, V1Service, ...),
# 1.1-1.3 s of CPU on its first use, which a no-op rerun of `up` spent only to list and read
# Nodes (the V1Node/V1NodeList models alone load in ~0.07 s). These GETs are built and sent by
# ApiClient exactly as CoreV1Api.list_node/read_node build them (same URL, Accept header,
# BearerToken auth, timeout, preloaded and deserialized answer), so callers get the same model
# objects and the same ApiException subclasses (NotFoundException, ...) as before. Anything
# that changes a Node (patch, drain, eviction) still goes through CoreV1Api, loaded only then.
_NODE_LIST_PATH = "/api/v1/nodes"
_NODE_PATH = "/api/v1/nodes/{name}"


def list_nodes(api: client.ApiClient, *, timeout: float) -> V1NodeList:
    """GET /api/v1/nodes: what CoreV1Api(api).list_node(_request_timeout=timeout) returns."""
    if not _builds_requests(api):
        return client.CoreV1Api(api).list_node(_request_timeout=timeout)
    return cast("V1NodeList", _get(api, _NODE_LIST_PATH, {}, "V1NodeList", timeout))


def read_node(api: client.ApiClient, name: str, *, timeout: float) -> V1Node:
    """GET /api/v1/nodes/{name}: what CoreV1Api(api).read_node(name, _request_timeout=timeout) returns."""
    if not _builds_requests(api):
        return client.CoreV1Api(api).read_node(name, _request_timeout=timeout)
    return cast("V1Node", _get(api, _NODE_PATH, {"name": name}, "V1Node", timeout))


_SERVICE_ACCOUNT_PATH = "/api/v1/namespaces/{namespace}/serviceaccounts/{name}"


def service_account_exists(api: client.ApiClient, namespace: str, name: str, *, timeout: float = 5.0) -> bool:
    """Whether the ServiceAccount is there (the controller-manager makes `default` in every namespace)."""
    try:
        if not _builds_requests(api):
            client.CoreV1Api(api).read_namespaced_service_account(name, namespace, _request_timeout=timeout)
        else:
            _get(api, _SERVICE_ACCOUNT_PATH, {"namespace": namespace, "name": name}, "V1ServiceAccount", timeout)
    except ApiException as e:
        if e.status == 404:
            return False
        raise
    return True


def _builds_requests(api: client.ApiClient) -> bool:
    """A client whose generated API methods build requests with param_serialize (the one in use,
    v37, whose API classes load lazily); older ones import every API class with the package
    anyway, and take their own call_api arguments: they read through CoreV1Api as before."""
    return hasattr(api, "param_serialize")


def _get(api: client.ApiClient, path: str, path_params: dict[str, str], response_type: str,
         timeout: float) -> object:
    """A GET as the generated API methods send it (_preload_content=True): the deserialized body;
    an answer other than 2xx raises ApiException.from_response, as theirs does."""
    return _get_response(api, path, path_params, response_type, timeout).data


def _get_response(api: client.ApiClient, path: str, path_params: dict[str, str], response_type: str,
                  timeout: float) -> Any:
    """_get's whole answer (an ApiResponse: data and headers)."""
    request = api.param_serialize(
        method="GET", resource_path=path, path_params=path_params, query_params=[],
        header_params={"Accept": "application/json"}, body=None, post_params=[], files={},
        auth_settings=["BearerToken"], collection_formats={})
    response = api.call_api(*request, _request_timeout=timeout)
    response.read()
    return api.response_deserialize(response, {"200": response_type, "401": None})


@dataclass
class NodeView:
    name: str
    ready: str  # "True" / "False" / "Unknown" / "missing"
    reason: str
    pod_cidr: str | None
    raw: Any
    heartbeat: datetime | None = None  # the Ready condition's lastHeartbeatTime (the kubelet's last status post)

    @property
    def is_ready(self) -> bool:
        return self.ready == "True"


def node_views(api: client.ApiClient, timeout: float = 5.0) -> dict[str, NodeView]:
    nodes = list_nodes(api, timeout=timeout).items
    out: dict[str, NodeView] = {}
    for n in nodes:
        ready = next((c for c in (n.status.conditions or []) if c.type == "Ready"), None)
        out[n.metadata.name] = NodeView(
            n.metadata.name,
            ready.status if ready else "Unknown",
            (ready.message or ready.reason or "") if ready else "no Ready condition yet",
            n.spec.pod_cidr,
            n,
            ready.last_heartbeat_time if ready else None,
        )
    return out


_NODE_LEASES_PATH = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def node_heartbeats(api: client.ApiClient, views: dict[str, NodeView], *,
                    timeout: float = 5.0) -> dict[str, Heartbeat]:
    """node name -> its kubelet's latest sign of life, aged by the apiserver's clock: its Lease
    renewal or the Ready condition's heartbeat in `views` (the Nodes just read), the later one,
    as the node lifecycle controller takes it. A new kubelet creates its Lease only at its first
    renewal after registering (up to 10 s later): until then its status post is the sign."""
    renewals: dict[str, datetime] = {}
    if not _builds_requests(api):
        leases, _, headers = client.CoordinationV1Api(api).list_namespaced_lease_with_http_info(
            NODE_LEASE_NAMESPACE, _request_timeout=timeout)
        renewals = {str(item.metadata.name): item.spec.renew_time for item in leases.items
                    if item.spec and item.spec.renew_time}
        date = headers.get("Date")
    else:
        # the JSON as bytes: the Lease models are not needed to read two fields
        answer = _get_response(api, _NODE_LEASES_PATH, {"namespace": NODE_LEASE_NAMESPACE}, "bytes", timeout)
        date = (answer.headers or {}).get("Date")
        for item in json.loads(answer.data).get("items") or []:
            renewed = (item.get("spec") or {}).get("renewTime")
            try:
                renewals[item["metadata"]["name"]] = datetime.fromisoformat(renewed)
            except (TypeError, ValueError):
                continue  # none, or not a time: that node's status post still counts
    now = _server_time(date)
    out: dict[str, Heartbeat] = {}
    for name in {*renewals, *views}:
        view = views.get(name)
        beat = latest_heartbeat(now, [renewals.get(name), view.heartbeat if view else None])
        if beat is not None:
            out[name] = beat
    return out


def _server_time(date_header: str | None) -> datetime:
    # the apiserver's clock is the one the lifecycle controller beside it judges by; our own
    # only when the answer has no Date (an HTTP server must send one)
    try:
        return parsedate_to_datetime(date_header) if date_header else datetime.now(UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


# The RBAC reads as the Node reads above: RbacAuthorizationV1Api's module alone took ~0.14 s of
# CPU to load, on the critical chain of every no-op rerun (which only reads). Writes load it.
_CLUSTER_ROLE_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}"
_CLUSTER_ROLE_BINDING_PATH = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{name}"


def read_cluster_role(api: client.ApiClient, name: str, *, timeout: float) -> client.V1ClusterRole:
    """GET a ClusterRole: what RbacAuthorizationV1Api(api).read_cluster_role(name, ...) returns."""
    if not _builds_requests(api):
        return client.RbacAuthorizationV1Api(api).read_cluster_role(name, _request_timeout=timeout)
    return cast("client.V1ClusterRole", _get(api, _CLUSTER_ROLE_PATH, {"name": name}, "V1ClusterRole", timeout))


def read_cluster_role_binding(api: client.ApiClient, name: str, *, timeout: float) -> client.V1ClusterRoleBinding:
    """GET a ClusterRoleBinding: what RbacAuthorizationV1Api(api).read_cluster_role_binding(name, ...) returns."""
    if not _builds_requests(api):
        return client.RbacAuthorizationV1Api(api).read_cluster_role_binding(name, _request_timeout=timeout)
    return cast("client.V1ClusterRoleBinding",
                _get(api, _CLUSTER_ROLE_BINDING_PATH, {"name": name}, "V1ClusterRoleBinding", timeout))


def ensure_kubelet_api_rbac(api: client.ApiClient) -> bool:
    """Let the apiserver reach kubelets (logs, exec, metrics). Returns True if it changed anything."""

    def rbac() -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(api)

    role = client.V1ClusterRole(
        metadata=client.V1ObjectMeta(name=KUBELET_API_ROLE, labels={"app.kubernetes.io/managed-by": "k8sboot"}),
        rules=[client.V1PolicyRule(
            api_groups=[""],
            resources=["nodes/proxy", "nodes/stats", "nodes/log", "nodes/spec", "nodes/metrics"],
            verbs=["*"],
        )],
    )
    binding = client.V1ClusterRoleBinding(
        metadata=client.V1ObjectMeta(name=KUBELET_API_ROLE, labels={"app.kubernetes.io/managed-by": "k8sboot"}),
        role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                  name=KUBELET_API_ROLE),
        subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User",
                                       name=KUBELET_API_USER)],
    )
    t = REQUEST_TIMEOUT
    changed = _ensure(api, lambda: read_cluster_role(api, KUBELET_API_ROLE, timeout=t).rules,
                      role.rules,
                      lambda: rbac().create_cluster_role(role, _request_timeout=t),
                      lambda: rbac().replace_cluster_role(KUBELET_API_ROLE, role, _request_timeout=t))
    changed |= _ensure(api, lambda: read_cluster_role_binding(api, KUBELET_API_ROLE, timeout=t).subjects,
                       binding.subjects,
                       lambda: rbac().create_cluster_role_binding(binding, _request_timeout=t),
                       lambda: rbac().replace_cluster_role_binding(KUBELET_API_ROLE, binding, _request_timeout=t))
    return changed


def _ensure(api: client.ApiClient, read_current, wanted, create, replace) -> bool:
    """Create an object, or replace it when the part we own differs; True if anything changed."""
    try:
        current = read_current()
    except ApiException as e:
        if e.status != 404:
            raise
        try:
            create()
        except ApiException as e:
            if e.status != 409:  # 409: a create retried after a timeout had been done after all
                raise
        return True
    if api.sanitize_for_serialization(current) != api.sanitize_for_serialization(wanted):
        replace()
        return True
    return False


def ensure_label(api: client.ApiClient, node: str, key: str, value: str = "") -> bool:
    n = read_node(api, node, timeout=REQUEST_TIMEOUT)
    if (n.metadata.labels or {}).get(key) == value:
        return False
    client.CoreV1Api(api).patch_node(node, {"metadata": {"labels": {key: value}}},
                                     _request_timeout=REQUEST_TIMEOUT)
    return True


def set_pod_cidr(api: client.ApiClient, node: str, cidr: str) -> None:
    """Write the pod CIDR k8sboot allocated into a Node's spec (it can be set once, never changed)."""
    client.CoreV1Api(api).patch_node(node, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}},
                                     _request_timeout=REQUEST_TIMEOUT)
