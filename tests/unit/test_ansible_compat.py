"""The shipped roles and templates under ansible-core itself.

Every template is rendered from the same vars by k8sboot's templar and by
ansible-core's (as its template action does: trim_blocks, no lstrip_blocks,
"\\n" newlines) and must come out byte-identical; the roles must pass
`ansible-playbook --syntax-check` and ansible-lint (.ansible-lint); the Jinja
filters and tests k8sboot shares with Ansible must give the same results, and
fail where Ansible's fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from k8sboot import cluster_layout as layout
from k8sboot.engine.modules import MODULES
from k8sboot.engine.roles import load_role
from k8sboot.engine.tasks import parse_task
from k8sboot.engine.templating import Templar
from k8sboot.errors import InputError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.paths import ROLES_DIR, TEMPLATES_DIR
from k8sboot.plan import ClusterPlan, cluster_settings

ansible_template = pytest.importorskip("ansible.template")
from ansible.parsing.dataloader import DataLoader

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "tasks" / "main.yml").is_file())
# the Kubernetes versions on either side of every `is version(...)` in the templates,
# with and without the leading v
VERSIONS = ["v1.20.2", "v1.23.5", "1.24.0", "v1.25.0", "v1.27.4"]


# -- the vars a role's templates see --------------------------------------------------

def template_tasks() -> dict[str, str]:
    """Template src -> the role whose task renders it (every shipped template must have one)."""
    out: dict[str, str] = {}
    for role in ROLES:
        for task in yaml.safe_load((ROLES_DIR / role / "tasks" / "main.yml").read_text()) or []:
            args = task.get("ansible.builtin.template") or task.get("template")
            if args:
                out[args["src"]] = role
    return out


def role_defaults(role: str) -> dict[str, Any]:
    path = ROLES_DIR / role / "defaults" / "main.yml"
    return (yaml.safe_load(path.read_text()) if path.exists() else None) or {}


def cluster(control_planes: int, version: str, cluster_cfg: dict[str, Any]) -> ClusterPlan:
    roles = [layout.ETCD, layout.CONTROL_PLANE, layout.NODES]
    hosts: dict[str, Host] = {}
    groups: dict[str, list[str]] = {g: [] for g in layout.ROLE_GROUPS}
    for i in range(1, control_planes + 1):
        hosts[f"cp{i}"] = Host(f"cp{i}", f"10.0.0.{10 + i}", groups=list(roles))
        for g in roles:
            groups[g].append(f"cp{i}")
    hosts["w1"] = Host("w1", "10.0.0.21", groups=[layout.NODES])
    groups[layout.NODES].append("w1")
    inv = Inventory(None, {"name": "compat", **cluster_cfg}, hosts, groups)
    plan = ClusterPlan(
        inv, cluster_settings(inv), version,
        {c: {"path": f"/cache/bin/{c}", "sha256": "0" * 64, "version": version}
         for c in ("etcd", "etcdctl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                   "kubelet", "kube-proxy")},
        Path("/state/pki"),
        image_archives=[{"src": "/cache/images/pause.tar", "name": "registry.k8s.io/pause:3.9"}],
        sandbox_image="registry.k8s.io/pause:3.9",
    )
    if control_planes > 1:  # a worker in a system container, pod CIDRs allocated
        plan.facts = {"w1": {"virtualization_type": "lxc"}}
        plan.pod_cidrs = {h.node_name: f"10.244.{i}.0/24" for i, h in enumerate(plan.nodes)}
    return plan


SCENARIOS = {
    # one control plane, the defaults
    "single": (1, {}, {}),
    # three control planes (the local balancer), hardening off, the extra-args maps filled
    "ha": (3, {"encrypt_secrets": False, "audit_log": False}, {
        "apiserver_extra_args": {"event-ttl": "2h", "audit-log-compress": "true"},
        "controller_manager_extra_args": {"node-monitor-grace-period": "20s"},
        "scheduler_extra_args": {"v": "2"},
        "kubelet_extra_args": {"max-pods": "150"},
    }),
}


def host_vars(plan: ClusterPlan, host: Host, role: str, extra: dict[str, Any]) -> dict[str, Any]:
    """As ansible-playbook layers them: role defaults, then the host's vars, then magic vars."""
    inv = plan.inventory
    groups = {g: list(names) for g, names in inv.groups.items()} | {"all": list(inv.hosts)}
    return {
        **role_defaults(role), **plan.vars_for_host(host), **extra,
        "inventory_hostname": host.name, "inventory_hostname_short": host.name.split(".")[0],
        "group_names": sorted(g for g in host.groups if g != "all"), "groups": groups,
        "ansible_host": host.address,
    }


# -- rendering both ways ---------------------------------------------------------------

def render_k8sboot(src: str, variables: dict[str, Any]) -> str:
    return Templar([TEMPLATES_DIR]).render_file(src, variables)


def render_ansible(src: str, variables: dict[str, Any]) -> str:
    """What ansible.builtin.template writes: its action's Templar call and options."""
    path = TEMPLATES_DIR / src
    templar = ansible_template.Templar(loader=DataLoader(), variables=variables)
    templar = templar.copy_with_new_env(searchpath=[str(path.parent), str(TEMPLATES_DIR)])
    out = templar.template(
        ansible_template.trust_as_template(path.read_text()), escape_backslashes=False,
        overrides={"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"},
    )
    assert isinstance(out, str), f"{src} rendered to a {type(out).__name__}"
    return out


def test_every_shipped_template_is_rendered_by_a_role():
    shipped = {str(p.relative_to(TEMPLATES_DIR)) for p in TEMPLATES_DIR.rglob("*.j2")}
    assert shipped == set(template_tasks())


CASES = [(name, version) for name in SCENARIOS for version in VERSIONS]


@pytest.mark.parametrize("scenario,version", CASES, ids=[f"{s}-{v}" for s, v in CASES])
def test_templates_render_byte_identical_under_ansible(scenario, version):
    control_planes, cluster_cfg, extra = SCENARIOS[scenario]
    plan = cluster(control_planes, version, cluster_cfg)
    checked = 0
    for src, role in sorted(template_tasks().items()):
        hosts = {layout.ETCD: plan.etcd_hosts, layout.CONTROL_PLANE: plan.control_planes}.get(
            role, plan.nodes)
        for host in hosts:
            variables = host_vars(plan, host, role, extra)
            ours = render_k8sboot(src, variables)
            theirs = render_ansible(src, variables)
            assert ours.encode() == theirs.encode(), f"{src} on {host.name} ({version}) differs"
            checked += 1
    assert checked >= len(template_tasks())


def test_both_branches_of_every_version_condition_are_rendered():
    cp = {v: render_k8sboot("kube-apiserver/kube-apiserver.service.j2",
                            host_vars(p, p.control_planes[0], "control_plane", {}))
          for v in VERSIONS for p in [cluster(1, v, {})]}
    assert "--insecure-port=0" in cp["v1.20.2"] and "--insecure-port=0" not in cp["v1.25.0"]
    kubelet = {v: render_k8sboot("kubelet/kubelet.service.j2", host_vars(p, p.nodes[0], "node", {}))
               for v in VERSIONS for p in [cluster(1, v, {})]}
    assert "--container-runtime=remote" in kubelet["v1.25.0"]
    assert "--container-runtime=remote" not in kubelet["v1.27.4"]
    sched = {v: render_k8sboot("kube-scheduler/kube-scheduler.service.j2",
                               host_vars(p, p.control_planes[0], "control_plane", {}))
             for v in VERSIONS for p in [cluster(1, v, {})]}
    assert "--port=0" in sched["v1.20.2"] and "--port=0" not in sched["v1.23.5"]


# -- the filters and tests both share --------------------------------------------------

def ansible_value(expr: str, variables: dict[str, Any]) -> Any:
    templar = ansible_template.Templar(loader=DataLoader(), variables=variables)
    return templar.template(ansible_template.trust_as_template("{{ " + expr + " }}"))


def k8sboot_value(expr: str, variables: dict[str, Any]) -> Any:
    return Templar([TEMPLATES_DIR]).render_value("{{ " + expr + " }}", variables)


SAME = [
    ("v is version('1.24', '<')", {"v": "1.20.2"}),
    ("v is version('1.27', '>=')", {"v": "1.27.0"}),
    ("v is version('1.27.0', '==')", {"v": "1.27"}),  # loose: [1, 27] != [1, 27, 0]
    ("v is version('1.10', 'lt')", {"v": "1.9"}),
    ("v is version('1.24.0', '>')", {"v": "1.24.0-rc.1"}),
    ("v is version('1.2.0', 'eq', strict=true)", {"v": "1.2"}),
    ("v is version('1.2', '<', strict=true)", {"v": "1.2b3"}),
    ("v is version('1.2', '<>')", {"v": "1.3"}),
    ("v is version_compare('1.2', '=')", {"v": "1.2"}),
    ("v | regex_replace('^v', '') is version('1.24', '<')", {"v": "v1.20.2"}),
    ("v is truthy", {"v": "no"}),
    ("v is truthy(convert_bool=true)", {"v": "no"}),
    ("v is falsy", {"v": ""}),
    ("v is falsy(convert_bool=true)", {"v": "Off"}),
    ("v | bool", {"v": "Yes"}),
    ("v | bool", {"v": 0}),
    ("v | bool", {"v": True}),
    ("v | ternary('a', 'b')", {"v": "no"}),
    ("v | ternary('a', 'b', 'c')", {"v": None}),
    ("v | b64encode", {"v": "héllo"}),
    ("v | b64encode", {"v": 123}),
    ("v | b64encode(urlsafe=true)", {"v": "??>"}),
    ("v | b64decode", {"v": "aMOpbGxv"}),
    ("v | to_json", {"v": {"b": 1, "a": ["é"]}}),
    ("v | to_nice_json", {"v": {"b": 1, "a": [1, 2]}}),
    ("v | to_yaml", {"v": {"b": 1, "a": ["é", 2]}}),
    ("v | to_nice_yaml", {"v": {"b": {"x": 1}, "a": [1, 2]}}),
    ("v | to_nice_yaml(indent=2, sort_keys=false)", {"v": {"b": {"x": 1}, "a": [1, 2]}}),
    ("v | from_json", {"v": '{"a": [1, null]}'}),
    ("v | from_yaml", {"v": "a: [1, yes]"}),
    ("v | regex_replace('O', '0', ignorecase=true, count=1)", {"v": "foo"}),
    ("v | regex_replace('^', '# ', multiline=true)", {"v": "a\nb"}),
    ("v | regex_replace('1', 'x')", {"v": 121}),
    ("v | basename", {"v": "/a/b.txt"}),
    ("v | dirname", {"v": "/a/b.txt"}),
    ("v | quote", {"v": "it's"}),
    ("v | quote", {"v": None}),
    ("v | dict2items", {"v": {"a": 1}}),
    ("v | dict2items(key_name='k', value_name='v')", {"v": {"a": 1}}),
    ("v | items2dict(key_name='k', value_name='v')", {"v": [{"k": "a", "v": 1}]}),
    ("v | mandatory", {"v": 0}),
]


@pytest.mark.parametrize("expr,variables", SAME, ids=[e for e, _ in SAME])
def test_filters_and_tests_give_what_ansible_gives(expr, variables):
    assert k8sboot_value(expr, variables) == ansible_value(expr, variables)


BOTH_FAIL = [
    ("v is version('1.24', '<')", {"v": "v1.20.2"}),  # LooseVersion: 'v' against 1
    ("v is version('1.24', '==')", {"v": "v1.24"}),
    ("v is version('1.24', 'before')", {"v": "1.20"}),
    ("v is version('1.24', '<')", {"v": ""}),
    ("v is version('1.2.3.4', '<', strict=true)", {"v": "1.2"}),
    ("v is version('1.2', '<', strict=true, version_type='loose')", {"v": "1.2"}),
    ("v | dict2items", {"v": [1]}),
    ("v | items2dict", {"v": "ab"}),
    ("v | mandatory", {}),
    ("v | version_compare('1.2', '<')", {"v": "1.1"}),  # a test, not a filter, in Ansible
    ("v | regex_replace('a', 'b', mandatory_count=2)", {"v": "a"}),
]


@pytest.mark.parametrize("expr,variables", BOTH_FAIL, ids=[e for e, _ in BOTH_FAIL])
def test_what_ansible_rejects_fails_here_too(expr, variables):
    from ansible.errors import AnsibleError
    with pytest.raises(AnsibleError):
        ansible_value(expr, variables)
    with pytest.raises((jinja2.TemplateError, InputError)):
        k8sboot_value(expr, variables)


def test_the_version_error_says_why_and_how():
    with pytest.raises(jinja2.TemplateError, match=r"'v1\.20\.2'.*regex_replace\('\^v', ''\)"):
        k8sboot_value("v is version('1.24', '<')", {"v": "v1.20.2"})


def test_bool_refuses_what_ansible_only_coerces_with_a_deprecation():
    # ansible-core 2.19 turns 'y' into False with a deprecation warning (an error from 2.23)
    with pytest.raises(jinja2.TemplateError, match="not a boolean"):
        k8sboot_value("v | bool", {"v": "y"})


@pytest.mark.parametrize("value", ["yes", 1, ["a"], None])
def test_a_condition_must_be_a_boolean_as_in_ansible(value):
    templar = Templar([TEMPLATES_DIR])
    with pytest.raises(jinja2.TemplateError, match="boolean result"):
        templar.condition("v", {"v": value})
    assert templar.condition("v | bool", {"v": "yes"}) is True


# -- the task syntax ---------------------------------------------------------------------

KNOWN = set(MODULES)


def test_listen_belongs_to_handlers_only():
    with pytest.raises(InputError, match="listen.*handlers only"):
        parse_task({"name": "t", "ansible.builtin.command": "true", "listen": "x"}, "f", 0, KNOWN)
    handler = parse_task({"name": "h", "ansible.builtin.command": "true", "listen": "x"}, "f", 0, KNOWN,
                         handler=True)
    assert handler.listen == ["x"]


@pytest.mark.parametrize("raw", [
    {"name": "t", "ansible.builtin.shell": {"argv": ["echo", "hi"]}},
    {"name": "t", "shell": "echo hi", "args": {"argv": ["echo"]}},
    {"name": "t", "ansible.builtin.command": {"cmd": "echo hi", "argv": ["echo", "hi"]}},
])
def test_shell_takes_no_argv_and_command_not_both(raw):
    with pytest.raises(InputError):
        parse_task(raw, "f", 0, KNOWN)


@pytest.mark.parametrize("name", ["etcd-unit", "1st", "none", "é"])
def test_register_must_be_a_variable_name(name):
    with pytest.raises(InputError, match="not a valid variable name"):
        parse_task({"name": "t", "ansible.builtin.command": "true", "register": name}, "f", 0, KNOWN)


def test_command_takes_argv():
    task = parse_task({"name": "t", "ansible.builtin.command": {"argv": ["echo", "hi"]}}, "f", 0, KNOWN)
    assert task.args == {"argv": ["echo", "hi"]}


@pytest.mark.parametrize("role", ROLES)
def test_every_shipped_role_parses(role):
    load_role(role, [ROLES_DIR], KNOWN)


# -- ansible-playbook and ansible-lint on the roles ---------------------------------------

def _ansible_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return env | {
        "ANSIBLE_ROLES_PATH": str(ROLES_DIR), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_HOME": str(tmp_path / "home"), "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    }


@pytest.mark.skipif(not (BIN / "ansible-playbook").exists(), reason="ansible-playbook is not installed")
def test_ansible_playbook_syntax_check_passes_on_every_role(tmp_path):
    plays = [{"name": f"apply {r}", "hosts": "all", "gather_facts": False, "roles": [r]} for r in ROLES]
    (tmp_path / "site.yml").write_text(yaml.safe_dump(plays, sort_keys=False))

    def playbook(*args: str) -> str:
        r = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", *args, "site.yml"],
                           cwd=tmp_path, env=_ansible_env(tmp_path), capture_output=True, text=True,
                           timeout=120, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    playbook("--syntax-check")
    listed = playbook("--list-tasks")
    for role in ROLES:  # each role's tasks are read and named as `role : task`
        first = yaml.safe_load((ROLES_DIR / role / "tasks" / "main.yml").read_text())[0]["name"]
        assert f"{role} : {first}" in listed, listed


@pytest.mark.skipif(shutil.which("ansible-lint", path=str(BIN)) is None, reason="ansible-lint is not installed")
def test_ansible_lint_production_profile_passes_on_the_roles(tmp_path):
    r = subprocess.run(
        [str(BIN / "ansible-lint"), "--offline", "-f", "pep8", "--nocolor", "roles/"],
        cwd=REPO, env=_ansible_env(tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Profile 'production' was required, and it passed" in r.stderr, r.stderr


# -- every conditional of the shipped roles, with a real plan's vars ------------------------

ROLE_HOSTS = {"etcd": "etcd_hosts", "control_plane": "control_planes", "node": "nodes", "pod_routes": "nodes"}
# what a registered result holds, both ways round: a `when` must be a boolean for either
REGISTERED = [{"changed": False, "rc": 0, "stdout": "", "stat": {"exists": False}},
              {"changed": True, "rc": 0, "stdout": "saved cleaned removed", "stat": {"exists": True}}]


def role_conditionals(role: str) -> list[tuple[str, str, Any, str | None]]:
    """(task name, keyword, condition, register) of every when/changed_when/failed_when in the role."""
    loaded = load_role(role, [ROLES_DIR], set(MODULES))
    return [(task.name, key, getattr(task, key), task.register)
            for task in [*loaded.tasks, *loaded.handlers]
            for key in ("when", "changed_when", "failed_when") if getattr(task, key) is not None]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_roles_conditionals_are_booleans_and_agree_with_ansible(scenario):
    # ansible-core 2.19 refuses a conditional that is not a boolean ("10.244.0.0/24" is not True):
    # the engine does too, but only a run reached the task; here every one is evaluated
    control_planes, cluster_cfg, extra = SCENARIOS[scenario]
    plan = cluster(control_planes, "v1.20.2", cluster_cfg)
    plan.pod_cidrs = {h.node_name: f"10.244.{i}.0/24" for i, h in enumerate(plan.nodes)}
    checked = 0
    for role in ROLES:
        conditionals = role_conditionals(role)
        registers = {register for _, _, _, register in conditionals if register} | {
            t.register for t in load_role(role, [ROLES_DIR], set(MODULES)).tasks if t.register}
        hosts = getattr(plan, ROLE_HOSTS[role]) if role in ROLE_HOSTS else list(plan.inventory.hosts.values())
        for host, registered in [(h, r) for h in hosts[:2] for r in REGISTERED]:
            variables = {**host_vars(plan, host, role, extra), **{name: registered for name in registers},
                         "item": "x", "k8sboot_binaries": {}}
            for task, key, when, _ in conditionals:
                where = f"{role} / {task} / {key} on {host.name}"
                ours = Templar([TEMPLATES_DIR]).condition(when, variables)
                templar = ansible_template.Templar(loader=DataLoader(), variables=variables)
                theirs = all(templar.evaluate_conditional(
                    c if isinstance(c, bool) else ansible_template.trust_as_template(str(c)))
                    for c in (when if isinstance(when, list) else [when]))
                assert ours == theirs, where
                checked += 1
    assert checked > 20
