"""The pod-network routes agent (templates/pod-routes/k8sboot-pod-routes.py.j2), without a host.

The template is rendered as the pod_routes role renders it and imported as a
module: its pure parts (kubeconfig, node name, which routes, the diff, watch
events, `ip route` output) are checked here, its `ip` commands through a fake
runner, and its HTTP client against a local TLS server that asks for the
node's client certificate, as the apiserver does. The real thing, on real
nodes, is in tests/e2e/test_lifecycle_containers.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from k8sboot.engine.templating import Templar
from k8sboot.pki import PkiSpec, ensure_pki, kubeconfig_path
from k8sboot.pki.kubeconfig import render_kubeconfig

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SCRIPT = "pod-routes/k8sboot-pod-routes.py.j2"
SPEC = PkiSpec("demo", control_planes=[("cp1", ["10.0.0.11"])], etcd_members=[("cp1", ["10.0.0.11"])],
               nodes=[("cp1", ["10.0.0.11"]), ("wk1", ["10.0.0.12"])])


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    path = tmp_path_factory.mktemp("agent") / "k8sboot_pod_routes.py"
    path.write_text(Templar([TEMPLATES]).render_file(SCRIPT, {}))
    spec = importlib.util.spec_from_file_location("k8sboot_pod_routes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki") / "pki"
    ensure_pki(SPEC, root)
    return root


def node(name: str, cidr: str | None, *addresses: str, cidrs: list[str] | None = None,
         version: str = "1") -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if cidr:
        spec["podCIDR"] = cidr
    if cidrs:
        spec["podCIDRs"] = cidrs
    return {"metadata": {"name": name, "resourceVersion": version}, "spec": spec,
            "status": {"addresses": [{"type": "Hostname", "address": name}]
                       + [{"type": "InternalIP", "address": a} for a in addresses]}}


# -- the script itself ------------------------------------------------------------------

def test_the_script_is_its_template_verbatim_and_python_3_7():
    """No Jinja in it (the same bytes under k8sboot and Ansible, on every node), and no
    syntax newer than the oldest python3 a supported host may have."""
    source = (TEMPLATES / SCRIPT).read_text()
    assert Templar([TEMPLATES]).render_file(SCRIPT, {}).rstrip("\n") == source.rstrip("\n")
    ast.parse(source, feature_version=(3, 7))


# -- the kubeconfig and the node's name ---------------------------------------------------

def test_reads_the_kubelet_kubeconfig_k8sboot_writes_without_yaml(agent: ModuleType, pki: Path):
    kc = agent.parse_kubeconfig(kubeconfig_path(pki, "kubelet-wk1").read_text())
    assert kc.server == "https://10.0.0.11:6443"
    assert kc.ca_pem == (pki / "ca.crt").read_bytes()
    assert kc.cert_pem == (pki / "kubelet" / "wk1.crt").read_bytes()
    assert kc.key_pem == (pki / "kubelet" / "wk1.key").read_bytes()
    assert agent.node_name(kc) == "wk1"


def test_reads_a_json_kubeconfig_and_file_paths_relative_to_it(agent: ModuleType, pki: Path):
    doc = {"clusters": [{"name": "c", "cluster": {"server": "https://[fd00::1]:6443",
                                                  "certificate-authority": "ca.crt"}}],
           "users": [{"name": "u", "user": {"client-certificate": "kubelet/cp1.crt",
                                            "client-key": str(pki / "kubelet" / "cp1.key")}}]}
    kc = agent.parse_kubeconfig(json.dumps(doc), str(pki))
    assert kc.server == "https://[fd00::1]:6443" and kc.ca_pem == (pki / "ca.crt").read_bytes()
    assert agent.node_name(kc) == "cp1"


def test_quoted_values_and_missing_pieces(agent: ModuleType):
    text = "clusters:\n- cluster:\n    server: 'https://h:6443'\n    certificate-authority-data: \"Q0E=\"\n"
    with pytest.raises(ValueError, match="client-certificate"):
        agent.parse_kubeconfig(text)
    kc = agent.parse_kubeconfig(text + "users:\n- user:\n    client-certificate-data: Q0VSVA==\n"
                                "    client-key-data: S0VZ\n")
    assert (kc.server, kc.ca_pem, kc.cert_pem, kc.key_pem) == ("https://h:6443", b"CA", b"CERT", b"KEY")
    with pytest.raises(ValueError, match="no server"):
        agent.parse_kubeconfig("users: []\n")


def test_a_kubeconfig_of_another_user_than_a_node_is_refused(agent: ModuleType, pki: Path):
    kc = agent.parse_kubeconfig(kubeconfig_path(pki, "kube-proxy").read_text())
    assert agent.certificate_cn(kc.cert_pem) == "system:kube-proxy"
    with pytest.raises(ValueError, match="not a node's"):
        agent.node_name(kc)


# -- which routes ---------------------------------------------------------------------------

def test_a_node_routes_its_pod_cidrs_via_its_internal_ip_of_the_same_family(agent: ModuleType):
    assert agent.routes_of(node("a", "10.244.1.0/24", "10.0.0.12")) == [("10.244.1.0/24", "10.0.0.12")]
    dual = node("b", "10.244.2.0/24", "fd00::13", "10.0.0.13", cidrs=["10.244.2.0/24", "fd10:0:0:2::/64"])
    assert agent.routes_of(dual) == [("10.244.2.0/24", "10.0.0.13"), ("fd10:0:0:2::/64", "fd00::13")]
    assert agent.routes_of(node("c", None, "10.0.0.14")) == []  # no pod CIDR yet
    assert agent.routes_of(node("d", "10.244.4.0/24")) == []  # no address yet
    assert agent.routes_of(node("e", "10.244.5.7/24", "10.0.0.15")) == [("10.244.5.0/24", "10.0.0.15")]
    assert agent.routes_of({"metadata": {"name": "f"}}) == []


def test_wanted_routes_every_other_node_inside_the_cluster_cidr(agent: ModuleType):
    nodes = {"cp1": [("10.244.0.0/24", "10.0.0.11")], "wk1": [("10.244.1.0/24", "10.0.0.12")],
             "wk2": [("10.244.2.0/24", "10.0.0.13")]}
    wanted, skipped = agent.wanted_routes(nodes, "wk1", "10.244.0.0/16")
    assert wanted == {"10.244.0.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.13"} and skipped == []
    # no cluster CIDR given: every other node's
    assert agent.wanted_routes(nodes, "wk1", None)[0] == wanted


def test_wanted_routes_skip_what_would_hijack_or_conflict(agent: ModuleType):
    nodes = {"me": [("10.244.1.0/24", "10.0.0.12")],
             "bad": [("0.0.0.0/0", "10.0.0.66")],            # would replace the default route
             "dup1": [("10.244.3.0/24", "10.0.0.31")],
             "dup2": [("10.244.3.0/24", "10.0.0.32")],        # the same CIDR as dup1
             "over": [("10.244.1.128/25", "10.0.0.40")],      # inside this node's own
             "v6": [("fd10::/64", "fd00::5")]}                # not the cluster's family
    wanted, skipped = agent.wanted_routes(nodes, "me", "10.244.0.0/16")
    assert wanted == {"10.244.3.0/24": "10.0.0.31"}
    assert sorted(skipped) == sorted([
        "bad's 0.0.0.0/0 is outside the pod CIDR 10.244.0.0/16",
        "dup2's 10.244.3.0/24 is dup1's too",
        "over's 10.244.1.128/25 overlaps this node's own",
        "v6's fd10::/64 is outside the pod CIDR 10.244.0.0/16",
    ])


def test_route_changes_are_the_differences_only(agent: ModuleType):
    installed = {"10.244.1.0/24": "10.0.0.12", "10.244.2.0/24": "10.0.0.13", "10.244.9.0/24": "10.0.0.19"}
    wanted = {"10.244.1.0/24": "10.0.0.12", "10.244.2.0/24": "10.0.0.99", "10.244.3.0/24": "10.0.0.14"}
    delete, replace = agent.route_changes(wanted, installed)
    assert delete == [("10.244.9.0/24", "10.0.0.19")]
    assert replace == [("10.244.2.0/24", "10.0.0.99"), ("10.244.3.0/24", "10.0.0.14")]
    assert agent.route_changes(installed, dict(installed)) == ([], [])


# -- watch events --------------------------------------------------------------------------

def test_watch_events_change_the_nodes_and_give_the_version_to_resume_from(agent: ModuleType):
    nodes: dict[str, Any] = {}
    line = json.dumps({"type": "ADDED", "object": node("wk3", None, "10.0.0.14", version="7")}).encode() + b"\n"
    kind, obj = agent.parse_event(line)
    assert agent.apply_event(nodes, kind, obj) == "7" and nodes == {"wk3": []}
    obj = node("wk3", "10.244.3.0/24", "10.0.0.14", version="8")
    assert agent.apply_event(nodes, "MODIFIED", obj) == "8"
    assert nodes == {"wk3": [("10.244.3.0/24", "10.0.0.14")]}
    assert agent.apply_event(nodes, "BOOKMARK", {"metadata": {"resourceVersion": "12"}}) == "12"
    assert agent.apply_event(nodes, "DELETED", node("wk3", "10.244.3.0/24", "10.0.0.14", version="13")) == "13"
    assert nodes == {}


def test_an_expired_watch_asks_for_a_new_list_and_other_errors_fail(agent: ModuleType):
    with pytest.raises(agent.Expired):
        agent.apply_event({}, "ERROR", {"kind": "Status", "code": 410, "message": "too old resource version"})
    with pytest.raises(RuntimeError, match="internal"):
        agent.apply_event({}, "ERROR", {"kind": "Status", "code": 500, "message": "internal"})
    with pytest.raises(ValueError):
        agent.parse_event(b'{"type": "ADDED"}\n')
    with pytest.raises(ValueError):
        agent.parse_event(b"<html>\n")


def test_a_list_gives_the_nodes_and_its_version(agent: ModuleType):
    doc = {"kind": "NodeList", "metadata": {"resourceVersion": "42"},
           "items": [node("a", "10.244.1.0/24", "10.0.0.12"), node("b", None, "10.0.0.13")]}
    assert agent.nodes_from_list(doc) == ({"a": [("10.244.1.0/24", "10.0.0.12")], "b": []}, "42")


def test_kernel_routes_with_a_gateway_are_read_from_ip_route_show(agent: ModuleType):
    out = ("default via 10.0.0.1 dev eth0 \n"
           "10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.12 \n"
           "10.244.0.0/24 via 10.0.0.11 dev eth0 \n"
           "10.244.1.0/24 dev cni0 proto kernel scope link src 10.244.1.1 \n"
           "fd10:0:0:2::/64 via inet6 fd00::13 dev eth0 metric 1024 pref medium\n"
           "10.244.5.9 via 10.0.0.15 dev eth0 \n")
    assert agent.parse_kernel_routes(out) == {("10.244.0.0/24", "10.0.0.11"), ("fd10:0:0:2::/64", "fd00::13"),
                                              ("10.244.5.9/32", "10.0.0.15")}


# -- the routes on the host, through a fake `ip` ---------------------------------------------

class FakeIp:
    """`ip route` on a dict; records each argv and what the state file said at that moment."""

    def __init__(self, state: Path, fail: dict[str, str] | None = None):
        self.state = state
        self.table: dict[str, str] = {}
        self.calls: list[list[str]] = []
        self.state_at_call: list[dict[str, str]] = []
        self.fail = fail or {}

    def __call__(self, argv: list[str]) -> tuple[int, str]:
        self.calls.append(argv)
        self.state_at_call.append(json.loads(self.state.read_text())["routes"] if self.state.exists() else {})
        if argv[:4] == ["ip", "-o", "-4", "route"]:
            return 0, "".join(f"{c} via {v} dev eth0 \n" for c, v in self.table.items())
        verb, cidr, via = argv[2], argv[3], argv[5]
        if cidr in self.fail:
            return 2, self.fail[cidr]
        if verb == "replace":
            self.table[cidr] = via
        elif self.table.pop(cidr, None) is None:
            return 2, "RTNETLINK answers: No such process"
        return 0, ""


def test_routes_are_applied_by_difference_and_recorded_before_they_are_added(agent: ModuleType, tmp_path: Path):
    state = tmp_path / "run" / "pod-routes.json"
    ip = FakeIp(state)
    routes = agent.HostRoutes(str(state), ip)
    routes.apply({"10.244.0.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.13"})
    assert ip.calls == [["ip", "route", "replace", "10.244.0.0/24", "via", "10.0.0.11"],
                        ["ip", "route", "replace", "10.244.2.0/24", "via", "10.0.0.13"]]
    assert "10.244.0.0/24" in ip.state_at_call[0]  # a stop at any moment leaves nothing unlisted
    assert json.loads(state.read_text()) == {"routes": ip.table}
    ip.calls.clear()
    routes.apply({"10.244.0.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.13"})
    assert ip.calls == []  # nothing differs: nothing runs
    routes.apply({"10.244.2.0/24": "10.0.0.13", "10.244.3.0/24": "10.0.0.14"})  # a node gone, one added
    assert ip.calls == [["ip", "route", "del", "10.244.0.0/24", "via", "10.0.0.11"],
                        ["ip", "route", "replace", "10.244.3.0/24", "via", "10.0.0.14"]]
    assert ip.table == {"10.244.2.0/24": "10.0.0.13", "10.244.3.0/24": "10.0.0.14"}
    # a restarted agent takes over what the state file lists
    again = agent.HostRoutes(str(state), ip)
    again.load()
    assert again.installed == ip.table


def test_a_route_the_kernel_refuses_is_not_recorded_and_is_tried_again(agent: ModuleType, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]):
    state = tmp_path / "pod-routes.json"
    ip = FakeIp(state, fail={"10.244.2.0/24": "Error: Nexthop has invalid gateway."})
    routes = agent.HostRoutes(str(state), ip)
    for _ in range(2):
        routes.apply({"10.244.2.0/24": "10.9.9.9"})
    assert routes.installed == {} and json.loads(state.read_text()) == {"routes": {}}
    assert len(ip.calls) == 2  # tried each time it differs...
    assert capsys.readouterr().out.count("invalid gateway") == 1  # ...and said once


def test_a_route_gone_from_the_kernel_is_added_again(agent: ModuleType, tmp_path: Path):
    state = tmp_path / "pod-routes.json"
    ip = FakeIp(state)
    routes = agent.HostRoutes(str(state), ip)
    wanted = {"10.244.0.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.13"}
    routes.apply(wanted)
    del ip.table["10.244.2.0/24"]  # an interface went down, or someone deleted it
    ip.calls.clear()
    routes.forget_missing()
    routes.apply(wanted)
    assert ip.calls == [["ip", "-o", "-4", "route", "show"],
                        ["ip", "route", "replace", "10.244.2.0/24", "via", "10.0.0.13"]]


def test_cleanup_deletes_exactly_the_recorded_routes_and_the_state(agent: ModuleType, tmp_path: Path):
    state = tmp_path / "k8sboot" / "pod-routes.json"
    ip = FakeIp(state)
    agent.HostRoutes(str(state), ip).apply({"10.244.0.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.13"})
    del ip.table["10.244.2.0/24"]  # already gone: not an error
    ip.table["10.244.7.0/24"] = "10.0.0.70"  # not the agent's: kept
    ip.calls.clear()
    agent.HostRoutes(str(state), ip).cleanup()
    assert ip.calls == [["ip", "route", "del", "10.244.0.0/24", "via", "10.0.0.11"],
                        ["ip", "route", "del", "10.244.2.0/24", "via", "10.0.0.13"]]
    assert ip.table == {"10.244.7.0/24": "10.0.0.70"}
    assert not state.parent.exists()
    agent.HostRoutes(str(state), ip).cleanup()  # a second stop: nothing to do


# -- the HTTP client against a TLS server that wants the node's certificate -------------------

class FakeApiserver:
    def __init__(self, pki: Path):
        self.requests: list[tuple[str, str]] = []  # (client CN, path)
        self.events: list[dict[str, Any]] = []
        self.status = 200
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                cert = self.connection.getpeercert()  # type: ignore[attr-defined]
                cn = dict(x[0] for x in cert["subject"])["commonName"]
                owner.requests.append((cn, self.path))
                if owner.status != 200:
                    body = json.dumps({"kind": "Status", "code": owner.status}).encode()
                    self.send_response(owner.status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif "watch=true" in self.path:
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for event in owner.events:  # one chunk may hold a part of a line, or several
                        data = json.dumps(event).encode() + b"\n"
                        for part in (data[:10], data[10:]):
                            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    body = json.dumps({"kind": "NodeList", "metadata": {"resourceVersion": "5"},
                                       "items": [node("cp1", "10.244.0.0/24", "10.0.0.11")]}).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(str(pki / "apiserver.crt"), str(pki / "apiserver.key"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def apiserver(pki: Path) -> Iterator[FakeApiserver]:
    server = FakeApiserver(pki)
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_lists_then_watches_the_nodes_as_the_node(agent: ModuleType, pki: Path, apiserver: FakeApiserver,
                                                 tmp_path: Path):
    kubeconfig = tmp_path / "kubelet.kubeconfig"
    kubeconfig.write_text(render_kubeconfig(
        f"https://127.0.0.1:{apiserver.port}", (pki / "ca.crt").read_bytes(),
        (pki / "kubelet" / "wk1.crt").read_bytes(), (pki / "kubelet" / "wk1.key").read_bytes(),
        "system:node:wk1", "demo"))
    api = agent.Api(str(kubeconfig))
    assert api.node == "wk1" and not api.changed()
    nodes, version = api.list_nodes()
    assert nodes == {"cp1": [("10.244.0.0/24", "10.0.0.11")]} and version == "5"
    apiserver.events = [{"type": "ADDED", "object": node("wk3", "10.244.3.0/24", "10.0.0.14", version="6")},
                        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}]
    for kind, obj in api.watch_nodes(version, 60):
        version = agent.apply_event(nodes, kind, obj)
    assert version == "9" and nodes["wk3"] == [("10.244.3.0/24", "10.0.0.14")]
    assert [cn for cn, _ in apiserver.requests] == ["system:node:wk1"] * 2
    assert apiserver.requests[1][1] == ("/api/v1/nodes?watch=true&resourceVersion=5&allowWatchBookmarks=true"
                                        "&timeoutSeconds=60")
    apiserver.status = 410
    with pytest.raises(agent.Expired):
        list(api.watch_nodes(version, 60))
    kubeconfig.write_text(kubeconfig.read_text().replace("127.0.0.1", "localhost"))
    assert api.changed()
