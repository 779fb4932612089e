"""The template module's `force` (Ansible's): false writes a missing file and leaves an existing one's
content alone; true, the default, rewrites it. On the fake host (tests/unit/fake_host.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sboot.engine.results import CHANGED, FAILED, OK
from k8sboot.engine.runner import RunOptions
from k8sboot.errors import InputError
from k8sboot.paths import ROLES_DIR
from tests.unit.fake_host import FakeFile, FakeHost, run_play

DEST = "/etc/k8sboot-test/bootstrap.env"
TASK = "Write the bootstrap file"


def role(root: Path, **template_args: Any) -> Path:
    (root / "r" / "tasks").mkdir(parents=True)
    (root / "r" / "templates").mkdir()
    (root / "r" / "templates" / "bootstrap.env.j2").write_text("MEMBERS={{ members }}\n")
    task = {"name": TASK, "ansible.builtin.template": {"src": "bootstrap.env.j2", "dest": DEST, **template_args}}
    (root / "r" / "tasks" / "main.yml").write_text(yaml.safe_dump([task]))
    return root


def run(roles: Path, host: FakeHost, options: RunOptions | None = None, **variables: Any) -> str:
    result, rec = run_play(roles, ["r"], {"h1": host}, options, variables={"members": "a,b", **variables})
    assert result.ok, rec.outcomes
    return rec.statuses("h1")[TASK]


def existing(text: str, mode: str = "644") -> FakeHost:
    host = FakeHost("h1")
    host.files[DEST] = FakeFile(text.encode(), mode)
    return host


@pytest.mark.parametrize("force", [False, "no", "false", "{{ rewrite }}"])
def test_force_false_leaves_an_existing_files_other_content(tmp_path, force):
    host = existing("MEMBERS=a\n")
    assert run(role(tmp_path, force=force, mode="0644"), host, rewrite=False) == OK
    assert host.files[DEST].data == b"MEMBERS=a\n"
    assert not any(c == f"put {DEST}" for c in host.commands)


@pytest.mark.parametrize("force", [False, "{{ rewrite }}"])
def test_force_false_still_creates_a_missing_file(tmp_path, force):
    host = FakeHost("h1")
    assert run(role(tmp_path, force=force, mode="0644"), host, rewrite=False) == CHANGED
    assert host.files[DEST].data == b"MEMBERS=a,b\n"
    assert host.files[DEST].mode == "644"


def test_force_false_still_fixes_the_mode(tmp_path):
    host = existing("MEMBERS=a\n", mode="600")
    assert run(role(tmp_path, force=False, mode="0644"), host) == CHANGED
    assert host.files[DEST].mode == "644" and host.files[DEST].data == b"MEMBERS=a\n"


@pytest.mark.parametrize("args", [{}, {"force": True}, {"force": "yes"}, {"force": "{{ rewrite }}"}])
def test_force_true_and_the_default_rewrite_the_content(tmp_path, args):
    host = existing("MEMBERS=a\n")
    assert run(role(tmp_path, **args), host, rewrite=True) == CHANGED
    assert host.files[DEST].data == b"MEMBERS=a,b\n"
    # and a second run has nothing left to do
    assert run(tmp_path, host, rewrite=True) == OK


def test_force_false_in_check_mode_reports_no_change(tmp_path):
    host = existing("MEMBERS=a\n")
    assert run(role(tmp_path, force=False), host, RunOptions(check=True, diff=True)) == OK
    assert host.files[DEST].data == b"MEMBERS=a\n"


def test_a_force_that_is_not_a_boolean_is_refused(tmp_path):
    host = existing("MEMBERS=a\n")
    result, rec = run_play(role(tmp_path, force="sometimes"), ["r"], {"h1": host}, variables={"members": "a,b"})
    assert not result.ok
    outcome = next(o for _, name, o in rec.outcomes if name == TASK)
    assert outcome.status == FAILED and "force" in outcome.result.msg
    assert host.files[DEST].data == b"MEMBERS=a\n"


def test_the_etcd_role_writes_its_initial_cluster_file_without_force_unless_joining():
    tasks = yaml.safe_load((ROLES_DIR / "etcd" / "tasks" / "main.yml").read_text())
    task = next(t for t in tasks if (t.get("ansible.builtin.template") or {}).get("src") == "etcd/initial-cluster.env.j2")
    assert task["ansible.builtin.template"]["force"] == "{{ etcd_initial_cluster_rewrite }}"
    defaults = yaml.safe_load((ROLES_DIR / "etcd" / "defaults" / "main.yml").read_text())
    assert defaults["etcd_initial_cluster_rewrite"] is False


def test_an_unknown_template_argument_is_still_refused(tmp_path):
    with pytest.raises(InputError, match="forse"):
        run_play(role(tmp_path, forse=False), ["r"], {"h1": FakeHost("h1")}, variables={"members": "a"})
