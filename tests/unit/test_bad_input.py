"""Bad input gives one clear InputError naming the file (exit code 2), never a traceback.

Each case here failed before its fix: with a traceback, a memory error, a rich
markup error inside the error printer, or by being accepted.
"""

from __future__ import annotations

import os
import resource
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8sboot import ui
from k8sboot.binaries import probe
from k8sboot.binaries.download import DownloadError, fetch
from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory
from k8sboot.state import ClusterState

THREE = "  cp1: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}\n" \
        "  wk1: {address: 10.0.0.2, groups: [nodes]}\n" \
        "  wk2: {address: 10.0.0.3, groups: [nodes]}\n"


def native(tmp_path: Path, head: str = "", hosts: str = THREE, name: str = "inv.yml") -> Path:
    path = tmp_path / name
    path.write_text(f"{head}hosts:\n{hosts}")
    return path


def bad(path: Path, *fragments: str, extra: tuple[str, ...] = ()) -> InputError:
    with pytest.raises(InputError) as info:
        load_inventory(path, extra)
    err = info.value
    assert err.exit_code == 2
    text = str(err)
    assert "\n" not in text, text
    for fragment in fragments:
        assert fragment in text, text
    return err


def alias_bomb() -> str:
    lines = ["  a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "vars:\n" + "\n".join(lines) + "\n"


# -- YAML that would blow up -----------------------------------------------------------

def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    err = bad(native(tmp_path, alias_bomb()), "alias bomb")
    assert err.file == str(tmp_path / "inv.yml") and err.line is not None


def test_recursive_anchor_is_refused(tmp_path: Path) -> None:
    bad(native(tmp_path, "vars: &a {x: *a}\n"), "alias to itself")


def test_moderate_anchors_and_merges_still_load(tmp_path: Path) -> None:
    head = "vars:\n  base: &b {a: 1, b: [1, 2, 3]}\n  one: {<<: *b, c: 2}\n  two: *b\n"
    inv = load_inventory(native(tmp_path, head))
    assert inv.vars["one"] == {"a": 1, "b": [1, 2, 3], "c": 2}


def test_deep_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    path = native(tmp_path, "vars:\n  deep: " + "[" * 3000 + "]" * 3000 + "\n")
    bad(path, "nesting deeper than")


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "inv.yml"
    path.write_bytes(b"hosts:\n  cp1: {address: \"\xff\xfe\", groups: [etcd]}\n")
    err = bad(path, "not UTF-8")
    assert err.line == 2


def test_invalid_utf8_in_group_vars_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    gv = tmp_path / "group_vars" / "nodes.yml"
    gv.write_bytes(b"x: 1\ny: \"\xc3\x28\"\n")
    err = bad(native(tmp_path), "not UTF-8")
    assert err.file == str(gv) and err.line == 2


def test_invalid_utf8_in_host_vars_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "host_vars").mkdir()
    hv = tmp_path / "host_vars" / "cp1.yml"
    hv.write_bytes(b"\x80\n")
    assert bad(native(tmp_path), "not UTF-8").file == str(hv)


@pytest.mark.parametrize("value", ["0x" + "f" * 5000, "1" * 5000, "2024-02-30"])
def test_unprintable_integers_and_impossible_dates(tmp_path: Path, value: str) -> None:
    bad(native(tmp_path, f"vars: {{x: {value}}}\n"), "inv.yml:1:")


def test_control_character_in_yaml(tmp_path: Path) -> None:
    bad(native(tmp_path, "vars: {x: 1}\n\x01\n"), "U+0001")


# -- the error printer ---------------------------------------------------------------

def test_markup_in_user_text_is_printed_literally(capsys: pytest.CaptureFixture[str]) -> None:
    ui.error("inv.yml:2: unknown host '[/bold]' key ':smile:' [red]x[/red]")
    ui.warn("[/] is not markup")
    err = capsys.readouterr().err
    assert "error: inv.yml:2: unknown host '[/bold]' key ':smile:' [red]x[/red]" in err
    assert "warning: [/] is not markup" in err


def test_markup_like_host_name_is_an_input_error(tmp_path: Path) -> None:
    hosts = "  \"[/bold]\": {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}\n"
    bad(native(tmp_path, hosts=hosts), "'[/bold]'")


# -- cluster settings and state files ---------------------------------------------------

def test_state_dir_must_be_a_path(tmp_path: Path) -> None:
    bad(native(tmp_path, "cluster: {state_dir: 5}\n"), "cluster.state_dir", "not 5")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"cp1": 5}',
                                     '{"cp1": {"port": "22"}}', '{"cp1": {"port": 70000}}',
                                     "\xff", "[" * 100000])
def test_damaged_machines_json_names_the_file(tmp_path: Path, content: str) -> None:
    state = ClusterState(tmp_path / "state").ensure()
    state.machines_file.write_bytes(content.encode("latin-1"))
    with pytest.raises(InputError) as info:
        state.machines()
    assert info.value.file == str(state.machines_file)
    assert "damaged state file" in str(info.value) and "\n" not in str(info.value)


def test_fullwidth_digits_are_not_a_port(tmp_path: Path) -> None:
    hosts = THREE.replace("10.0.0.1,", "10.0.0.1, port: \"２２\",")
    bad(native(tmp_path, hosts=hosts), "port must be an integer", "'２２'")


def test_superscript_port_in_ini_host_line(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[kube_control_plane]\ncp1:² ansible_host=10.0.0.1\n[etcd]\ncp1:²\n"
                    "[kube_node]\ncp1:²\n")
    with pytest.raises(InputError):
        load_inventory(path)


# -- names: no trailing newline, no path ------------------------------------------------

@pytest.mark.parametrize("head", ["cluster: {name: \"lab\\n\"}\n",
                                  "cluster: {pod_cidr: \"10.244.0.0/16\\n\"}\n",
                                  "cluster: {cluster_domain: \"cluster.local\\n\"}\n"])
def test_trailing_newline_is_not_a_valid_name(tmp_path: Path, head: str) -> None:
    bad(native(tmp_path, head), "inv.yml:1:")


def test_ansible_host_name_with_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text('all:\n  children:\n    kube_control_plane: {hosts: {"cp1\\n": {}}}\n'
                    '    etcd: {hosts: {"cp1\\n": {}}}\n')
    bad(path, "host name 'cp1\\n' is not allowed")


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", ""])
def test_host_names_that_are_paths_are_refused(tmp_path: Path, name: str) -> None:
    hosts = f"  \"{name}\": {{address: 10.0.0.1, groups: [etcd, control_plane, nodes]}}\n"
    err = bad(native(tmp_path, hosts=hosts), "host name", repr(name))
    assert err.line == 2


def test_ini_group_name_that_is_a_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[../../etc]\ncp1 ansible_host=10.0.0.1\n")
    bad(path, "group name '../../etc'")


@pytest.mark.parametrize("node_name", ["../x", "a/b", "Upper", "x\n", "-x"])
def test_node_name_must_be_dns_1123(tmp_path: Path, node_name: str) -> None:
    hosts = THREE.replace("groups: [nodes]}", f"groups: [nodes], vars: {{node_name: {node_name!r}}}}}", 1)
    hosts = hosts.replace("'x\n'", '"x\\n"')
    err = bad(native(tmp_path, hosts=hosts), "node_name", "Kubernetes node name")
    assert err.line == 3


# -- booleans -----------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [('"no"', False), ('"Yes"', True), ('"OFF"', False),
                                            ("on", True), ('"0"', False), ("1", True)])
def test_become_is_read_as_ansible_reads_booleans(tmp_path: Path, value: str,
                                                  expected: bool) -> None:
    hosts = THREE.replace("groups: [etcd, control_plane, nodes]}",
                          f"groups: [etcd, control_plane, nodes], become: {value}}}")
    assert load_inventory(native(tmp_path, hosts=hosts)).hosts["cp1"].become is expected


@pytest.mark.parametrize("value", ['"maybe"', '""', "2", "[true]"])
def test_anything_else_is_not_a_boolean(tmp_path: Path, value: str) -> None:
    hosts = THREE.replace("groups: [etcd, control_plane, nodes]}",
                          f"groups: [etcd, control_plane, nodes], become: {value}}}")
    bad(native(tmp_path, hosts=hosts), "become must be true or false")


def test_boolean_var_from_ini_and_extra_vars(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[kube_control_plane]\ncp1 ansible_host=10.0.0.1 ansible_become=maybe\n"
                    "[etcd]\ncp1\n[kube_node]\ncp1\n")
    bad(path, "become must be true or false")
    bad(native(tmp_path), "containerd_restrict_oom_score_adj",
        extra=("containerd_restrict_oom_score_adj=perhaps",))


# -- values that reach unit files -----------------------------------------------------

@pytest.mark.parametrize("head,fragment", [
    ("vars: {kubelet_extra_args: {v: \"2\\nExecStartPre=/bin/evil\"}}\n", "kubelet_extra_args.v"),
    ("vars: {kubelet_extra_args: {\"a\\nb\": 1}}\n", "not a flag name"),
    ("vars: {k8s_pki_dir: \"/etc\\rx\"}\n", "k8s_pki_dir"),
    ("vars: {etcd_data_dir: \"/var\\u2028x\"}\n", "etcd_data_dir"),
    ("vars: {pod_cidr: 10.244.0.1/16}\n", "CIDR"),
    ("vars: {service_cidr: 5}\n", "CIDR"),
    ("cluster: {service_cidr: \"10.96.0.0/33\"}\n", "CIDR"),
    ("vars: {cluster_domain: \"a b\"}\n", "DNS name"),
    ("vars: {cgroup_driver: \"systemd\\n\"}\n", "cgroup_driver"),
    ("group_vars: {nodes: {node_ip: \"fe80::1%eth0\\nx\"}}\n", "node_ip"),
])
def test_unit_file_values_are_single_line_and_well_formed(tmp_path: Path, head: str,
                                                          fragment: str) -> None:
    err = bad(native(tmp_path, head), fragment)
    assert err.file == str(tmp_path / "inv.yml") and err.line == 1


def test_extra_args_from_a_group_vars_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    gv = tmp_path / "group_vars" / "all.yml"
    gv.write_text("a: 1\napiserver_extra_args:\n  audit-log-path: \"/x\\n[Service]\"\n")
    err = bad(native(tmp_path), "apiserver_extra_args.audit-log-path")
    assert err.file == str(gv) and err.line == 3


def test_extra_vars_with_newline_are_refused(tmp_path: Path) -> None:
    bad(native(tmp_path), "-e", "kubelet_extra_args",
        extra=('{"kubelet_extra_args": {"v": "1\\nx"}}',))


def test_address_must_be_an_ip_or_host_name(tmp_path: Path) -> None:
    hosts = THREE.replace("10.0.0.1", "\"10.0.0.1 -oProxyCommand=x\"")
    bad(native(tmp_path, hosts=hosts), "host 'cp1' address must be an IP address")


def test_valid_values_still_load(tmp_path: Path) -> None:
    head = ("cluster: {pod_cidr: 10.32.0.0/16, service_cidr: \"fd00::/108\", "
            "cluster_domain: example.internal}\n"
            "vars: {kubelet_extra_args: {v: 2, node-labels: \"a=b,c=d\"}, k8s_pki_dir: /etc/pki,"
            " containerd_restrict_oom_score_adj: \"yes\"}\n")
    hosts = THREE.replace("groups: [nodes]}", "groups: [nodes], vars: {node_name: worker-1.lab}}", 1)
    inv = load_inventory(native(tmp_path, head, hosts))
    assert inv.hosts["wk1"].node_name == "worker-1.lab"


# -- binaries: downloads and the ELF header --------------------------------------------------

def _serve_once(answer: bytes) -> Iterator[str]:
    """A server on 127.0.0.1 that answers every connection with `answer` and closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    stop = threading.Event()

    def loop() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(answer)
                except OSError:
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/kubelet"
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@pytest.fixture
def not_http() -> Iterator[str]:
    yield from _serve_once(b"SSH-2.0-OpenSSH_9.2\r\n")


@pytest.fixture
def cut_chunked() -> Iterator[str]:
    yield from _serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"10\r\n0123456789")


def test_download_from_a_server_that_is_not_http(tmp_path: Path, not_http: str) -> None:
    with pytest.raises(DownloadError, match="not an HTTP answer"):
        fetch(not_http, "a" * 64, tmp_path, lambda p: "")


def test_download_cut_short_in_a_chunk(tmp_path: Path, cut_chunked: str) -> None:
    with pytest.raises(DownloadError, match="failed part way"):
        fetch(cut_chunked, "a" * 64, tmp_path, lambda p: "")
    assert not [p for p in tmp_path.iterdir()]  # the partial file is gone


def test_resolve_names_the_url_of_a_non_http_server(tmp_path: Path, not_http: str) -> None:
    from k8sboot.binaries import resolve_binaries

    settings = {"kubelet": {"url": not_http, "sha256": "a" * 64}}
    with pytest.raises(InputError) as info:
        resolve_binaries(settings, tmp_path / "cache", None, components=["kubelet"],
                         require_elf=False)
    assert f"kubelet: cluster.binaries.kubelet.url = {not_http}" in str(info.value)
    assert info.value.exit_code == 2


def elf(path: Path, machine: int, elf_class: int = 2, order: int = 1) -> Path:
    endian = "<" if order == 1 else ">"
    header = b"\x7fELF" + bytes([elf_class, order, 1]) + b"\0" * 9
    header += struct.pack(endian + "HH", 2, machine)
    path.write_bytes(header + b"\0" * 64)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("machine,elf_class,order,arch", [
    (62, 2, 1, "amd64"), (183, 2, 1, "arm64"), (40, 1, 1, "arm"), (21, 2, 1, "ppc64le"),
    (22, 2, 2, "s390x"), (243, 2, 1, "riscv64")])
def test_elf_arch_from_the_header(tmp_path: Path, machine: int, elf_class: int, order: int,
                                  arch: str) -> None:
    assert probe.elf_arch(elf(tmp_path / "bin", machine, elf_class, order)) == arch


@pytest.mark.parametrize("content", [b"#!/bin/sh\n", b"\x7fEL", b"\x7fELF" + b"\0" * 30])
def test_non_elf_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bin"
    path.write_bytes(content)
    with pytest.raises(probe.ProbeError):
        probe.elf_arch(path)


def test_foreign_binary_is_refused_before_it_is_run(tmp_path: Path) -> None:
    """An arm64 kubelet for amd64 hosts: refused from its header; --version never runs
    (with qemu-user registered it would run, and pass)."""
    from k8sboot.binaries import resolve_binaries

    kubelet = elf(tmp_path / "kubelet", 183)
    with pytest.raises(InputError) as info:
        resolve_binaries({"kubelet": {"path": str(kubelet)}}, tmp_path / "cache", None,
                         components=["kubelet"], arch="amd64")
    text = str(info.value)
    assert "kubelet: cluster.binaries.kubelet.path" in text
    assert f"{kubelet} is built for arm64, but the hosts are amd64" in text


# -- the CLI, as a user runs it: exit 2, one line, no traceback, bounded ----------------------

def _limit_memory() -> None:
    two_gib = 2 << 30
    resource.setrlimit(resource.RLIMIT_AS, (two_gib, two_gib))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "K8SBOOT_HOME": str(cwd / "home"), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "k8sboot.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory,
                          check=False)


CLI_CASES = {
    "bomb": ("inv.yml", alias_bomb().encode()),
    "deep": ("inv.yml", ("vars:\n  x: " + "[" * 3000 + "]" * 3000 + "\n").encode()),
    "utf8": ("inv.yml", b"vars: {x: \"\xff\"}\n"),
    "markup": ("inv.yml", b"vars: {}\n[/bold]: 1\n"),
    "state_dir": ("inv.yml", b"cluster: {state_dir: 5}\n"),
    "port": ("inv.yml", None),
    "newline": ("inv.yml", b"vars: {kubelet_extra_args: {v: \"1\\nExecStartPre=/x\"}}\n"),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    name, head = CLI_CASES[case]
    if head is None:
        path = native(tmp_path, hosts=THREE.replace("10.0.0.1,", "10.0.0.1, port: \"２２\","))
    else:
        path = tmp_path / name
        path.write_bytes(head + b"hosts:\n" + THREE.encode())
    proc = cli("inventory", "-i", str(path), "--list", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}"), proc.stderr
    assert proc.stdout == ""


def test_cli_damaged_machines_json(tmp_path: Path) -> None:
    path = native(tmp_path, "cluster: {name: lab}\n")
    state = tmp_path / "home" / "clusters" / "lab"
    state.mkdir(parents=True)
    (state / "machines.json").write_text("{\"cp1\": ")
    proc = cli("inventory", "-i", str(path), "--list", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.strip()]
    assert proc.stderr.startswith(f"error: {state / 'machines.json'}: damaged state file")

