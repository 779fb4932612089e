from pathlib import Path

import pytest

from k8sboot.engine.modules import MODULES
from k8sboot.engine.roles import load_role
from k8sboot.engine.runner import load_roles
from k8sboot.engine.tasks import parse_task
from k8sboot.errors import InputError
from k8sboot.paths import ROLES_DIR

KNOWN = set(MODULES)


def write_role(root: Path, name: str, tasks: str, handlers: str = "", defaults: str = "") -> Path:
    r = root / name
    (r / "tasks").mkdir(parents=True)
    (r / "tasks" / "main.yml").write_text(tasks)
    if handlers:
        (r / "handlers").mkdir()
        (r / "handlers" / "main.yml").write_text(handlers)
    if defaults:
        (r / "defaults").mkdir()
        (r / "defaults" / "main.yml").write_text(defaults)
    return r


def test_ansible_builtin_prefix_and_short_names_both_work():
    a = parse_task({"name": "x", "ansible.builtin.file": {"path": "/a"}}, "f", 0, KNOWN)
    b = parse_task({"name": "x", "file": {"path": "/a"}}, "f", 0, KNOWN)
    assert a.module == b.module == "file"


def test_free_form_command_becomes_cmd_and_args_merge():
    t = parse_task({"command": "touch /x", "args": {"creates": "/x"}}, "f", 0, KNOWN)
    assert t.args == {"cmd": "touch /x", "creates": "/x"}


def test_unknown_module_is_an_error_with_a_suggestion():
    with pytest.raises(InputError) as e:
        parse_task({"name": "x", "templat": {"src": "a", "dest": "b"}}, "roles/r/tasks/main.yml", 0, KNOWN)
    assert "roles/r/tasks/main.yml" in str(e.value) and "did you mean 'template'" in str(e.value)


def test_two_modules_in_one_task_is_an_error():
    with pytest.raises(InputError, match="exactly one module"):
        parse_task({"file": {"path": "/a"}, "copy": {"dest": "/b"}}, "f", 0, KNOWN)


def test_role_loads_tasks_handlers_defaults(tmp_path):
    write_role(tmp_path, "r", "- name: t\n  file: {path: /a, state: directory}\n  notify: h\n",
               "- name: h\n  systemd: {name: x, state: restarted}\n", "a: 1\n")
    role = load_role("r", [tmp_path], KNOWN)
    assert [t.name for t in role.tasks] == ["t"] and role.tasks[0].notify == ["h"]
    assert [h.name for h in role.handlers] == ["h"] and role.defaults == {"a": 1}


def test_notify_of_a_missing_handler_is_caught_at_load(tmp_path):
    write_role(tmp_path, "r", "- name: t\n  file: {path: /a}\n  notify: nope\n")
    with pytest.raises(InputError, match="no such handler"):
        load_roles(["r"], [tmp_path])


def test_unknown_module_argument_is_caught_at_load(tmp_path):
    write_role(tmp_path, "r", "- name: t\n  file: {path: /a, sate: directory}\n")
    with pytest.raises(InputError, match="did you mean 'state'"):
        load_roles(["r"], [tmp_path])


def test_user_roles_dir_wins(tmp_path):
    write_role(tmp_path, "demo", "- name: mine\n  file: {path: /a}\n")
    role = load_role("demo", [tmp_path, ROLES_DIR], KNOWN)
    assert role.tasks[0].name == "mine"


def test_shipped_roles_load():
    names = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "tasks").is_dir())
    assert "demo" in names
    load_roles(names, [ROLES_DIR])
