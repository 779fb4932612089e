"""`k8sboot certs`: renewal of leaves (locally, through ensure_pki), and check-expiration's data,
host comparison and output, without hosts."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from rich.console import Console

from k8sboot import cluster_layout as layout
from k8sboot.commands import certs
from k8sboot.connection.result import CommandResult
from k8sboot.context import CommandContext
from k8sboot.errors import InputError, UnreachableError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.phases.pki import Pki
from k8sboot.phases.sequences import certs_renew_phases, up_phases
from k8sboot.pki import PkiSpec, ensure_pki, expiry, renewal
from k8sboot.pki import layout as L
from k8sboot.pki.catalog import leaf_profiles
from k8sboot.pki.certs import cert_pem, issue_leaf, load_cert
from k8sboot.pki.expiry import cert_name, read_pki
from k8sboot.pki.keys import load_private_key, same_public_key
from k8sboot.pki.sans import SubjectAltNames
from k8sboot.state import ClusterState

SPEC = PkiSpec(
    "demo",
    control_planes=[("cp1", ["10.0.0.11"])],
    etcd_members=[("cp1", ["10.0.0.11"])],
    nodes=[("n1", ["10.0.0.21"]), ("n2", ["10.0.0.22"])],
)


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    root = tmp_path / "pki"
    ensure_pki(SPEC, root)
    return root


# -- renew: which names ----------------------------------------------------------------
def test_no_name_and_all_mean_every_leaf_and_never_a_ca() -> None:
    every = [p.stem for p in leaf_profiles(SPEC)]
    assert renewal.resolve(SPEC, []) == every
    assert renewal.resolve(SPEC, ["all"]) == every
    assert renewal.resolve(SPEC, ["apiserver", "all"]) == every
    assert L.CA not in every and L.ETCD_CA not in every


def test_names_are_check_expirations_and_a_kubeconfig_names_the_leaf_it_embeds() -> None:
    assert renewal.resolve(SPEC, ["kubelet/n2", "etcd-server/cp1", "apiserver"]) == [
        L.APISERVER, L.etcd_server("cp1"), L.kubelet("n2")]  # in the catalog's order
    assert renewal.resolve(SPEC, ["admin.kubeconfig", "admin"]) == [L.ADMIN]
    assert renewal.resolve(SPEC, ["kubelet-n1.kubeconfig"]) == [L.kubelet("n1")]


def test_an_unknown_name_is_bad_input_that_lists_the_valid_ones() -> None:
    with pytest.raises(InputError) as err:
        renewal.resolve(SPEC, ["apiserver", "apiserverr"])
    text = str(err.value)
    assert "'apiserverr'" in text
    for name in ("all", "apiserver", "etcd-peer/cp1", "kubelet/n1", "admin.kubeconfig"):
        assert name in text
    assert err.value.exit_code == 2


@pytest.mark.parametrize("name", ["ca", "etcd-ca", "front-proxy-ca", "sa", "sa.key"])
def test_cas_and_the_service_account_key_are_refused_with_the_reason(name: str) -> None:
    with pytest.raises(InputError, match="never renewed"):
        renewal.resolve(SPEC, [name])


def test_prepare_refuses_a_stem_that_is_not_a_leaf(pki: Path) -> None:
    before = snapshot(pki)
    with pytest.raises(InputError):
        renewal.prepare(SPEC, pki, [L.APISERVER, L.CA])
    assert snapshot(pki) == before


# -- renew: what changes ----------------------------------------------------------------
def test_renewing_the_apiserver_changes_only_its_certificate_and_key(pki: Path) -> None:
    before = snapshot(pki)
    old = load(pki / "apiserver.crt")
    renewed, _ = renewal.renew_leaves(SPEC, pki, renewal.resolve(SPEC, ["apiserver"]))

    after = snapshot(pki)
    assert {f for f in after if after[f] != before.get(f)} == {"apiserver.crt", "apiserver.key"}
    assert set(after) == set(before)
    new = load(pki / "apiserver.crt")
    assert new.serial_number != old.serial_number
    assert new.subject == old.subject and new.issuer == old.issuer
    assert SubjectAltNames.from_certificate(new) == SubjectAltNames.from_certificate(old)
    assert new.extensions.get_extension_for_class(x509.ExtendedKeyUsage) == \
        old.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    new.verify_directly_issued_by(load(pki / "ca.crt"))
    # a new key pair (as kubeadm certs renew), and the certificate is for it
    assert new.public_key() != old.public_key()
    assert same_public_key(new.public_key(), load_private_key(pki / "apiserver.key"))  # type: ignore[arg-type]
    assert renewed == [renewal.Renewed("apiserver", L.APISERVER, format(old.serial_number, "x"),
                                       format(new.serial_number, "x"), new.not_valid_after_utc)]
    assert new.not_valid_after_utc > datetime.now(UTC) + timedelta(days=364)


def test_renewing_a_client_certificate_rewrites_the_kubeconfig_that_embeds_it(pki: Path) -> None:
    before = snapshot(pki)
    renewal.renew_leaves(SPEC, pki, renewal.resolve(SPEC, ["kubelet/n1"]))
    after = snapshot(pki)
    assert {f for f in after if after[f] != before[f]} == {
        "kubelet/n1.crt", "kubelet/n1.key", "kubeconfigs/kubelet-n1.kubeconfig"}
    embedded = expiry.kubeconfig_client_cert(pki / "kubeconfigs" / "kubelet-n1.kubeconfig")
    assert embedded == load(pki / "kubelet" / "n1.crt")


def test_renewing_all_changes_every_leaf_serial_and_no_ca(pki: Path) -> None:
    before_files = snapshot(pki)
    before = {r.name: r for r in read_pki(pki)}
    renewed, result = renewal.renew_leaves(SPEC, pki, renewal.resolve(SPEC, ["all"]))
    after = {r.name: r for r in read_pki(pki)}

    leaves = {cert_name(p.stem) for p in leaf_profiles(SPEC)}
    assert {r.name for r in renewed} == leaves
    for name, record in after.items():
        if record.kind == expiry.CA:
            assert record.serial == before[name].serial, name
        else:  # every leaf, and the client certificate of every kubeconfig
            assert record.serial != before[name].serial, name
    after_files = snapshot(pki)
    changed = {f for f in after_files if after_files[f] != before_files[f]}
    untouched = set(after_files) - changed
    # the CAs, their keys and the service-account key (and whatever else is not a leaf) stay as they were
    assert {"ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "sa.key", "sa.pub"} <= untouched
    assert all(f.endswith((".crt", ".key", ".kubeconfig")) for f in changed)
    assert not any(f.endswith(("ca.crt", "ca.key")) for f in changed)
    assert result.warnings == []


def test_renewing_twice_gives_new_serials_again(pki: Path) -> None:
    first, _ = renewal.renew_leaves(SPEC, pki, [L.SCHEDULER])
    second, _ = renewal.renew_leaves(SPEC, pki, [L.SCHEDULER])
    assert second[0].old_serial == first[0].new_serial != second[0].new_serial


def test_the_renew_phase_runs_up_s_pki_phase_around_the_renewal(pki: Path, tmp_path: Path) -> None:
    admin = tmp_path / "admin.kubeconfig"
    ctx: Any = SimpleNamespace(
        plan=SimpleNamespace(pki_spec=lambda: SPEC, api_server_url="https://10.0.0.11:6443",
                             admin_server_url=None, local_server_url="https://127.0.0.1:6443"),
        state=SimpleNamespace(pki_dir=pki, admin_kubeconfig=admin),
    )
    ensure_pki(SPEC, pki, "https://10.0.0.11:6443", local_server_url="https://127.0.0.1:6443")
    before = snapshot(pki)
    phase = certs.RenewCertificates([L.ADMIN])
    phase.run(ctx)
    after = snapshot(pki)
    assert {f for f in after if after[f] != before[f]} == {"admin.crt", "admin.key",
                                                           "kubeconfigs/admin.kubeconfig"}
    assert [r.name for r in phase.renewed] == ["admin"]
    assert admin.read_bytes() == (pki / "kubeconfigs" / "admin.kubeconfig").read_bytes()


def test_renew_is_up_with_its_pki_phase_replaced() -> None:
    marker = certs.RenewCertificates([L.APISERVER])
    renew, up = certs_renew_phases(marker), up_phases()
    assert len(renew) == len(up) and renew.count(marker) == 1
    at = renew.index(marker)
    assert isinstance(up[at], Pki)
    assert [type(p) for i, p in enumerate(renew) if i != at] == [type(p) for i, p in enumerate(up) if i != at]


def test_renewed_table_lists_old_and_new_serials() -> None:
    r = renewal.Renewed("apiserver", L.APISERVER, "abc", "def", datetime(2031, 1, 2, 3, 4, tzinfo=UTC))
    console = Console(file=io.StringIO(), width=200, record=True)
    console.print(certs.renewed_table([r]))
    text = console.export_text()
    assert "apiserver" in text and "abc" in text and "def" in text and "2031-01-02 03:04" in text


# -- check-expiration ---------------------------------------------------------------------
def inventory() -> Inventory:
    hosts = {
        "cp1": Host("cp1", "10.0.0.11", groups=[layout.ETCD, layout.CONTROL_PLANE, layout.NODES]),
        "wk1": Host("wk1", "10.0.0.21", groups=[layout.NODES]),
        # a host whose inventory moves the Kubernetes PKI: the roles install there, so we look there
        "wk2": Host("wk2", "10.0.0.22", groups=[layout.NODES], vars={"k8s_pki_dir": "/srv/k8s-pki"}),
    }
    groups = {layout.ETCD: ["cp1"], layout.CONTROL_PLANE: ["cp1"], layout.NODES: ["cp1", "wk1", "wk2"]}
    return Inventory(None, {"name": "demo"}, hosts, groups)


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[CommandContext, dict[str, dict[str, Path]]]:
    command = CommandContext(inventory(), ClusterState(tmp_path / "state"), [], [])
    plan = certs.pki_plan(command)
    ensure_pki(plan.pki_spec(), command.state.pki_dir, "https://10.0.0.11:6443")
    return command, certs.host_files(plan, command.inventory.hosts.values())


def digests(files: dict[str, Path]) -> dict[str, str | None]:
    return {dest: hashlib.sha256(src.read_bytes()).hexdigest() for dest, src in files.items()}


def test_each_host_holds_the_files_its_groups_get_where_its_vars_put_them(cluster: Any) -> None:
    command, files = cluster
    pki = command.state.pki_dir
    assert list(files) == ["cp1", "wk1", "wk2"]
    assert files["cp1"]["/etc/kubernetes/pki/apiserver.crt"] == pki / "apiserver.crt"
    assert files["cp1"]["/etc/etcd/pki/server.crt"] == pki / "etcd" / "cp1-server.crt"
    assert files["wk1"]["/etc/kubernetes/pki/kubelet.crt"] == pki / "kubelet" / "wk1.crt"
    assert files["wk2"]["/srv/k8s-pki/kubelet.crt"] == pki / "kubelet" / "wk2.crt"
    assert "/etc/kubernetes/pki/apiserver.crt" not in files["wk1"]


def check(command: CommandContext, files: dict[str, dict[str, Path]],
          remote: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    pki = command.state.pki_dir
    records = read_pki(pki)
    rows = certs.check_rows(pki, records, certs.host_statuses(records, files, remote), datetime.now(UTC))
    return rows, certs.problems(rows)


def test_a_healthy_cluster_has_every_row_ok_and_no_problem(cluster: Any) -> None:
    command, files = cluster
    remote = {host: digests(f) for host, f in files.items()}
    rows, trouble = check(command, files, remote)
    assert trouble == []
    by_name = {r["name"]: r for r in rows}
    assert by_name["ca"]["hosts"] == {"cp1": "ok", "wk1": "ok", "wk2": "ok"}
    assert by_name["apiserver"]["hosts"] == {"cp1": "ok"}
    assert by_name["kubelet/wk2"]["hosts"] == {"wk2": "ok"}
    assert by_name["kube-proxy.kubeconfig"]["hosts"] == {"cp1": "ok", "wk1": "ok", "wk2": "ok"}
    assert by_name["admin"]["hosts"] == {}  # the client cert itself goes nowhere; its kubeconfig does
    assert by_name["admin.kubeconfig"]["hosts"] == {"cp1": "ok"}


def test_a_host_whose_copy_differs_or_is_missing_is_named_in_its_row(cluster: Any) -> None:
    command, files = cluster
    remote: dict[str, Any] = {host: digests(f) for host, f in files.items()}
    remote["wk1"]["/etc/kubernetes/pki/kubelet.key"] = "0" * 64         # the key is part of the pair
    remote["wk1"]["/etc/kubernetes/kube-proxy.kubeconfig"] = None       # not there
    remote["cp1"]["/etc/kubernetes/pki/etcd/ca.crt"] = "1" * 64         # one of etcd-ca's two copies
    rows, trouble = check(command, files, remote)
    by_name = {r["name"]: r for r in rows}
    assert by_name["kubelet/wk1"]["hosts"] == {"wk1": "differs"}
    assert by_name["kube-proxy.kubeconfig"]["hosts"] == {"cp1": "ok", "wk1": "missing", "wk2": "ok"}
    assert by_name["etcd-ca"]["hosts"] == {"cp1": "differs"}
    assert set(trouble) == {"wk1: kubelet/wk1 differs", "wk1: kube-proxy.kubeconfig missing",
                            "cp1: etcd-ca differs"}


def test_an_unreachable_host_is_one_problem_and_in_every_row_it_holds(cluster: Any) -> None:
    command, files = cluster
    remote: dict[str, Any] = {host: digests(f) for host, f in files.items()}
    remote["wk2"] = "connection refused"
    rows, trouble = check(command, files, remote)
    assert trouble == ["wk2: unreachable: connection refused"]
    held = [r for r in rows if "wk2" in r["hosts"]]
    assert held and all(r["hosts"]["wk2"] == "unreachable: connection refused" for r in held)


def test_expiring_within_30_days_is_a_problem(cluster: Any) -> None:
    command, files = cluster
    pki = command.state.pki_dir
    soon = datetime.now(UTC) - timedelta(days=355)
    # the scheduler's certificate as issued 355 days ago (by our CA, for its key): 10 days left
    profile = next(p for p in leaf_profiles(certs.pki_plan(command).pki_spec()) if p.stem == L.SCHEDULER)
    cert = issue_leaf(profile, load_private_key(pki / "scheduler.key").public_key(), load_cert(pki / "ca.crt"),
                      load_private_key(pki / "ca.key"), soon, timedelta(days=365))
    (pki / "scheduler.crt").write_bytes(cert_pem(cert))
    rows, trouble = check(command, files, {host: digests(f) for host, f in files.items()})
    row = next(r for r in rows if r["name"] == "scheduler")
    assert row["expiring"] and row["residual"] in ("9d", "10d")
    assert len(trouble) == 1 and trouble[0].startswith("scheduler expires ") and "within 30 days" in trouble[0]


def test_the_json_output_shape(cluster: Any) -> None:
    command, files = cluster
    remote: dict[str, Any] = {host: digests(f) for host, f in files.items()}
    remote["wk1"] = "no route to host"
    rows, trouble = check(command, files, remote)
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = json.loads(json.dumps(certs.check_data("demo", command.state.pki_dir, now, rows, trouble)))
    assert set(data) == {"cluster", "pki_dir", "checked_at", "warn_days", "certificates", "problems", "ok"}
    assert data["checked_at"] == "2030-01-02T03:04:05Z" and data["warn_days"] == 30
    assert data["ok"] is False and data["problems"] == ["wk1: unreachable: no route to host"]
    row = next(r for r in data["certificates"] if r["name"] == "apiserver")
    assert set(row) == {"name", "kind", "file", "subject", "serial", "not_before", "expires",
                        "seconds_left", "residual", "expiring", "issuer", "issuer_subject", "error", "hosts"}
    assert row["kind"] == "leaf" and row["file"] == "apiserver.crt" and row["issuer"] == "ca"
    assert row["subject"] == "CN=kube-apiserver" and row["issuer_subject"] == "CN=demo-ca"
    assert datetime.strptime(row["expires"], "%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(row["seconds_left"], int) and row["seconds_left"] > 0
    assert row["hosts"] == {"cp1": "ok"}
    ca = next(r for r in data["certificates"] if r["name"] == "ca")
    assert ca["kind"] == "ca" and ca["issuer"] == "self-signed"
    assert ca["hosts"] == {"cp1": "ok", "wk1": "unreachable: no route to host", "wk2": "ok"}
    assert data["certificates"][0]["kind"] == "ca"


def test_the_table_names_the_hosts_that_are_not_ok(cluster: Any) -> None:
    command, files = cluster
    remote: dict[str, Any] = {host: digests(f) for host, f in files.items()}
    remote["wk1"]["/etc/kubernetes/pki/ca.crt"] = "0" * 64
    rows, _ = check(command, files, remote)
    console = Console(file=io.StringIO(), width=250, record=True, no_color=True)
    console.print(certs.check_table(rows))
    lines = [line for line in console.export_text().splitlines() if line.startswith("│")]
    ca_line = next(line for line in lines if line.split("│")[1].strip() == "ca")
    assert "wk1 differs; 2 ok" in ca_line and "self-signed" in ca_line
    assert certs.hosts_text({}) == "-"
    assert certs.hosts_text({"a": "ok", "b": "ok"}) == "2 ok"


# -- reading the hosts: one command each, every path quoted ----------------------------
class LocalConn:
    """Runs what would run on a host in a local shell, and counts the commands."""

    def __init__(self, name: str):
        self.name = name
        self.checksums: dict[str, tuple[str, str]] = {}
        self.commands: list[str] = []

    def run(self, cmd: str, *, become: bool | None = None, timeout: float | None = None) -> CommandResult:
        self.commands.append(cmd)
        p = subprocess.run(["sh", "-c", cmd], check=False, capture_output=True, text=True, timeout=30)
        return CommandResult(cmd, p.returncode, p.stdout, p.stderr)


class Pool:
    forks = 4

    def __init__(self, conns: dict[str, LocalConn]):
        self.conns = conns

    def get(self, host: Host) -> LocalConn:
        if host.name not in self.conns:
            raise UnreachableError(host.name, host.address or "", host.port, "connection refused")
        return self.conns[host.name]


def test_each_host_is_read_with_one_command_all_paths_quoted(tmp_path: Path) -> None:
    odd = tmp_path / "it's a $file.crt"
    odd.write_bytes(b"one")
    plain = tmp_path / "plain.key"
    plain.write_bytes(b"two")
    conns = {"cp1": LocalConn("cp1"), "wk1": LocalConn("wk1")}
    hosts = [Host("cp1", "10.0.0.11"), Host("wk1", "10.0.0.12"), Host("wk2", "10.0.0.13"), Host("x", "10.0.0.14")]
    paths = {"cp1": [str(odd), str(plain), str(tmp_path / "absent.crt")], "wk1": [str(plain)],
             "wk2": [str(plain)]}
    got = certs.remote_digests(Pool(conns), hosts, paths)  # type: ignore[arg-type]
    assert got["cp1"] == {str(odd): hashlib.sha256(b"one").hexdigest(),
                          str(plain): hashlib.sha256(b"two").hexdigest(),
                          str(tmp_path / "absent.crt"): None}
    assert got["wk1"] == {str(plain): hashlib.sha256(b"two").hexdigest()}
    assert got["wk2"] == "connection refused"
    assert "x" not in got  # holds nothing: not asked
    assert len(conns["cp1"].commands) == 1 and len(conns["wk1"].commands) == 1


# -- the command, from the command line to the exit code (hosts that do not answer) -----
def args(tmp_path: Path, action: str, **more: Any) -> argparse.Namespace:
    inv = tmp_path / "inv.yml"
    inv.write_text("cluster: {name: certs-unit}\n"
                   "hosts:\n  cp1: {address: 127.0.0.1, port: 1, groups: [etcd, control_plane, nodes]}\n")
    values: dict[str, Any] = {"certs_command": action, "inventory": str(inv), "extra_vars": None,
                              "output": "table", "forks": 10, "connect_timeout": 2.0,
                              "accept_new_host_keys": False, "verbose": 0}
    return argparse.Namespace(**(values | more))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("K8SBOOT_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "clusters" / "certs-unit"


def test_check_expiration_without_a_pki_is_bad_input(tmp_path: Path, home: Path) -> None:
    with pytest.raises(InputError, match="no PKI yet"):
        certs.run(args(tmp_path, "check-expiration"))


def test_check_expiration_prints_json_and_exits_1_when_a_host_cannot_be_asked(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = PkiSpec("certs-unit", control_planes=[("cp1", ["127.0.0.1"])],
                   etcd_members=[("cp1", ["127.0.0.1"])], nodes=[("cp1", ["127.0.0.1"])])
    ensure_pki(spec, home / "pki")
    assert certs.run(args(tmp_path, "check-expiration", output="json")) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["cluster"] == "certs-unit" and data["ok"] is False
    assert len(data["problems"]) == 1 and data["problems"][0].startswith("cp1: unreachable: ")
    assert {r["name"] for r in data["certificates"]} >= {"ca", "etcd-ca", "apiserver", "etcd-server/cp1",
                                                         "kubelet/cp1", "admin.kubeconfig"}
    assert certs.run(args(tmp_path, "check-expiration")) == 1
    out = capsys.readouterr().out
    assert "apiserver" in out and "cp1 unreachable" in out


def test_renew_with_an_unknown_name_fails_before_any_host(tmp_path: Path, home: Path) -> None:
    spec = PkiSpec("certs-unit", control_planes=[("cp1", ["127.0.0.1"])],
                   etcd_members=[("cp1", ["127.0.0.1"])], nodes=[("cp1", ["127.0.0.1"])])
    ensure_pki(spec, home / "pki")
    before = snapshot(home / "pki")
    with pytest.raises(InputError, match="Valid names: all, apiserver"):
        certs.run(args(tmp_path, "renew", names=["nope"]))
    assert snapshot(home / "pki") == before
