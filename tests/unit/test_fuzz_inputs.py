"""Fuzzing every input k8sboot reads: it loads, or it raises InputError naming the file.

Inventories (native YAML, Ansible INI, kubespray YAML), group_vars/host_vars files,
`-e` values and the state files (machines.json, binaries.json) are generated both as
random bytes/text and as valid documents mutated in place (wrong types, huge ints,
unicode, control characters, deep nesting, missing keys). Loading goes through what
`k8sboot inventory --list` runs, in-process. Any other exception is a bug.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8sboot.binaries.manifest import read_manifest
from k8sboot.commands.inventory import jsonable
from k8sboot.errors import InputError, K8sbootError
from k8sboot.inventory import apply_machines, inventory_list, load_inventory
from k8sboot.state import ClusterState

FUZZ = settings(
    max_examples=int(os.environ.get("K8SBOOT_FUZZ_EXAMPLES", "60")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),  # reproducible in CI, exploring locally
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

NATIVE = {
    "cluster": {"name": "lab", "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12",
                "cluster_domain": "cluster.local"},
    "defaults": {"user": "root", "port": 22, "become": False},
    "hosts": {
        "cp1": {"address": "10.0.0.1", "groups": ["etcd", "control_plane", "nodes"]},
        "wk1": {"address": "10.0.0.2", "groups": ["nodes"], "become": True,
                "vars": {"node_name": "worker-1"}},
    },
    "vars": {"kubelet_extra_args": {"v": 2}},
    "group_vars": {"nodes": {"cgroup_driver": "cgroupfs"}},
}
KUBESPRAY = {
    "all": {
        "hosts": {"node1": {"ansible_host": "10.0.0.1", "ip": "10.0.0.1"},
                  "node2": {"ansible_host": "10.0.0.2", "ansible_port": 2222}},
        "children": {
            "kube_control_plane": {"hosts": {"node1": None}},
            "etcd": {"hosts": {"node1": None}},
            "kube_node": {"hosts": {"node1": None, "node2": None}},
            "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None}},
        },
        "vars": {"kube_pods_subnet": "10.233.64.0/18", "ansible_user": "admin"},
    }
}
INI = """[all]
node1 ansible_host=10.0.0.1 ip=10.0.0.1
node2 ansible_host=10.0.0.2 ansible_become=yes

[kube_control_plane]
node1

[etcd]
node1

[kube_node]
node1
node2

[k8s_cluster:children]
kube_control_plane
kube_node

[all:vars]
ansible_user=admin
"""

# -- values that go wrong ----------------------------------------------------------------

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "\n", "x\n", "../x", "/etc", ".hidden", "[/bold]", ":smile:",
                     "２２", "²", "no", "maybe", "0x" + "f" * 4000, "1" * 5000, "{{ x }}",
                     "10.0.0.1\n", "fe80::1%eth0\n", "a" * 300, "\x00", "\u2028", "~nobody/x",
                     "2024-02-30", "*", "&a", "!!python/object:os.system", "- a", "{", "["]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2 ** 70),
                    st.floats(), nasty_text)


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


wrong_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.one_of(st.integers(), nasty_text), scalars, max_size=3),
    st.integers(min_value=1, max_value=200).map(nested),
)


def paths_of(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys/indexes) into a document, the root excluded."""
    out: list[tuple] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) \
        else []
    for key, value in items:
        out.append(prefix + (key,))
        out.extend(paths_of(value, prefix + (key,)))
    return out


def mutate(doc: Any, data: st.DataObject) -> Any:
    """A copy of doc with a few values replaced, keys removed or keys added."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        paths = paths_of(doc)
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add", "rename"]), label="do")
        last = path[-1]
        if action == "replace":
            parent[last] = data.draw(wrong_values, label="value")
        elif action == "delete":
            del parent[last]
        elif action == "add" and isinstance(parent, dict):
            parent[data.draw(nasty_text, label="key")] = data.draw(wrong_values, label="value")
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(nasty_text, label="new key")] = parent.pop(last)
    return doc


# -- the property ------------------------------------------------------------------------------

def loads_or_names_file(path: Path, extra: tuple[str, ...] = (), files: tuple[Path, ...] = ()
                        ) -> None:
    """What `k8sboot inventory --list` does, in-process: load, apply machines, list."""
    try:
        inv = load_inventory(path, extra)
        state = ClusterState.for_cluster(inv.name, inv.cluster.get("state_dir"))
        apply_machines(inv, state.machines())
        json.dumps(jsonable(inventory_list(inv)), sort_keys=True, default=str)
    except InputError as err:
        assert err.exit_code == 2
        # -e @FILE names FILE; an inline -e value has no file: the message starts "-e VALUE"
        named = [str(p) for p in (path, *files)]
        named += [_at_file(e) for e in extra if e.strip().startswith("@")]
        text = str(err)
        if err.file and not err.file.startswith("-e "):  # inline -e YAML is "-e VALUE:LINE"
            assert err.file in named, text
            assert text.startswith(f"{err.file}:"), text
        else:
            assert text.startswith("-e "), text
    except K8sbootError as err:  # pragma: no cover - a failure, shown with its message
        raise AssertionError(f"not an InputError: {err!r}") from err


def _at_file(value: str) -> str:
    try:
        return str(Path(value.strip()[1:]).expanduser())
    except RuntimeError:  # ~nosuchuser: the error has no file then
        return ""


def dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, default_flow_style=False)


_WORKDIRS: list[Path] = []


@pytest.fixture(autouse=True, scope="module")
def _remove_workdirs() -> Iterator[None]:
    # hundreds of examples each make a directory: none is left behind in /tmp, nor K8SBOOT_HOME
    home_before = os.environ.get("K8SBOOT_HOME")
    yield
    for d in _WORKDIRS:
        shutil.rmtree(d, ignore_errors=True)
    if home_before is None:
        os.environ.pop("K8SBOOT_HOME", None)
    else:
        os.environ["K8SBOOT_HOME"] = home_before


def workdir() -> Path:
    home = Path(tempfile.mkdtemp(prefix="k8sboot-fuzz-"))
    _WORKDIRS.append(home)
    os.environ["K8SBOOT_HOME"] = str(home / "home")
    return home


# -- inventories --------------------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["inv.yml", "hosts.ini", "hosts"]))
def test_random_bytes_as_inventory(content: bytes, name: str) -> None:
    path = workdir() / name
    path.write_bytes(content)
    loads_or_names_file(path)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("[]{}:,-&*!|>'\"#=\n \tab1.%@/\\") + ["\x00", "é"]),
               max_size=200), st.sampled_from(["inv.yml", "hosts.ini", "hosts"]))
def test_syntax_soup_as_inventory(content: str, name: str) -> None:
    path = workdir() / name
    path.write_text(content, encoding="utf-8")
    loads_or_names_file(path)


@FUZZ
@given(st.data())
def test_mutated_native_inventory(data: st.DataObject) -> None:
    path = workdir() / "inv.yml"
    path.write_text(dump(mutate(NATIVE, data)), encoding="utf-8")
    loads_or_names_file(path)


@FUZZ
@given(st.data())
def test_mutated_kubespray_yaml_inventory(data: st.DataObject) -> None:
    path = workdir() / "hosts.yaml"
    path.write_text(dump(mutate(KUBESPRAY, data)), encoding="utf-8")
    loads_or_names_file(path)


@FUZZ
@given(st.data())
def test_mutated_ini_inventory(data: st.DataObject) -> None:
    lines = INI.splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["replace", "append", "insert", "delete"]))
        junk = data.draw(nasty_text)
        if action == "replace":
            lines[index] = junk
        elif action == "append":
            lines[index] += junk
        elif action == "insert":
            lines.insert(index, junk)
        elif len(lines) > 1:
            del lines[index]
    path = workdir() / "hosts.ini"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loads_or_names_file(path)


# -- group_vars / host_vars / -e ----------------------------------------------------------------

@FUZZ
@given(st.one_of(st.binary(max_size=200).map(lambda b: b),
                 st.dictionaries(nasty_text, wrong_values, max_size=4).map(
                     lambda d: dump(d).encode())),
       st.sampled_from(["group_vars/all.yml", "group_vars/nodes.yml", "group_vars/etcd/a.yml",
                        "host_vars/cp1.yml", "host_vars/wk1.json", "host_vars/cp1"]))
def test_vars_files(content: bytes, rel: str) -> None:
    base = workdir()
    inv = base / "inv.yml"
    inv.write_text(dump(NATIVE), encoding="utf-8")
    target = base / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    loads_or_names_file(inv, files=(target,))


@FUZZ
@given(st.lists(st.one_of(
    nasty_text,
    st.tuples(nasty_text, nasty_text).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.dictionaries(nasty_text, wrong_values, max_size=3).map(
        lambda d: json.dumps(d, default=str)),
    st.sampled_from(["kubelet_extra_args={v: \"1\\nx\"}", "ansible_become=perhaps",
                     "x=[&a [1,1], *a]", "x=" + "[" * 500, "@/nonexistent", "@~nobody/x",
                     "node_name=../x", "pod_cidr=10.0.0.1/8"]),
), max_size=3))
def test_extra_vars(values: list[str]) -> None:
    inv = workdir() / "inv.yml"
    inv.write_text(dump(NATIVE), encoding="utf-8")
    loads_or_names_file(inv, extra=tuple(values))


# -- state files ----------------------------------------------------------------------------------

machine_records = st.dictionaries(
    st.sampled_from(["address", "port", "user", "key", "name", "cp1"]), wrong_values, max_size=4)


@FUZZ
@given(st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["cp1", "wk1", "x"]), st.one_of(machine_records, scalars),
                    max_size=3).map(lambda d: json.dumps(d, default=str).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
))
def test_machines_json(content: bytes) -> None:
    base = workdir()
    native = json.loads(json.dumps(NATIVE))
    native["cluster"]["provider"] = "libvirt"
    native["cluster"]["state_dir"] = str(base / "state")
    inv = base / "inv.yml"
    inv.write_text(dump(native), encoding="utf-8")
    (base / "state").mkdir()
    machines = base / "state" / "machines.json"
    machines.write_bytes(content)
    loads_or_names_file(inv, files=(machines,))


@settings(FUZZ, suppress_health_check=list(HealthCheck))
@given(st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["kubelet", "etcd", "x"]),
                    st.one_of(st.dictionaries(st.sampled_from(
                        ["path", "sha256", "version", "source", "y"]), scalars, max_size=5),
                        scalars), max_size=3).map(lambda d: json.dumps(d, default=str).encode()),
    st.integers(1, 5000).map(lambda n: b"{\"a\":" * n + b"1" + b"}" * n),
))
def test_binaries_json(content: bytes) -> None:
    state = ClusterState(workdir() / "state").ensure()
    state.binaries_manifest.write_bytes(content)
    try:
        read_manifest(state)
    except InputError as err:
        assert err.file == str(state.binaries_manifest), str(err)
