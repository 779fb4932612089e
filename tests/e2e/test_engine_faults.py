"""The engine under faults and hostile input, on real hosts (eng-a as root, eng-b through sudo).

Each test writes a small role of its own into tmp_path and runs it with
`k8sboot run`, or drives one SSHConnection directly, then looks at the hosts
over a separate SSH connection.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from k8sboot.connection.known_hosts import KnownHosts
from k8sboot.connection.ssh import SSHConnection, put_script
from tests.e2e.helpers import REPO, k8sboot, ssh
from tests.e2e.test_engine_on_hosts import recap
from tests.lab.containers import LabHost

pytestmark = pytest.mark.lab


def write_role(root: Path, name: str, tasks: list[dict], handlers: list[dict] | None = None) -> Path:
    role = root / "roles" / name
    (role / "tasks").mkdir(parents=True, exist_ok=True)
    (role / "tasks" / "main.yml").write_text(yaml.safe_dump(tasks, sort_keys=False))
    if handlers:
        (role / "handlers").mkdir(exist_ok=True)
        (role / "handlers" / "main.yml").write_text(yaml.safe_dump(handlers, sort_keys=False))
    return root / "roles"


def run_role(tmp_path: Path, inventory: Path, role: str, *extra: str, timeout: float = 300):
    return k8sboot("run", role, "-i", str(inventory), "--roles-path", str(tmp_path / "roles"), *extra,
                   home=tmp_path, timeout=timeout)


def both(lab_hosts: dict[str, LabHost]) -> list[LabHost]:
    return [lab_hosts["eng-a"], lab_hosts["eng-b"]]


def test_an_unclosed_quote_or_heredoc_fails_that_task_at_once_and_the_shell_goes_on(
        tmp_path, engine_inventory, lab_hosts):
    for h in both(lab_hosts):
        ssh(h, "rm -f /tmp/k8sboot-alive")
    write_role(tmp_path, "broken", [
        {"name": "Unclosed quote", "ansible.builtin.shell": "echo 'never closed", "ignore_errors": True},
        {"name": "Unclosed heredoc", "ansible.builtin.shell": "cat <<EOF\nno end marker", "ignore_errors": True},
        {"name": "Still alive", "ansible.builtin.shell": "echo alive > /tmp/k8sboot-alive"},
    ])
    # before the fix the remote sh waited for the rest of the quote for ever: the timeout here fails the test
    r = run_role(tmp_path, engine_inventory, "broken", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for h in both(lab_hosts):
        # the quote is a syntax error; sh ends a heredoc without its marker at the end of the text
        assert recap(r.stdout)[h.name]["ignored"] >= 1
        assert ssh(h, "cat /tmp/k8sboot-alive")[1].strip() == "alive"


def test_a_task_past_its_timeout_is_stopped_on_the_host_and_named(tmp_path, engine_inventory, lab_hosts):
    write_role(tmp_path, "slow", [
        {"name": "Sleep too long", "ansible.builtin.shell": "sleep 291; touch /tmp/k8sboot-late", "timeout": 3},
    ])
    for h in both(lab_hosts):
        ssh(h, "rm -f /tmp/k8sboot-late")
    r = run_role(tmp_path, engine_inventory, "slow", timeout=120)
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert "Sleep too long" in out and "timed out" in out
    time.sleep(3)  # TERM, then KILL two seconds later
    for h in both(lab_hosts):
        _, procs = ssh(h, "pgrep -f 'sleep 29[1]' || true")
        assert procs.strip() == "", f"{h.name} still runs the command: {procs}"
        assert ssh(h, "test -e /tmp/k8sboot-late")[0] != 0


def test_ctrl_c_stops_at_once_and_says_which_host_was_at_which_task(tmp_path, engine_inventory, lab_hosts):
    write_role(tmp_path, "long", [{"name": "Wait a long time", "ansible.builtin.shell": "sleep 293"}])
    env = {**os.environ, "K8SBOOT_HOME": str(tmp_path), "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "k8sboot", "run", "long", "-i", str(engine_inventory),
                             "--roles-path", str(tmp_path / "roles")], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both hosts inside the task
            if all(ssh(h, "pgrep -f 'sleep 29[3]'")[0] == 0 for h in both(lab_hosts)):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the task never started")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)  # at once, not after the 293 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert "interrupted" in out
    for h in both(lab_hosts):
        assert f"{h.name} was at [long : Wait a long time]" in out, out
    time.sleep(1)
    for h in both(lab_hosts):
        assert ssh(h, "pgrep -f 'sleep 29[3]' || true")[1].strip() == ""  # stopped on the host too


def write_owed_role(tmp_path: Path, name: str, lab_hosts: dict[str, LabHost]) -> str:
    """A role that writes /etc/k8sboot-NAME/conf (`conf`, notifying a restart that appends to
    .../restarts), then runs `later`; the hosts start without the directory. Returns the directory."""
    where = f"/etc/k8sboot-{name}"
    for h in both(lab_hosts):
        ssh(h, f"rm -rf {where}")
    write_role(tmp_path, name, [
        {"name": "Write the config", "ansible.builtin.copy":
            {"content": "{{ conf }}\n", "dest": f"{where}/conf", "mode": "0644"},
         "notify": "restart it"},
        {"name": "A later step", "ansible.builtin.shell": "{{ later }}"},
    ], handlers=[
        {"name": "restart it", "ansible.builtin.shell": f"echo restarted >> {where}/restarts"},
    ])
    return where


def assert_owed_restart_runs_once(tmp_path: Path, inventory: Path, name: str, where: str,
                                  lab_hosts: dict[str, LabHost]) -> None:
    """The config written, the restart not run; then the next run restarts once, and the one after not again."""
    for h in both(lab_hosts):
        assert ssh(h, f"cat {where}/conf")[1].strip() == "v1"
        assert ssh(h, f"test -e {where}/restarts")[0] != 0  # the handler could not run
    # the config is now up to date, nothing notifies: only the record says the restart is owed
    for _ in range(2):
        r = run_role(tmp_path, inventory, name, "-e", "conf=v1", "-e", "later=/bin/true")
        assert r.returncode == 0, r.stdout + r.stderr
        for h in both(lab_hosts):
            assert ssh(h, f"cat {where}/restarts")[1].split() == ["restarted"], h.name


def test_a_restart_owed_by_a_failed_run_happens_on_the_next_run(tmp_path, engine_inventory, lab_hosts):
    where = write_owed_role(tmp_path, "owed", lab_hosts)
    failed = run_role(tmp_path, engine_inventory, "owed", "-e", "conf=v1", "-e", "later=/bin/false")
    assert failed.returncode == 1
    assert_owed_restart_runs_once(tmp_path, engine_inventory, "owed", where, lab_hosts)


def test_a_restart_owed_by_a_killed_run_happens_on_the_next_run(tmp_path, engine_inventory, lab_hosts):
    # SIGKILL runs no clean-up: the restart must have been written down before the config changed
    where = write_owed_role(tmp_path, "killed", lab_hosts)
    env = {**os.environ, "K8SBOOT_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "k8sboot", "run", "killed", "-i", str(engine_inventory),
                             "--roles-path", str(tmp_path / "roles"), "-e", "conf=v1", "-e", "later='sleep 295'"],
                            cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # both hosts past the change, inside the later step
            if all(ssh(h, "pgrep -f 'sleep 29[5]'")[0] == 0 for h in both(lab_hosts)):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the later step never started")
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for h in both(lab_hosts):
        ssh(h, "pgrep -f 'sleep 29[5]' | xargs -r kill")  # the test's own command, orphaned by the kill
    assert_owed_restart_runs_once(tmp_path, engine_inventory, "killed", where, lab_hosts)


def test_values_reach_the_shell_only_as_quoted_words(tmp_path, engine_inventory, lab_hosts):
    for h in both(lab_hosts):
        ssh(h, "rm -f /tmp/k8sboot-pwned*")
    evil = "x; touch /tmp/k8sboot-pwned1 #"
    write_role(tmp_path, "hostile", [
        {"name": "wait_for with a hostile host", "ansible.builtin.wait_for":
            {"host": "127.0.0.1/1;touch /tmp/k8sboot-pwned2;", "port": 22, "timeout": 1},
         "ignore_errors": True},
        {"name": "a quoted value", "ansible.builtin.shell": "echo {{ evil | quote }} > /tmp/k8sboot-echo"},
        {"name": "creates with a hostile path", "ansible.builtin.command":
            {"cmd": "true", "creates": "/nonexistent$(touch /tmp/k8sboot-pwned3)"}},
    ])
    (tmp_path / "evil.yml").write_text(yaml.safe_dump({"evil": evil}))
    r = run_role(tmp_path, engine_inventory, "hostile", "-e", f"@{tmp_path / 'evil.yml'}")
    assert r.returncode == 0, r.stdout + r.stderr
    for h in both(lab_hosts):
        assert ssh(h, "ls /tmp/k8sboot-pwned* 2>/dev/null || true")[1].strip() == ""
        assert ssh(h, "cat /tmp/k8sboot-echo")[1].strip() == evil


def test_no_log_and_diffs_keep_secrets_out_of_the_output(tmp_path, engine_inventory, lab_hosts):
    for h in both(lab_hosts):
        ssh(h, "rm -rf /etc/k8sboot-secret")
    write_role(tmp_path, "secret", [
        {"name": "A registry config", "ansible.builtin.copy":
            {"content": "[auth]\npassword = \"{{ pw }}\"\n", "dest": "/etc/k8sboot-secret/registry.toml",
             "mode": "0644"}},
        {"name": "A key", "ansible.builtin.copy":
            {"content": "{{ pw }}-key\n", "dest": "/etc/k8sboot-secret/key", "mode": "0600"}},
        {"name": "A command with a secret", "ansible.builtin.shell": "echo {{ pw | quote }}; false",
         "no_log": True},
    ])
    r = run_role(tmp_path, engine_inventory, "secret", "--diff", "-e", "pw=hunter2-s3cret")
    out = r.stdout + r.stderr
    assert r.returncode == 1  # the no_log task fails: its failure is reported without its output
    assert "hunter2-s3cret" not in out, out
    assert "no_log" in out and "registry.toml" in out and "content not shown" in out


def _conn(host: LabHost, tmp_path: Path) -> SSHConnection:
    return SSHConnection(host.name, host.address, host.port, "root", str(host.key_path),
                         known_hosts=KnownHosts(tmp_path / "known_hosts")).connect()


def test_concurrent_uploads_of_one_file_do_not_collide(tmp_path, lab_hosts):
    conn = _conn(lab_hosts["eng-a"], tmp_path)
    try:
        conn.run("rm -rf /tmp/k8sboot-same && mkdir /tmp/k8sboot-same")
        blobs = [os.urandom(4 << 20), os.urandom(4 << 20)]
        results = [None, None]

        def upload(i: int) -> None:
            results[i] = conn.put("/tmp/k8sboot-same/file", blobs[i])

        threads = [threading.Thread(target=upload, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r is not None and r.ok for r in results), results
        digest = conn.run("sha256sum /tmp/k8sboot-same/file").stdout.split()[0]
        assert digest in {hashlib.sha256(b).hexdigest() for b in blobs}
        assert conn.run("ls -A /tmp/k8sboot-same").stdout.split() == ["file"]  # no temporary left
    finally:
        conn.close()


def test_an_upload_cut_or_altered_leaves_the_old_file_and_no_temporary(tmp_path, lab_hosts):
    conn = _conn(lab_hosts["eng-a"], tmp_path)
    try:
        conn.run("rm -rf /tmp/k8sboot-cut && mkdir /tmp/k8sboot-cut && echo old > /tmp/k8sboot-cut/file")
        # fewer bytes arrive than were sent (a stream cut short): refused on the host
        r = conn.run(put_script("/tmp/k8sboot-cut/file", 4), stdin=b"ne")
        assert not r.ok and "arrived incomplete" in r.stderr
        assert conn.run("cat /tmp/k8sboot-cut/file").stdout == "old\n"
        assert conn.run("ls -A /tmp/k8sboot-cut").stdout.split() == ["file"]
    finally:
        conn.close()

    # the connection dies in the middle of a large upload
    conn = _conn(lab_hosts["eng-a"], tmp_path)
    big = os.urandom(64 << 20)

    def slow_chunks():
        class Slow:
            offset = 0

            def read(self, n: int) -> bytes:
                time.sleep(0.05)
                chunk = big[self.offset:self.offset + n]
                self.offset += len(chunk)
                return chunk
        return Slow()

    errors: list[BaseException] = []

    def upload() -> None:
        try:
            conn.put("/tmp/k8sboot-cut/file", slow_chunks(), size=len(big))  # type: ignore[arg-type]
        except BaseException as e:  # noqa: BLE001 - the cut connection is the point
            errors.append(e)

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(1.0)
    conn.abort()
    t.join(timeout=60)
    assert not t.is_alive()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listing = ssh(lab_hosts["eng-a"], "ls -A /tmp/k8sboot-cut")[1].split()
        if listing == ["file"]:
            break
        time.sleep(0.5)
    assert listing == ["file"]
    assert ssh(lab_hosts["eng-a"], "cat /tmp/k8sboot-cut/file")[1] == "old\n"
