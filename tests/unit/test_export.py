"""`k8sboot export`: the directory ansible-playbook runs, checked without hosts.

A native three-host inventory and a kubespray INI one are exported into tmp
dirs (PKI, pause image and pod CIDRs made locally, as `up` makes them, in a
K8SBOOT_HOME under tmp_path); then ansible-playbook itself checks the result
(--syntax-check, --list-hosts, --list-tasks), every role's templates are
rendered by ansible-core's Templar from the exported host_vars, and the
steps k8sboot does in Python are compared with their Ansible form.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from k8sboot import cluster_layout as layout
from k8sboot.binaries import resolve_binaries
from k8sboot.cli import build_parser
from k8sboot.commands import export as command
from k8sboot.errors import InputError
from k8sboot.export import api_steps, unsafe_yaml
from k8sboot.export.playbook import ROLES_USED
from tests.unit.test_binaries_resolve import fake_dir

ansible_template = pytest.importorskip("ansible.template")
from ansible.parsing.dataloader import DataLoader

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
CAN_BUILD_PAUSE = shutil.which("gcc") is not None or Path("/bin/busybox").exists()

NATIVE = """\
cluster:
  name: exp-native
  binaries: {dir: bin}
defaults: {user: debian, key: ~/.ssh/id_ed25519}
hosts:
  cp1: {address: 10.0.0.11, groups: [etcd, control_plane, nodes]}
  wk1: {address: 10.0.0.12, groups: [nodes]}
  wk2: {address: 10.0.0.13, groups: [nodes], vars: {kubelet_extra_args: {max-pods: "150"}}}
"""

KUBESPRAY = """\
[all]
node1 ansible_host=10.0.1.11 ip=10.0.1.11 etcd_member_name=etcd1
node2 ansible_host=10.0.1.12 ip=10.0.1.12
node3 ansible_host=10.0.1.13 ip=10.0.1.13

[kube_control_plane]
node1

[etcd]
node1

[kube_node]
node1
node2
node3

[calico_rr]

[k8s_cluster:children]
kube_control_plane
kube_node
calico_rr

[all:vars]
ansible_user=root
"""

# kubespray's group_vars are full of Jinja that k8sboot reads as literal text
KUBESPRAY_GROUP_VARS = """\
k8sboot_cluster:
  name: exp-spray
  binaries: {dir: bin}
  images: {pause: {archive: PAUSE, name: "registry.k8s.io/pause:3.6"}}
kube_log_level: 2
kubespray_literal: "{{ kube_log_level }}-{% if x %}y{% endif %}"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("K8SBOOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    # the fake binaries are scripts answering --version: no ELF check
    monkeypatch.setattr("k8sboot.phases.binaries.resolve_binaries",
                        lambda s, c, b, **kw: resolve_binaries(s, c, b, **{**kw, "require_elf": False}))
    return tmp_path


def args_for(inventory: Path, dest: Path, **more: Any) -> argparse.Namespace:
    values = {"dir": str(dest), "inventory": str(inventory), "extra_vars": None, "force": False,
              "in_containers": False, "no_host_key_checking": False, "templates": None, "roles_path": None}
    return argparse.Namespace(**(values | more))


def native_inventory(tmp: Path) -> Path:
    fake_dir(tmp / "bin")
    (tmp / "inv.yml").write_text(NATIVE)
    return tmp / "inv.yml"


def kubespray_inventory(tmp: Path) -> Path:
    spray = tmp / "mycluster"
    fake_dir(spray / "bin")
    (spray / "pause.tar").write_bytes(b"not really an image: export only copies it")
    (spray / "group_vars").mkdir(parents=True)
    (spray / "group_vars" / "all.yml").write_text(KUBESPRAY_GROUP_VARS.replace("PAUSE", str(spray / "pause.tar")))
    (spray / "hosts.ini").write_text(KUBESPRAY)
    return spray / "hosts.ini"


def export(env: Path, inventory: Path, name: str = "out", **more: Any) -> Path:
    dest = env / name
    assert command.run(args_for(inventory, dest, **more)) == 0
    return dest


def ansible_playbook(dest: Path, inventory: Path, *flags: str) -> str:
    run_env = {**os.environ, "ANSIBLE_CONFIG": str(dest / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_LOCAL_TEMP": str(dest.parent / "ansible-tmp"),
               "ANSIBLE_HOME": str(dest.parent / "ansible-home")}
    r = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(dest / "site.yml"), *flags],
                       check=False, capture_output=True, text=True, env=run_env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def site(dest: Path) -> list[dict[str, Any]]:
    return yaml.safe_load((dest / "site.yml").read_text())


def ansible_vars(path: Path) -> dict[str, Any]:
    """A vars file as ansible-playbook reads it (!unsafe kept unsafe)."""
    data = DataLoader().load_from_file(str(path))
    assert isinstance(data, dict)
    return data


# -- the native inventory ----------------------------------------------------------------

@pytest.mark.skipif(not CAN_BUILD_PAUSE, reason="neither gcc nor busybox: no pause image")
def test_native_export_layout_and_summary(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = export(env, native_inventory(env))
    out = capsys.readouterr().out
    for name in ("site.yml", "ansible.cfg", "inventory.yml", "files/images/pause.tar",
                 "templates/kubelet/config.yaml.j2", "templates/pod-routes/k8sboot-pod-routes.service.j2",
                 "templates/pod-routes/k8sboot-pod-routes.py.j2"):
        assert (dest / name).is_file(), name
    assert sorted(p.name for p in (dest / "host_vars").iterdir()) == ["cp1.yml", "wk1.yml", "wk2.yml"]
    assert sorted(p.name for p in (dest / "roles").iterdir()) == sorted(ROLES_USED)
    assert all((dest / "roles" / r / "tasks" / "main.yml").is_file() for r in ROLES_USED)
    # the summary names the inventory written for Ansible and the exact command
    assert "inventory.yml" in out
    expected = (f"ANSIBLE_CONFIG={dest}/ansible.cfg ansible-playbook -i {dest}/inventory.yml "
                f"{dest}/site.yml")
    assert expected in out
    assert expected in (dest / "site.yml").read_text().split("\n- name:")[0]  # the header says it too
    cfg = (dest / "ansible.cfg").read_text()
    assert "pipelining = True" in cfg and "host_key_checking = True" in cfg and "roles_path = roles" in cfg
    assert int(cfg.split("forks = ")[1].split()[0]) >= 3
    plays = site(dest)
    assert [p["name"] for p in plays] == ["Etcd", "Control plane", "RBAC: apiserver -> kubelet", "Nodes",
                                          "Wait for nodes Ready", "Pod network routes"]
    for play in plays:
        assert play["gather_facts"] is False and play["become"] is True  # the user is debian
        assert len(play.get("roles", [])) <= 1  # handlers flush per role, as k8sboot's do
    assert [p["hosts"] for p in plays] == ["etcd", "control_plane", "cp1", "nodes", "cp1", "nodes"]


@pytest.mark.skipif(not CAN_BUILD_PAUSE, reason="neither gcc nor busybox: no pause image")
def test_native_pki_and_images_point_inside_dir(env: Path) -> None:
    dest = export(env, native_inventory(env))
    state = env / "home" / "clusters" / "exp-native"
    seen = 0
    for host in ("cp1", "wk1", "wk2"):
        hv = ansible_vars(dest / "host_vars" / f"{host}.yml")
        for entries in hv["k8sboot_pki_files"].values():
            for entry in entries:
                src = Path(entry["src"])
                assert src.is_relative_to(dest / "files" / "pki") and src.is_file(), src
                rel = src.relative_to(dest / "files" / "pki")
                assert src.read_bytes() == (state / "pki" / rel).read_bytes()  # the state dir's own
                if entry["mode"] == "0600":
                    assert stat.S_IMODE(src.stat().st_mode) == 0o600, src
                seen += 1
        [archive] = hv["k8sboot_image_archives"]
        assert archive["src"] == str(dest / "files" / "images" / "pause.tar")
        assert Path(archive["src"]).read_bytes() == (state / "images" / "pause.tar").read_bytes()
        # big binaries stay where k8sboot resolved them
        assert hv["k8sboot_binaries"]["kubelet"]["path"] == str(env / "bin" / "kubelet")
    assert seen > 20
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (dest / "files" / "pki").rglob("*.key"))
    assert stat.S_IMODE((dest / "files" / "pki").stat().st_mode) == 0o700


@pytest.mark.skipif(not CAN_BUILD_PAUSE, reason="neither gcc nor busybox: no pause image")
def test_native_export_passes_ansible_playbook_checks(env: Path) -> None:
    dest = export(env, native_inventory(env))
    inventory = dest / "inventory.yml"
    ansible_playbook(dest, inventory, "--syntax-check")
    hosts = ansible_playbook(dest, inventory, "--list-hosts")
    assert "Could not match" not in hosts
    for host in ("cp1", "wk1", "wk2"):
        assert host in hosts
    tasks = ansible_playbook(dest, inventory, "--list-tasks")
    for task in ("etcd : Start etcd", "control_plane : Start the apiserver", "node : Start kubelet and kube-proxy",
                 "pod_routes : Enable the pod-network routes", "Wait until every node is Ready",
                 "Create the ones missing"):
        assert task in tasks, task
    # inventory.yml carries the connections, host_vars the plan
    inv = yaml.safe_load(inventory.read_text())["all"]
    assert inv["hosts"]["wk1"]["ansible_host"] == "10.0.0.12" and inv["hosts"]["wk1"]["ansible_user"] == "debian"
    assert set(inv["children"]["nodes"]["hosts"]) == {"cp1", "wk1", "wk2"}
    hv = ansible_vars(dest / "host_vars" / "wk1.yml")
    assert not [k for k in hv if k.startswith("ansible_") and not k.startswith("ansible_virtualization")]


# -- the vars every role uses ----------------------------------------------------------

def template_srcs(role_dir: Path) -> list[str]:
    tasks = yaml.safe_load((role_dir / "tasks" / "main.yml").read_text()) or []
    return [t["ansible.builtin.template"]["src"] for t in tasks if "ansible.builtin.template" in t]


def render_ansible(templates: Path, src: str, variables: dict[str, Any]) -> str:
    """As ansible.builtin.template renders (test_ansible_compat.py does the same for the shipped dirs)."""
    path = templates / src
    templar = ansible_template.Templar(loader=DataLoader(), variables=variables)
    templar = templar.copy_with_new_env(searchpath=[str(path.parent), str(templates)])
    out = templar.template(ansible_template.trust_as_template(path.read_text()), escape_backslashes=False,
                           overrides={"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"})
    assert isinstance(out, str)
    return out


@pytest.mark.parametrize("dialect", ["native", "kubespray"])
def test_exported_host_vars_render_every_role_template_under_ansible(env: Path, dialect: str) -> None:
    if dialect == "native" and not CAN_BUILD_PAUSE:
        pytest.skip("neither gcc nor busybox: no pause image")
    inventory = native_inventory(env) if dialect == "native" else kubespray_inventory(env)
    dest = export(env, inventory)
    if dialect == "native":
        inventory = dest / "inventory.yml"  # what ansible-playbook is given for a native one
    plays = site(dest)
    rendered = 0
    for play in plays:
        for role in play.get("roles", []):
            defaults = yaml.safe_load((dest / "roles" / role / "defaults" / "main.yml").read_text()) or {}
            hosts = sorted(ansible_hosts(dest, inventory, play["hosts"]))
            assert hosts and all((dest / "host_vars" / f"{h}.yml").is_file() for h in hosts), play["name"]
            for host in hosts:
                variables = {**defaults, **ansible_vars(dest / "host_vars" / f"{host}.yml"),
                             "inventory_hostname": host}
                for src in template_srcs(dest / "roles" / role):
                    text = render_ansible(dest / "templates", src, variables)
                    assert text.strip(), src
                    rendered += 1
    assert rendered >= 15


@functools.cache
def ansible_hosts(dest: Path, inventory: Path, pattern: str) -> frozenset[str]:
    """The hosts a pattern matches, by ansible itself (the exported ansible.cfg)."""
    run_env = {**os.environ, "ANSIBLE_CONFIG": str(dest / "ansible.cfg"),
               "ANSIBLE_LOCAL_TEMP": str(dest.parent / "ansible-tmp"),
               "ANSIBLE_HOME": str(dest.parent / "ansible-home")}
    r = subprocess.run([str(ANSIBLE_PLAYBOOK.parent / "ansible"), "-i", str(inventory), pattern, "--list-hosts"],
                       check=False, capture_output=True, text=True, env=run_env, timeout=60)
    assert r.returncode == 0, r.stderr
    return frozenset(line.strip() for line in r.stdout.splitlines()[1:] if line.strip())


# -- a kubespray INI inventory ------------------------------------------------------------

def test_kubespray_export_uses_its_groups_and_its_inventory(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = kubespray_inventory(env)
    dest = export(env, inventory)
    out = capsys.readouterr().out
    assert not (dest / "inventory.yml").exists()  # Ansible reads the user's own
    assert f"ansible-playbook -i {inventory} {dest}/site.yml" in out
    assert sorted(p.name for p in (dest / "host_vars").iterdir()) == ["node1.yml", "node2.yml", "node3.yml"]
    plays = site(dest)
    assert [p["hosts"] for p in plays] == ["etcd", "kube_control_plane", "node1", "kube_node", "node1",
                                           "kube_node"]
    assert not any("become" in p for p in plays)  # root: no sudo needed (nor, in a container, present)
    assert "inventory =" not in (dest / "ansible.cfg").read_text()
    ansible_playbook(dest, inventory, "--syntax-check")
    hosts = ansible_playbook(dest, inventory, "--list-hosts")
    assert "Could not match" not in hosts and "node3" in hosts
    ansible_playbook(dest, inventory, "--list-tasks")
    hv = ansible_vars(dest / "host_vars" / "node1.yml")
    assert hv["etcd_name"] == "etcd1" and hv["node_ip"] == "10.0.1.11"
    assert hv["k8sboot_image_archives"] == [{"src": str(dest / "files" / "images" / "pause.tar"),
                                             "name": "registry.k8s.io/pause:3.6"}]
    assert "pod_routes" not in hv  # each node's agent finds the routes in the API


def test_template_looking_values_are_kept_literal_for_ansible(env: Path) -> None:
    dest = export(env, kubespray_inventory(env))
    text = (dest / "host_vars" / "node2.yml").read_text()
    assert "kubespray_literal: !unsafe '{{ kube_log_level }}-{% if x %}y{% endif %}'" in text
    variables = ansible_vars(dest / "host_vars" / "node2.yml")
    templar = ansible_template.Templar(loader=DataLoader(), variables=variables)
    got = templar.template(ansible_template.trust_as_template("{{ kubespray_literal }}"))
    assert got == "{{ kube_log_level }}-{% if x %}y{% endif %}"  # as k8sboot sees it: not templated


def test_unsafe_marking_reaches_nested_values() -> None:
    data = {"a": ["{# c #}", {"b": "{{ x }}"}], "plain": "no template", "n": 3}
    text = unsafe_yaml.dump(data)
    assert text.count("!unsafe") == 2 and "plain: no template" in text
    assert yaml.safe_load(text.replace("!unsafe ", "")) == data


# -- the directory ------------------------------------------------------------------------

def test_a_non_empty_dir_is_refused_unless_forced(env: Path) -> None:
    inventory = kubespray_inventory(env)
    dest = env / "out"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty") as e:
        command.run(args_for(inventory, dest))
    assert str(dest) in str(e.value) and e.value.exit_code == 2
    assert not (dest / "site.yml").exists()
    (dest / "host_vars").mkdir()
    (dest / "host_vars" / "gone.yml").write_text("stale: true\n")
    assert command.run(args_for(inventory, dest, force=True)) == 0
    assert (dest / "notes.txt").read_text() == "mine"  # not export's: kept
    assert not (dest / "host_vars" / "gone.yml").exists()  # export's own dir: replaced whole
    assert (dest / "site.yml").is_file()


def test_a_file_in_place_of_the_dir_is_refused(env: Path) -> None:
    (env / "out").write_text("")
    with pytest.raises(InputError, match="not a directory"):
        command.run(args_for(kubespray_inventory(env), env / "out", force=True))


def test_user_templates_and_roles_win_as_in_k8sboot(env: Path) -> None:
    inventory = kubespray_inventory(env)
    mine = env / "my-templates" / "kubelet"
    mine.mkdir(parents=True)
    (mine / "config.yaml.j2").write_text("# mine\n")
    roles = env / "my-roles" / "pod_routes" / "tasks"
    roles.mkdir(parents=True)
    (roles / "main.yml").write_text("- name: Mine\n  ansible.builtin.debug:\n    msg: mine\n")
    dest = export(env, inventory, templates=[str(env / "my-templates")], roles_path=[str(env / "my-roles")])
    assert (dest / "templates" / "kubelet" / "config.yaml.j2").read_text() == "# mine\n"
    assert (dest / "templates" / "kubelet" / "kubelet.service.j2").is_file()  # the rest: shipped
    assert "msg: mine" in (dest / "roles" / "pod_routes" / "tasks" / "main.yml").read_text()
    assert "Write the kubelet configuration" in (dest / "roles" / "node" / "tasks" / "main.yml").read_text()


def test_in_containers_sets_the_fact_dependent_vars(env: Path) -> None:
    inventory = kubespray_inventory(env)
    vm = ansible_vars(export(env, inventory, "vm") / "host_vars" / "node2.yml")
    ct = ansible_vars(export(env, inventory, "ct", in_containers=True) / "host_vars" / "node2.yml")
    assert (vm["containerd_restrict_oom_score_adj"], vm["kubelet_protect_kernel_defaults"]) == (False, True)
    assert (ct["containerd_restrict_oom_score_adj"], ct["kubelet_protect_kernel_defaults"]) == (True, False)
    assert ct["ansible_virtualization_type"] != "none" and vm["ansible_virtualization_type"] == "none"


def test_the_command_line() -> None:
    a = build_parser().parse_args(["export", "out", "-i", "hosts.ini", "--force", "--in-containers",
                                   "--no-host-key-checking"])
    assert (a.dir, a.inventory, a.force, a.in_containers, a.no_host_key_checking) == (
        "out", "hosts.ini", True, True, True)
    assert callable(a.func)


# -- the Python steps of `up`, as tasks ---------------------------------------------------

def test_rbac_objects_are_those_k8sboot_creates(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from k8sboot import cluster_api

    created: list[Any] = []

    def absent(api: Any, name: str, **options: Any) -> Any:
        raise ApiException(status=404)

    class Rbac:
        def __init__(self, api: Any) -> None:
            pass

        def create_cluster_role(self, body: Any, **options: Any) -> None:
            assert options.get("_request_timeout")  # every call to the apiserver has a deadline
            created.append(body)

        create_cluster_role_binding = create_cluster_role

    monkeypatch.setattr(cluster_api.client, "RbacAuthorizationV1Api", Rbac)
    monkeypatch.setattr(cluster_api, "read_cluster_role", absent)
    monkeypatch.setattr(cluster_api, "read_cluster_role_binding", absent)
    api = client.ApiClient()
    assert cluster_api.ensure_kubelet_api_rbac(api) is True
    ours = api_steps.kubelet_api_rbac()
    assert len(created) == len(ours) == 2
    for theirs, mine in zip(created, ours):
        wanted = api.sanitize_for_serialization(theirs)
        assert {k: v for k, v in wanted.items() if k not in ("apiVersion", "kind")} == {
            k: v for k, v in mine["object"].items() if k not in ("apiVersion", "kind")}
        assert mine["owned"] in wanted


def ansible_true(expr: str, variables: dict[str, Any]) -> bool:
    templar = ansible_template.Templar(loader=DataLoader(), variables=variables)
    value = templar.template(ansible_template.trust_as_template("{{ " + expr + " }}"))
    assert isinstance(value, bool), f"{expr} gave {value!r}"
    return value


def test_the_api_tasks_conditions_under_ansible() -> None:
    plan = SimpleNamespace(pod_cidrs={}, nodes=[], inventory=SimpleNamespace(vars={}, cluster={}))
    _, tasks = api_steps.nodes_ready_tasks(plan)  # type: ignore[arg-type]
    by_name = {t["name"].split(" (")[0]: t for t in tasks}
    ready = by_name["Wait until every node is Ready"]["until"]

    def node(status: str | None) -> dict[str, Any]:
        conditions = [{"type": "MemoryPressure", "status": "False"}]
        if status is not None:
            conditions.append({"type": "Ready", "status": status})
        return {"status": 200, "json": {"status": {"conditions": conditions}}}

    assert ansible_true(ready, {"k8sboot_node_ready": node("True")})
    assert not ansible_true(ready, {"k8sboot_node_ready": node("False")})
    assert not ansible_true(ready, {"k8sboot_node_ready": node(None)})
    assert not ansible_true(ready, {"k8sboot_node_ready": {"status": -1, "failed": True}})  # no answer

    cidr = by_name["Give each node the pod CIDR k8sboot allocated it"]["when"]
    item = {"item": {"name": "a", "pod_cidr": "10.244.0.0/24"}, "json": {"spec": {}}}
    assert ansible_true(cidr, {"item": item})
    item["json"] = {"spec": {"podCIDR": "10.244.9.0/24"}}
    assert not ansible_true(cidr, {"item": item})  # set once, never changed

    label = by_name["Label the control planes that are nodes too"]["when"]
    cp = {"item": {"name": "a", "control_plane": True}, "json": {"metadata": {"labels": {}}}}
    assert ansible_true(label, {"item": cp})
    cp["json"] = {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}}
    assert not ansible_true(label, {"item": cp})
    assert not ansible_true(label, {"item": {"item": {"name": "w", "control_plane": False}, "json": {}}})

    _, rbac = api_steps.rbac_tasks()
    replace = rbac[2]["when"]
    for spec in api_steps.kubelet_api_rbac():
        current = {"status": 200, "item": spec, "json": {**spec["object"], "metadata": {"resourceVersion": "7"}}}
        assert not ansible_true(replace, {"item": current})  # only what k8sboot owns is compared
        current["json"] = {**spec["object"], spec["owned"]: []}
        assert ansible_true(replace, {"item": current})


def test_the_pod_routes_phase_gives_each_node_the_plans_vars_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exported host_vars are the plan's: the pod_routes play needs nothing more (no
    per-host routes: each node's agent reads them from the API)."""
    from k8sboot.phases import pod_routes as phase
    from tests.unit.test_ansible_compat import cluster

    plan = cluster(3, "v1.20.2", {})  # three control planes and a worker, pod CIDRs allocated
    given: dict[str, dict[str, Any]] = {}

    def run_play(ctx: Any, title: str, hosts: list[Any], roles: list[str], vars_for: Any) -> None:
        assert roles == ["pod_routes"]
        given.update({h.name: vars_for(h) for h in hosts})

    monkeypatch.setattr(phase, "run_play", run_play)
    ctx = SimpleNamespace(options=SimpleNamespace(check=False), inventory=plan.inventory, plan=plan,
                          hosts_in=plan.inventory.hosts_in)
    phase.PodRoutes().run(ctx)  # type: ignore[arg-type]
    assert set(given) == {h.name for h in plan.inventory.hosts_in(layout.NODES)}
    for host in plan.nodes:
        assert given[host.name] == plan.vars_for_host(host)
