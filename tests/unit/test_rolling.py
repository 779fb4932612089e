"""Rolling a role over hosts that already serve: fresh hosts together, changed ones one at a time, the rest untouched."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from k8sboot.connection.result import CommandResult
from k8sboot.engine.runner import RunOptions
from k8sboot.engine.templating import Templar
from k8sboot.inventory.model import Host, Inventory
from k8sboot.paths import TEMPLATES_DIR
from k8sboot.phases.base import RunContext
from k8sboot.phases.rolling import run_rolling, would_change
from tests.unit.fake_host import FakeFile, FakeHost, FakePool, FakeUnit, Recorder

TASKS = """\
- name: Write the config
  ansible.builtin.copy:
    content: "{{ payload }}"
    dest: /etc/svc.conf
    mode: "0644"
  notify: restart svc
- name: Start svc
  ansible.builtin.systemd: {name: svc, state: started}
"""
HANDLERS = """\
- name: restart svc
  ansible.builtin.systemd: {name: svc, state: restarted}
"""


class Titles(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.plays: list[tuple[str, list[str]]] = []

    def play_started(self, title: str, hosts: list[str]) -> None:
        self.plays.append((title, hosts))


def serving(name: str, config: str) -> FakeHost:
    host = FakeHost(name, files={"/etc/svc.conf": FakeFile(config.encode())}, units={"svc": FakeUnit(active=True)})
    host.answers[r"^systemctl is-active"] = CommandResult("systemctl is-active svc", 0, "active\n", "")
    return host


def context(tmp_path: Path, fakes: dict[str, FakeHost]) -> tuple[RunContext, list[Host], Titles]:
    role = tmp_path / "svc"
    (role / "tasks").mkdir(parents=True, exist_ok=True)
    (role / "handlers").mkdir(exist_ok=True)
    (role / "tasks" / "main.yml").write_text(TASKS)
    (role / "handlers" / "main.yml").write_text(HANDLERS)
    hosts = [Host(n, "10.0.0.1") for n in fakes]
    inv = Inventory(None, {"name": "t"}, {h.name: h for h in hosts}, {"nodes": list(fakes)})
    command = SimpleNamespace(inventory=inv, templar=lambda: Templar([TEMPLATES_DIR]), roles_dirs=[tmp_path])
    titles = Titles()
    ctx = RunContext(command=command, pool=FakePool(fakes), options=RunOptions(), reporter=titles)  # type: ignore[arg-type]
    return ctx, hosts, titles


VARIABLES: dict[str, Any] = {"payload": "new"}


def roll(tmp_path: Path, fakes: dict[str, FakeHost]) -> Titles:
    ctx, hosts, titles = context(tmp_path, fakes)
    run_rolling(ctx, "svc", hosts, ["svc"], lambda h: VARIABLES, "svc")
    return titles


def test_fresh_hosts_together_then_changed_ones_one_at_a_time_and_unchanged_ones_untouched(tmp_path: Path):
    fakes = {"h1": serving("h1", "old"), "h2": serving("h2", "new"), "h3": FakeHost("h3"), "h4": FakeHost("h4"),
             "h5": serving("h5", "old")}
    titles = roll(tmp_path, fakes)
    assert titles.plays == [("svc", ["h3", "h4"]), ("svc: h1 (1/2, rolling)", ["h1"]),
                            ("svc: h5 (2/2, rolling)", ["h5"])]
    assert fakes["h1"].units["svc"].starts == 1 and fakes["h5"].units["svc"].starts == 1  # restarted, once
    assert fakes["h2"].units["svc"].starts == 0  # nothing changed: not restarted, not even run for real
    assert fakes["h3"].units["svc"].active and fakes["h3"].files["/etc/svc.conf"].data == b"new"
    assert all(fakes[n].files["/etc/svc.conf"].data == b"new" for n in fakes)


def test_a_rerun_with_nothing_to_change_is_one_preview_pass(tmp_path: Path):
    fakes = {n: serving(n, "new") for n in ("h1", "h2", "h3")}
    titles = roll(tmp_path, fakes)
    assert titles.plays == []  # only the silent preview ran
    assert all(f.units["svc"].starts == 0 for f in fakes.values())


def test_the_preview_says_which_handlers_each_changing_host_would_run(tmp_path: Path):
    fakes = {"h1": serving("h1", "old"), "h2": serving("h2", "new")}
    ctx, hosts, titles = context(tmp_path, fakes)
    assert would_change(ctx, hosts, ["svc"], lambda h: VARIABLES) == {"h1": {"restart svc"}}
    assert fakes["h1"].files["/etc/svc.conf"].data == b"old"  # a preview changes nothing
    assert titles.plays == []
