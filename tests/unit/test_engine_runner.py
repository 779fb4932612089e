"""The runner and the modules on fake hosts (tests/unit/fake_host.py): milliseconds, no lab.

The shipped demo role is the subject: a directory, two templates, a 0600
file, a guarded command and a service with a handler two tasks notify.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from k8sboot.connection.result import CommandResult
from k8sboot.engine.results import CHANGED, OK, SKIPPED
from k8sboot.engine.runner import RunOptions
from k8sboot.paths import ROLES_DIR
from tests.unit.fake_host import FakeHost, FakeUnit, run_play

DEMO = "/etc/k8sboot-demo"


def test_a_first_run_writes_everything_and_runs_the_handler_once():
    host = FakeHost("h1")
    result, rec = run_play(ROLES_DIR, ["demo"], {"h1": host})
    assert result.ok and result.stats["h1"].changed >= 6
    assert host.files[DEMO].kind == "directory" and host.files[DEMO].mode == "755"
    assert host.files[f"{DEMO}/greeting"].data.decode().startswith("hello from k8sboot on h1")
    assert host.files[f"{DEMO}/secret"].mode == "600"
    assert f"{DEMO}/first-run" in host.files
    unit = host.units["k8sboot-demo"]
    assert unit.active and unit.enabled
    # notified by two tasks, run once, after the tasks
    assert [n for _, n, _ in rec.outcomes].count("restart demo") == 1
    assert rec.outcomes[-1][1] == "restart demo"


def test_a_rerun_changes_nothing_and_restarts_nothing():
    host = FakeHost("h1")
    run_play(ROLES_DIR, ["demo"], {"h1": host})
    starts = host.units["k8sboot-demo"].starts
    result, rec = run_play(ROLES_DIR, ["demo"], {"h1": host})
    assert result.ok and result.stats["h1"].changed == 0
    assert rec.statuses("h1")["Record the first run once"] == OK  # `creates` guards it
    assert "restart demo" not in rec.statuses("h1")
    assert host.units["k8sboot-demo"].starts == starts


def test_check_mode_reports_changes_and_makes_none():
    host = FakeHost("h1")
    result, rec = run_play(ROLES_DIR, ["demo"], {"h1": host}, RunOptions(check=True, diff=True))
    assert result.ok and result.stats["h1"].changed >= 3
    assert host.files == {} and host.units == {}
    greeting = next(o for h, n, o in rec.outcomes if n == "Write the greeting")
    assert "+hello from k8sboot on h1" in (greeting.result.diff or "")
    secret = next(o for h, n, o in rec.outcomes if n == "Write a secret only root may read")
    assert "h1 secret" not in (secret.result.diff or "")  # 0600: content not shown


def test_tags_select_tasks_and_a_changed_var_changes_only_its_file():
    host = FakeHost("h1")
    result, rec = run_play(ROLES_DIR, ["demo"], {"h1": host}, RunOptions(tags={"files"}))
    statuses = rec.statuses("h1")
    assert statuses["Install the demo unit"] == SKIPPED and statuses["Write the greeting"] == CHANGED
    run_play(ROLES_DIR, ["demo"], {"h1": host})
    result, rec = run_play(ROLES_DIR, ["demo"], {"h1": host}, variables={"demo_greeting": "hi"})
    changed = [n for n, s in rec.statuses("h1").items() if s == CHANGED]
    assert changed == ["Write the greeting", "restart demo"]


def write_role(root: Path, tasks: list[dict]) -> Path:
    (root / "r" / "tasks").mkdir(parents=True)
    (root / "r" / "tasks" / "main.yml").write_text(yaml.safe_dump(tasks))
    return root


def test_loops_register_and_when(tmp_path):
    roles = write_role(tmp_path, [
        {"name": "dirs", "ansible.builtin.file": {"path": "/srv/{{ item }}", "state": "directory"},
         "loop": ["a", "b"], "register": "made"},
        {"name": "only if both changed", "ansible.builtin.command": "echo both",
         "when": "made.results | length == 2 and made.changed"},
        {"name": "never", "ansible.builtin.command": "echo never", "when": "false"},
    ])
    host = FakeHost("h1")
    result, rec = run_play(roles, ["r"], {"h1": host})
    assert result.ok and {"/srv/a", "/srv/b"} <= set(host.files)
    assert rec.statuses("h1") == {"dirs": CHANGED, "only if both changed": CHANGED, "never": SKIPPED}


def test_until_retries_then_gives_up_with_the_count(tmp_path):
    from k8sboot.connection.result import CommandResult

    roles = write_role(tmp_path, [{"name": "poll", "ansible.builtin.command": "probe", "register": "p",
                                   "until": "p.rc == 0", "retries": 3, "delay": 0}])
    host = FakeHost("h1", answers={"^probe$": CommandResult("probe", 1, "", "not yet")})
    result, _ = run_play(roles, ["r"], {"h1": host})
    assert host.commands.count("probe") == 4
    assert "gave up after 4 attempts" in result.failures[0].msg


def test_wait_for_polls_on_the_host_in_one_command_with_its_values_quoted(tmp_path):
    roles = write_role(tmp_path, [{"name": "port", "ansible.builtin.wait_for":
                                   {"host": "127.0.0.1;reboot", "port": 6443, "timeout": 5}}])
    host = FakeHost("h1")
    result, _ = run_play(roles, ["r"], {"h1": host})
    assert result.ok
    (probe,) = [c for c in host.commands if "dev/tcp" in c]
    assert probe.startswith("bash -c ") and "'\"'\"'/dev/tcp/127.0.0.1;reboot/6443'\"'\"'" in probe


def test_uri_reports_the_status_the_host_saw(tmp_path):
    import json

    from k8sboot.connection.result import CommandResult

    roles = write_role(tmp_path, [{"name": "ready", "ansible.builtin.uri":
                                   {"url": "https://127.0.0.1:6443/readyz", "status_code": 200,
                                    "return_content": True}, "register": "r"},
                                  {"name": "broken", "ansible.builtin.uri": {"url": "https://x/broken"}}])
    # a GET goes through curl; a host without curl (exit 127) is asked with python3
    answers = {r"curl .*readyz": CommandResult("", 0, "ok\n__k8sboot_status=200", ""),
               r"curl .*broken": CommandResult("", 127, "", ""),
               r"python3 -c .*broken": CommandResult("", 0, "not json at all", "")}
    result, rec = run_play(roles, ["r"], {"h1": FakeHost("h1", answers=answers)})
    assert rec.statuses("h1")["ready"] == OK
    assert "unexpected output from the host" in result.failures[0].msg  # not a traceback


def test_check_mode_false_runs_a_read_only_probe_in_a_preview_so_later_whens_can_use_it(tmp_path):
    # Ansible's `check_mode: false`: the probe runs even in check mode; a task without it is skipped
    from k8sboot.connection.result import CommandResult

    roles = write_role(tmp_path, [
        {"name": "probe", "ansible.builtin.command": "systemctl cat lb.service", "register": "lb",
         "changed_when": False, "failed_when": False, "check_mode": False},
        {"name": "stop it", "ansible.builtin.command": "systemctl stop lb", "when": "lb.rc == 0"},
        {"name": "skipped in check mode", "ansible.builtin.command": "echo hi"},
    ])
    host = FakeHost("h1", answers={r"^systemctl cat": CommandResult("systemctl cat", 1, "", "No files found")})
    result, rec = run_play(roles, ["r"], {"h1": host}, RunOptions(check=True))
    assert result.ok, result.failures
    assert rec.statuses("h1") == {"probe": OK, "stop it": SKIPPED, "skipped in check mode": SKIPPED}
    assert host.commands == ["systemctl cat lb.service"]


def test_check_mode_must_be_a_boolean(tmp_path):
    import pytest

    from k8sboot.errors import InputError

    roles = write_role(tmp_path, [{"name": "p", "ansible.builtin.command": "true", "check_mode": "sometimes"}])
    with pytest.raises(InputError, match="check_mode"):
        run_play(roles, ["r"], {"h1": FakeHost("h1")})


# -- a role's probes, read ahead in one round trip (engine/host_probes.py) ------------------
PROBE_STARTS = ("if [ -f ", "if [ -L ", "systemctl show")


def standalone_probes(host: FakeHost) -> list[str]:
    return [c for c in host.commands if c.startswith(PROBE_STARTS)]


def batches(host: FakeHost) -> list[str]:
    return [c for c in host.commands if c.startswith("stat -c '%F|") or " units'; systemctl show -p Id," in c]


def test_a_rerun_reads_what_its_tasks_look_at_in_one_round_trip():
    host = FakeHost("h1")
    run_play(ROLES_DIR, ["demo"], {"h1": host})
    host.commands.clear()
    result, _ = run_play(ROLES_DIR, ["demo"], {"h1": host})
    assert result.ok and result.stats["h1"].changed == 0
    assert len(batches(host)) == 1
    # the systemd task reloads systemd first (daemon_reload: true), so it asks again after that
    assert [c.split(" && ")[0] for c in standalone_probes(host)] == [
        "systemctl show -p ActiveState,UnitFileState,LoadState,NeedDaemonReload k8sboot-demo"]


def test_a_preview_changes_nothing_so_every_task_takes_its_answer_from_the_one_read():
    host = FakeHost("h1")
    result, _ = run_play(ROLES_DIR, ["demo"], {"h1": host}, RunOptions(check=True))
    assert result.ok and result.stats["h1"].changed >= 3
    assert len(batches(host)) == 1
    # the handler runs after the role's tasks: it asks for itself
    assert [c.split(" && ")[0] for c in standalone_probes(host)] == [
        "systemctl show -p ActiveState,UnitFileState,LoadState,NeedDaemonReload k8sboot-demo"]


def test_after_a_task_changes_the_host_later_tasks_look_again(tmp_path):
    roles = write_role(tmp_path, [
        {"name": "look", "ansible.builtin.file": {"path": "/srv/x", "state": "file"}, "ignore_errors": True},
        {"name": "make", "ansible.builtin.command": "touch /srv/x"},
        {"name": "look again", "ansible.builtin.file": {"path": "/srv/x", "state": "file", "mode": "0600"}},
    ])
    host = FakeHost("h1")
    result, rec = run_play(roles, ["r"], {"h1": host})
    # the read ahead said "absent"; after `make` changed the host, the answer is read anew
    assert result.ok, result.failures
    assert rec.statuses("h1")["look again"] == CHANGED and host.files["/srv/x"].mode == "600"
    assert len([c for c in standalone_probes(host) if "/srv/x" in c]) == 1


def test_a_task_whose_arguments_need_a_registered_value_probes_for_itself(tmp_path):
    roles = write_role(tmp_path, [
        {"name": "name", "ansible.builtin.command": "echo /srv/y", "register": "where", "changed_when": False},
        {"name": "dir", "ansible.builtin.file": {"path": "{{ where.stdout }}", "state": "directory"}},
    ])
    host = FakeHost("h1", answers={r"^echo /srv/y$": CommandResult("echo", 0, "/srv/y\n", "")})
    result, rec = run_play(roles, ["r"], {"h1": host})
    assert result.ok and host.files["/srv/y"].kind == "directory"
    assert batches(host) == [] and len(standalone_probes(host)) == 1


def test_enabling_a_unit_reloads_systemd_only_when_its_file_changed_since_it_was_loaded(tmp_path):
    roles = write_role(tmp_path, [{"name": "on", "ansible.builtin.systemd": {"name": "a", "enabled": True}}])
    host = FakeHost("h1")
    host.units["a"] = FakeUnit()
    result, _ = run_play(roles, ["r"], {"h1": host})
    assert result.ok and host.units["a"].enabled
    assert "systemctl enable --no-reload a" in host.commands
    stale = CommandResult("show", 0, "ActiveState=inactive\nUnitFileState=disabled\nLoadState=loaded\n"
                                     "NeedDaemonReload=yes\n", "")
    host = FakeHost("h2", answers={"systemctl show": stale})
    host.units["a"] = FakeUnit()
    run_play(roles, ["r"], {"h2": host})
    assert "systemctl enable a" in host.commands
