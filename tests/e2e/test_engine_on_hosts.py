"""The engine against real hosts: two system containers reached over SSH.

eng-a is reached as root, eng-b as the non-root `admin` with sudo (become).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.helpers import k8sboot, ssh, write_inventory

pytestmark = pytest.mark.lab


def recap(output: str) -> dict[str, dict[str, int]]:
    """Parse Ansible-style recap lines: `host : ok=3 changed=1 ...`."""
    out: dict[str, dict[str, int]] = {}
    for m in re.finditer(r"^(\S+)\s+: ((?:\w+=\d+\s*)+)", output, re.M):
        out[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return out


def test_role_runs_on_both_hosts_then_a_rerun_changes_nothing(tmp_path, engine_inventory, lab_hosts):
    first = k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    counts = recap(first.stdout)
    assert counts["eng-a"]["changed"] >= 5 and counts["eng-b"]["changed"] >= 5
    assert counts["eng-a"]["failed"] == 0 and counts["eng-b"]["failed"] == 0
    for h in (lab_hosts["eng-a"], lab_hosts["eng-b"]):
        code, out = ssh(h, "stat -c '%a %U' /etc/k8sboot-demo/secret; cat /etc/k8sboot-demo/greeting; "
                           "systemctl is-active k8sboot-demo; systemctl is-enabled k8sboot-demo")
        assert code == 0, out
        lines = out.splitlines()
        assert lines[0] == "600 root"  # eng-b wrote it through sudo: owned by root
        assert lines[1].startswith("hello from k8sboot on ") and h.name in lines[1]
        assert lines[-2:] == ["active", "enabled"]

    second = k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path)
    assert second.returncode == 0, second.stderr
    counts = recap(second.stdout)
    assert counts["eng-a"]["changed"] == 0 and counts["eng-b"]["changed"] == 0
    assert counts["eng-a"]["ok"] == counts["eng-b"]["ok"] > 0


def test_a_rerun_sees_what_was_changed_by_hand_since(tmp_path, engine_inventory, lab_hosts):
    # a role's tasks take what they compare from one look at the host (engine/host_probes.py):
    # edits made behind k8sboot's back must still show, as root (eng-a) and through sudo (eng-b)
    assert k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path).returncode == 0
    for h in ("eng-a", "eng-b"):
        code, out = ssh(lab_hosts[h], "chmod 644 /etc/k8sboot-demo/secret && "
                                      "echo edited > /etc/k8sboot-demo/greeting && systemctl stop k8sboot-demo")
        assert code == 0, out
    preview = k8sboot("run", "demo", "-i", str(engine_inventory), "--check", home=tmp_path)
    fix = k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path)
    assert fix.returncode == 0, fix.stdout + fix.stderr
    for host in ("eng-a", "eng-b"):
        expected = ["Write the greeting", "Write a secret only root may read", "Start and enable the demo service"]
        for task in expected:
            assert re.search(rf"changed: \[{host}\] demo : {task}", preview.stdout), preview.stdout
            assert re.search(rf"changed: \[{host}\] demo : {task}", fix.stdout), fix.stdout
        assert recap(fix.stdout)[host]["changed"] == len(expected) + 1  # + the restart it notified
        code, out = ssh(lab_hosts[host], "stat -c %a /etc/k8sboot-demo/secret; cat /etc/k8sboot-demo/greeting; "
                                         "systemctl is-active k8sboot-demo")
        lines = out.splitlines()
        assert lines[0] == "600" and lines[1].startswith("hello from k8sboot") and lines[-1] == "active", out
    again = k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path)
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), again.stdout


def test_check_mode_reports_but_changes_nothing_and_diff_shows_it(tmp_path, engine_inventory, lab_hosts):
    assert k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path).returncode == 0
    before = ssh(lab_hosts["eng-b"], "cat /etc/k8sboot-demo/greeting; "
                                     "systemctl show -p ExecMainStartTimestampMonotonic k8sboot-demo")[1]
    r = k8sboot("run", "demo", "-i", str(engine_inventory), "--check", "--diff", "-e", "demo_greeting=changed",
                home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert recap(r.stdout)["eng-b"]["changed"] >= 1
    assert "-hello from k8sboot on eng-b" in r.stdout and "+changed on eng-b" in r.stdout
    after = ssh(lab_hosts["eng-b"], "cat /etc/k8sboot-demo/greeting; "
                                    "systemctl show -p ExecMainStartTimestampMonotonic k8sboot-demo")[1]
    assert after == before  # same content, service not restarted


def test_handler_runs_once_when_two_tasks_notify_it(tmp_path, engine_inventory, lab_hosts):
    assert k8sboot("run", "demo", "-i", str(engine_inventory), home=tmp_path).returncode == 0
    # a new greeting and a new unit both notify `restart demo`
    r = k8sboot("run", "demo", "-i", str(engine_inventory), "-e", "demo_greeting=again",
                "-e", "demo_dir=/etc/k8sboot-demo", "--templates", str(_unit_override(tmp_path)),
                home=tmp_path)
    assert r.returncode == 0, r.stderr
    for host in ("eng-a", "eng-b"):
        assert len(re.findall(rf"changed: \[{host}\] demo : restart demo", r.stdout)) == 1, r.stdout
        assert re.search(rf"changed: \[{host}\] demo : Write the greeting", r.stdout)
        assert re.search(rf"changed: \[{host}\] demo : Install the demo unit", r.stdout)


def _unit_override(tmp_path: Path) -> Path:
    """A user template directory overriding the demo unit (searched before the shipped one)."""
    d = tmp_path / "my-templates" / "demo"
    d.mkdir(parents=True)
    (d / "k8sboot-demo.service.j2").write_text(
        "[Unit]\nDescription=overridden by the user\n[Service]\nExecStart=/bin/sleep infinity\n"
        "[Install]\nWantedBy=multi-user.target\n")
    return d.parent


def test_hosts_run_in_parallel_over_one_connection_each(tmp_path, engine_inventory, lab_hosts):
    roles = tmp_path / "roles" / "probe" / "tasks"
    roles.mkdir(parents=True)
    (roles / "main.yml").write_text(
        "- name: Mark start and end\n"
        "  shell: date +%s.%N > /tmp/probe-start; sleep 2; date +%s.%N > /tmp/probe-end\n"
        "- name: Two more round trips\n  command: 'true'\n"
        "- name: And another\n  command: 'true'\n")
    logins = "journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey' || true"
    before = {h: int(ssh(lab_hosts[h], logins)[1].split()[0]) for h in ("eng-a", "eng-b")}
    r = k8sboot("run", "probe", "-i", str(engine_inventory), "--roles-path", str(tmp_path / "roles"),
                home=tmp_path)
    assert r.returncode == 0, r.stderr
    after = {h: int(ssh(lab_hosts[h], logins)[1].split()[0]) for h in ("eng-a", "eng-b")}
    # k8sboot opened exactly one connection per host (+1: the ssh() that counts)
    assert after["eng-a"] - before["eng-a"] == 2 and after["eng-b"] - before["eng-b"] == 2
    spans = []
    for h in ("eng-a", "eng-b"):
        out = ssh(lab_hosts[h], "cat /tmp/probe-start /tmp/probe-end")[1].split()
        spans.append((float(out[0]), float(out[1])))
    # containers share the host's clock: overlapping spans prove the hosts ran at once
    (s1, e1), (s2, e2) = spans
    assert s1 < e2 and s2 < e1, spans


def test_unreachable_host_is_one_clear_error(tmp_path, lab_hosts):
    inv = write_inventory(tmp_path / "gone.yml", "gone",
                          {"ghost": {"address": "10.123.0.250", "groups": ["etcd", "control_plane", "nodes"]}},
                          key=lab_hosts["eng-a"].key_path)
    r = k8sboot("run", "demo", "-i", str(inv), "--connect-timeout", "2", home=tmp_path)
    assert r.returncode == 1
    assert "ghost: unreachable at 10.123.0.250:22" in r.stdout + r.stderr


def test_a_changed_host_key_stops_the_run_until_accepted(tmp_path, engine_inventory, lab_hosts, container_lab):
    assert k8sboot("run", "demo", "-i", str(engine_inventory), "-l", "eng-a", home=tmp_path).returncode == 0
    assert k8sboot("run", "demo", "-i", str(engine_inventory), "-l", "eng-a", home=tmp_path).returncode == 0
    # the machine is re-created with new keys (and the connection the keeper holds dies with the old one)
    code, out = ssh(lab_hosts["eng-a"], "rm -f /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null")
    assert code == 0, out
    container_lab[0].kill("eng-a")
    container_lab[0].start_existing("eng-a")
    r = k8sboot("run", "demo", "-i", str(engine_inventory), "-l", "eng-a", home=tmp_path)
    assert r.returncode == 1
    assert "host key of" in r.stderr and "changed" in r.stderr and "--accept-new-host-keys" in r.stderr
    r = k8sboot("run", "demo", "-i", str(engine_inventory), "-l", "eng-a", "--accept-new-host-keys",
                home=tmp_path)
    assert r.returncode == 0, r.stderr
    # the new key is recorded: a plain run works again
    assert k8sboot("run", "demo", "-i", str(engine_inventory), "-l", "eng-a", home=tmp_path).returncode == 0


def test_become_without_passwordless_sudo_names_host_and_cause(tmp_path, lab_hosts):
    b = lab_hosts["eng-b"]
    code, _ = ssh(b, "id nosudo >/dev/null 2>&1 || (useradd -m nosudo && mkdir -p ~nosudo/.ssh && "
                     "cp /root/.ssh/authorized_keys ~nosudo/.ssh/ && chown -R nosudo ~nosudo/.ssh)")
    assert code == 0
    inv = write_inventory(tmp_path / "nosudo.yml", "nosudo",
                          {"eng-b": {"address": b.address, "groups": ["etcd", "control_plane", "nodes"],
                                     "user": "nosudo", "become": True}}, key=b.key_path)
    r = k8sboot("run", "demo", "-i", str(inv), home=tmp_path)
    assert r.returncode == 1
    assert "eng-b" in r.stderr and "sudo" in r.stderr
