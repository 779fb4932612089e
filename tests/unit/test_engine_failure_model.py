"""The runner's one failure model, deadlines, owed handlers and secrets, against a recording fake host.

The fake answers the few probe commands the modules send; everything else
"succeeds". What only real hosts show is in tests/e2e/test_engine_faults.py.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sboot.connection.result import CommandResult
from k8sboot.connection.shell import command_script
from k8sboot.engine.control import RunControl
from k8sboot.engine.modules import MODULES
from k8sboot.engine.modules.base import redacted_diff
from k8sboot.engine.pending_handlers import PendingHandlers
from k8sboot.engine.runner import CENSORED, RunOptions
from k8sboot.engine.tasks import parse_task
from k8sboot.errors import InputError
from k8sboot.paths import ROLES_DIR
from tests.unit.fake_host import FakeFile, FakeHost, Recorder, run_play


def write_role(root: Path, name: str, tasks: list[dict], handlers: list[dict] | None = None) -> None:
    (root / name / "tasks").mkdir(parents=True)
    (root / name / "tasks" / "main.yml").write_text(yaml.safe_dump(tasks))
    if handlers:
        (root / name / "handlers").mkdir()
        (root / name / "handlers" / "main.yml").write_text(yaml.safe_dump(handlers))


def play(roles_dir: Path, role: str, hosts: dict[str, FakeHost], options: RunOptions | None = None,
         extra: dict[str, Any] | None = None) -> tuple[Any, Recorder]:
    return run_play(roles_dir, [role], hosts, options, extra)


def test_any_exception_inside_a_task_is_that_hosts_failure_and_the_others_finish(tmp_path, monkeypatch):
    write_role(tmp_path, "r", [{"name": "boom", "ansible.builtin.shell": "x"},
                               {"name": "after", "ansible.builtin.shell": "y"}])
    spec = MODULES["shell"]

    def explode(ctx: Any, args: dict[str, Any]) -> Any:
        if ctx.host.name == "bad":
            raise ValueError("a bug in a module")
        return spec.run(ctx, args)

    monkeypatch.setitem(MODULES, "shell", type(spec)(spec.name, explode, spec.args))
    good, bad = FakeHost("good"), FakeHost("bad")
    result, _ = play(tmp_path, "r", {"good": good, "bad": bad})
    assert [f.host for f in result.failures] == ["bad"]
    assert "ValueError: a bug in a module" in result.failures[0].describe()
    assert result.stats["good"].failed == 0 and result.stats["bad"].failed == 1
    assert any("y" in c for c in good.commands)  # the healthy host ran its later task


@pytest.mark.parametrize("module,args,probe,message", [
    ("file", {"path": "/etc/x", "state": "directory"}, r"^if \[ -L", "cannot inspect /etc/x"),
    ("systemd", {"name": "etcd", "state": "started"}, r"^systemctl show", "cannot read the state of etcd"),
    ("copy", {"content": "a", "dest": "/etc/y"}, r"^if \[ -f", "cannot inspect /etc/y"),
])
def test_a_probe_that_fails_is_a_failure_not_absent_or_inactive(tmp_path, module, args, probe, message):
    write_role(tmp_path, "r", [{"name": "t", f"ansible.builtin.{module}": args}])
    # the role's look ahead (engine/host_probes.py) could not read it either: the module asks itself
    denied = CommandResult("probe", 1, "", "Permission denied")
    conn = FakeHost("h", answers={probe: denied, "^stat -c '%F": denied, "units'; systemctl show": denied})
    result, _ = play(tmp_path, "r", {"h": conn})
    assert result.failures and message in result.failures[0].msg
    assert not any(c.startswith(("mkdir", "systemctl start", "put")) for c in conn.commands)


def test_handlers_owed_by_a_failed_run_run_on_the_next_one(tmp_path):
    roles = tmp_path / "roles"
    write_role(roles, "r", [
        {"name": "config", "ansible.builtin.copy": {"content": "a", "dest": "/etc/c"}, "notify": "restart"},
        {"name": "later", "ansible.builtin.command": "{{ later }}"},
    ], handlers=[{"name": "restart", "ansible.builtin.command": "systemctl restart thing"}])
    owed = PendingHandlers(tmp_path / "pending.json")
    host = FakeHost("h", answers={r"^false$": CommandResult("false", 1, "", "")})
    result, _ = play(roles, "r", {"h": host}, RunOptions(pending=owed), {"later": "false"})
    assert result.failures
    assert "systemctl restart thing" not in host.commands
    assert PendingHandlers(tmp_path / "pending.json").get("h", ["r"]) == {"r": {"restart"}}

    # the file is up to date now (the copy reports ok), yet the restart is still owed
    result, rec = play(roles, "r", {"h": host}, RunOptions(pending=PendingHandlers(tmp_path / "pending.json")),
                       {"later": "true"})
    assert result.ok and rec.statuses("h")["config"] == "ok"  # nothing notifies this time
    assert host.commands.count("systemctl restart thing") == 1
    assert PendingHandlers(tmp_path / "pending.json").get("h", ["r"]) == {}


def test_a_notification_runs_every_handler_that_listens_and_stays_owed_until_the_last_ran(tmp_path):
    # as Ansible: `notify: restart a` runs the handler named so and every one listening to it
    roles = tmp_path / "roles"
    write_role(roles, "r", [
        {"name": "unit a", "ansible.builtin.copy": {"content": "a", "dest": "/etc/a"}, "notify": "restart a"},
        {"name": "unit b", "ansible.builtin.copy": {"content": "b", "dest": "/etc/b"}, "notify": "restart b"},
    ], handlers=[
        {"name": "reload", "ansible.builtin.command": "systemctl daemon-reload", "listen": ["restart a", "restart b"]},
        {"name": "restart a", "ansible.builtin.command": "systemctl restart a"},
        {"name": "restart b", "ansible.builtin.command": "systemctl restart b"},
    ])
    host = FakeHost("h", answers={r"restart b$": CommandResult("restart b", 1, "", "b failed")})
    owed = PendingHandlers(tmp_path / "pending.json")
    result, rec = play(roles, "r", {"h": host}, RunOptions(pending=owed))
    ran = [c for c in host.commands if c.startswith("systemctl")]
    assert ran == ["systemctl daemon-reload", "systemctl restart a", "systemctl restart b"]  # one reload
    assert result.failures and "restart b" in result.failures[0].task
    # `restart a` is done; `restart b` failed, so it is owed (and with it its reload, which listens)
    assert PendingHandlers(tmp_path / "pending.json").get("h", ["r"]) == {"r": {"restart b"}}


def test_a_corrupt_record_of_owed_handlers_is_one_clear_error(tmp_path):
    (tmp_path / "pending.json").write_text("[1, 2")
    with pytest.raises(InputError, match="pending.json"):
        PendingHandlers(tmp_path / "pending.json").get("h", ["r"])


def test_no_log_hides_a_tasks_output_from_the_reporter_and_the_recap(tmp_path):
    write_role(tmp_path, "r", [{"name": "secret", "ansible.builtin.shell": "echo {{ pw }}; false",
                                "no_log": True}])
    conn = FakeHost("h", answers={r"hunter2": CommandResult("echo hunter2; false", 1, "hunter2\n", "hunter2")})
    result, rec = play(tmp_path, "r", {"h": conn}, extra={"pw": "hunter2"})
    shown = result.failures[0].describe() + repr(rec.outcomes)
    assert "hunter2" not in shown and CENSORED in shown


def test_a_tasks_timeout_bounds_its_retries(tmp_path):
    write_role(tmp_path, "r", [{"name": "poll", "ansible.builtin.command": "probe", "register": "p",
                                "until": "p.rc == 0", "retries": 100, "delay": 1, "timeout": 0.5}])
    result, _ = play(tmp_path, "r", {"h": FakeHost("h", answers={"probe": CommandResult("probe", 1, "", "")})})
    assert "timeout of 0.5s passed" in result.failures[0].msg


def test_cancel_reports_what_was_in_flight_and_stops_new_tasks(tmp_path):
    control = RunControl()
    control.started("cp1", "etcd : Start etcd")
    assert control.cancel() == [line for line in control.interrupted]
    assert control.interrupted[0].startswith("cp1 was at [etcd : Start etcd] for ")
    write_role(tmp_path, "r", [{"name": "t", "ansible.builtin.shell": "x"}])
    conn = FakeHost("h")
    result, _ = play(tmp_path, "r", {"h": conn}, RunOptions(control=control))
    assert conn.commands == [] and "interrupted" in result.failures[0].msg
    assert control.sleep(5) is True  # retries wake at once


@pytest.mark.parametrize("raw,want", [("no", False), ("No", False), ("false", False), ("0", False),
                                      (False, False), ("yes", True), ("true", True), (1, True)])
def test_task_booleans_are_read_as_ansible_reads_them(raw, want):
    task = parse_task({"name": "x", "shell": "true", "become": raw}, "f", 0, set(MODULES))
    assert task.become is want


def test_a_boolean_keyword_that_is_not_one_is_an_error():
    with pytest.raises(InputError, match="become must be a boolean"):
        parse_task({"name": "x", "shell": "true", "become": "maybe"}, "f", 0, set(MODULES))


def test_diffs_mask_credentials_and_hide_private_files():
    diff = redacted_diff('password = "old"\n', 'password = "new"\ntoken: abc\nplain = 1\n', "/etc/c", "644")
    assert "old" not in diff and "new" not in diff and "abc" not in diff and "+plain = 1" in diff
    hidden = redacted_diff("", "key material", "/etc/k", "600")
    assert "key material" not in hidden and "content not shown" in hidden


def test_every_value_in_a_shipped_shell_or_command_task_is_quoted():
    unquoted = []
    for f in sorted([*ROLES_DIR.glob("*/tasks/main.yml"), *ROLES_DIR.glob("*/handlers/main.yml")]):
        for task in yaml.safe_load(f.read_text()) or []:
            for key, value in task.items():
                if key.removeprefix("ansible.builtin.") not in ("shell", "command"):
                    continue
                text = value if isinstance(value, str) else str(value.get("cmd", ""))
                unquoted += [f"{f}: {m}" for m in re.findall(r"\{\{(.*?)\}\}", text) if "quote" not in m]
    assert unquoted == []


@pytest.mark.parametrize("cmd", ["echo 'never closed", "cat <<EOF\nno end", 'echo "$(', "exit 7", "(("])
def test_a_broken_command_cannot_take_over_the_shell_protocol(cmd):
    # the same script the remote shell gets, fed to a local sh: it must finish and report
    script = command_script(cmd, "t0k") + "echo still-here\n"
    done = subprocess.run(["sh"], input=script, capture_output=True, text=True, timeout=10)
    assert "__k8sboot_t0k_rc=" in done.stdout and done.stdout.rstrip().endswith("still-here")
    assert "__k8sboot_t0k_end" in done.stderr


def test_owed_handlers_are_safe_to_record_from_many_threads(tmp_path):
    owed = PendingHandlers(tmp_path / "p.json")
    threads = [threading.Thread(target=owed.record, args=(f"h{i}", {"r": {"x"}})) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(yaml.safe_load((tmp_path / "p.json").read_text())) == 20


def test_a_binary_that_changes_after_it_was_checked_is_not_uploaded(tmp_path):
    from k8sboot.engine.modules.copy import local_sha256, pin_sha256

    binary = tmp_path / "kubelet"
    binary.write_bytes(b"checked build")
    pin_sha256(binary, local_sha256(binary))
    binary.write_bytes(b"something else, written later")
    roles = tmp_path / "roles"
    write_role(roles, "r", [{"name": "install", "ansible.builtin.copy": {"src": str(binary), "dest": "/usr/bin/k"}}])
    conn = FakeHost("h")
    result, _ = play(roles, "r", {"h": conn})
    assert "changed since it was checked" in result.failures[0].msg
    assert not any(c.startswith("put") for c in conn.commands)


def test_handlers_are_owed_before_the_task_that_notifies_them_runs(tmp_path):
    # a SIGKILL between the change on the host and the handler runs no `finally`: the record must
    # already name the restart when the changing task starts
    roles = tmp_path / "roles"
    write_role(roles, "r", [
        {"name": "config", "ansible.builtin.copy": {"content": "a", "dest": "/etc/c"}, "notify": "restart"},
        {"name": "flush", "ansible.builtin.meta": "flush_handlers"},
        {"name": "skipped", "ansible.builtin.copy": {"content": "b", "dest": "/etc/d"}, "notify": "other",
         "when": "false"},
    ], handlers=[{"name": "restart", "ansible.builtin.command": "systemctl restart thing"},
                 {"name": "other", "ansible.builtin.command": "systemctl restart other"}])
    path = tmp_path / "pending.json"
    seen: list[dict[str, set[str]]] = []

    class Watching(FakeHost):
        def run(self, cmd, *a, **kw):  # what the record owed when each command reached the host
            seen.append(PendingHandlers(path).get("h", ["r"]))
            return super().run(cmd, *a, **kw)

        def put(self, dest, *a, **kw):
            seen.append(PendingHandlers(path).get("h", ["r"]))
            return super().put(dest, *a, **kw)

    host = Watching("h")
    result, _ = play(roles, "r", {"h": host}, RunOptions(pending=PendingHandlers(path)))
    assert result.ok
    writes = [i for i, c in enumerate(host.commands) if c.startswith("put")]  # the look ahead reads only
    assert writes and all(seen[i] == {"r": {"restart"}} for i in writes), (host.commands, seen)
    assert seen[host.commands.index("systemctl restart thing")] == {"r": {"restart"}}
    # settled once the handler ran; a task whose `when` is false owes nothing
    assert PendingHandlers(path).get("h", ["r"]) == {}
    assert all("other" not in owed.get("r", set()) for owed in seen)
    assert "systemctl restart other" not in host.commands


def test_an_owed_handler_runs_where_its_task_is_reached_not_at_the_first_flush(tmp_path):
    # the earlier run owed `restart b` (say, the kubelet's: its certificates changed); its unit is
    # installed after the role's first flush, so restarting it there fails with "unit not found"
    roles = tmp_path / "roles"
    write_role(roles, "r", [
        {"name": "config a", "ansible.builtin.copy": {"content": "a", "dest": "/etc/a"}, "notify": "restart a"},
        {"name": "flush a", "ansible.builtin.meta": "flush_handlers"},
        {"name": "install b", "ansible.builtin.command": "install-b", "changed_when": False},
        {"name": "config b", "ansible.builtin.copy": {"content": "b", "dest": "/etc/b"}, "notify": "restart b"},
        {"name": "flush b", "ansible.builtin.meta": "flush_handlers"},
    ], handlers=[{"name": "restart a", "ansible.builtin.command": "restart-a"},
                 {"name": "restart b", "ansible.builtin.command": "restart-b"},
                 {"name": "restart gone", "ansible.builtin.command": "restart-gone"}])
    path = tmp_path / "pending.json"
    PendingHandlers(path).record("h", {"r": {"restart b", "restart gone"}})
    host = FakeHost("h", files={"/etc/a": FakeFile(b"a"), "/etc/b": FakeFile(b"b")})
    result, _ = play(roles, "r", {"h": host}, RunOptions(pending=PendingHandlers(path)))
    assert result.ok
    ran = [c for c in host.commands if c in ("install-b", "restart-a", "restart-b", "restart-gone")]
    # nothing changed, restart a is not owed; restart gone has no task left to notify it: at the end
    assert ran == ["install-b", "restart-b", "restart-gone"]
    assert PendingHandlers(path).get("h", ["r"]) == {}
