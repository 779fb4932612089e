"""ansible.builtin.stat: answered from the role's one look, read-only in a preview too."""

from __future__ import annotations

import pytest

from k8sboot.engine.results import OK, SKIPPED
from k8sboot.engine.runner import RunOptions
from tests.unit.fake_host import FakeFile, FakeHost, run_play
from tests.unit.test_engine_runner import write_role

UNIT = "/etc/systemd/system/lb.service"


def tasks(extra: dict | None = None) -> list[dict]:
    return [
        {"name": "look", "ansible.builtin.stat": {"path": UNIT, "get_checksum": False, **(extra or {})},
         "register": "lb"},
        {"name": "stop it", "ansible.builtin.command": "systemctl stop lb", "when": "lb.stat.exists"},
        {"name": "say", "ansible.builtin.command": "echo {{ lb.stat.mode | default('none') }}"},
    ]


@pytest.mark.parametrize("check", [False, True], ids=["run", "preview"])
def test_a_present_file_is_seen_without_a_command_of_its_own(tmp_path, check):
    host = FakeHost("h1", files={UNIT: FakeFile(b"[Unit]\n", mode="644")})
    result, rec = run_play(write_role(tmp_path, tasks()), ["r"], {"h1": host}, RunOptions(check=check))
    assert result.ok, result.failures
    # the stat came from the role's one look (a single stat of every path): none of its own
    assert len([c for c in host.commands if c.startswith("stat ")]) == 1
    if check:
        assert rec.statuses("h1") == {"look": OK, "stop it": SKIPPED, "say": SKIPPED}
    else:
        assert rec.statuses("h1")["look"] == OK
        assert "systemctl stop lb" in host.commands and "echo 0644" in host.commands


def test_an_absent_file_says_exists_false(tmp_path):
    host = FakeHost("h1")
    result, rec = run_play(write_role(tmp_path, tasks()), ["r"], {"h1": host})
    assert result.ok, result.failures
    assert rec.statuses("h1")["stop it"] == SKIPPED and "echo none" in host.commands


@pytest.mark.parametrize("extra, word", [({"follow": True}, "follow"), ({"get_mime": True}, "get_mime")])
def test_what_the_look_cannot_answer_is_refused_by_name(tmp_path, extra, word):
    result, _ = run_play(write_role(tmp_path, tasks(extra)), ["r"], {"h1": FakeHost("h1")})
    assert len(result.failures) == 1 and word in result.failures[0].msg and "not supported" in result.failures[0].msg


def test_a_path_known_only_at_run_time_is_looked_at_by_the_task_itself(tmp_path):
    # the path comes from an earlier task's register: the role's look could not include it
    roles = write_role(tmp_path, [
        {"name": "where", "ansible.builtin.command": "echo", "register": "where", "changed_when": False},
        {"name": "look", "ansible.builtin.stat": {"path": "{{ where.stdout | default('') or '" + UNIT + "' }}"},
         "register": "lb"},
        {"name": "say", "ansible.builtin.command": "echo {{ lb.stat.isreg }} {{ lb.stat.size }}"},
    ])
    host = FakeHost("h1", files={UNIT: FakeFile(b"[Unit]\n")})
    result, _ = run_play(roles, ["r"], {"h1": host})
    assert result.ok, result.failures
    assert "echo True 7" in host.commands
