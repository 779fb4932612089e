"""The control-plane role's order: the apiserver ready before its clients start, their files in meanwhile.

Started together with the apiserver, the controller-manager's and scheduler's
retries starved an emulated VM's apiserver; installed only after it was ready,
their binaries' fetch and hash sat on `up`'s critical chain (6 s at 30 hosts).
"""

from __future__ import annotations

from typing import Any

import yaml

from k8sboot.paths import ROLES_DIR

TASKS = yaml.safe_load((ROLES_DIR / "control_plane" / "tasks" / "main.yml").read_text())
NAMES = [t["name"] for t in TASKS]


def index(predicate: Any) -> list[int]:
    return [i for i, t in enumerate(TASKS) if predicate(t)]


def notifies(handler: str) -> list[int]:
    return index(lambda t: handler in ([t["notify"]] if isinstance(t.get("notify"), str) else t.get("notify", [])))


def test_the_controller_manager_and_scheduler_start_only_after_the_apiserver_is_ready() -> None:
    start_apiserver = NAMES.index("Start the apiserver")
    ready = NAMES.index("Wait until the apiserver is ready")
    start_others = NAMES.index("Start the controller-manager and the scheduler")
    flushes = index(lambda t: t.get("ansible.builtin.meta") == "flush_handlers")
    assert start_apiserver < ready < start_others
    # their restart handlers (which start them on a first run) run at a flush after the readiness poll
    for handler in ("restart kube-controller-manager", "restart kube-scheduler"):
        assert notifies(handler)
        first_flush_after = min(f for f in flushes if f > max(notifies(handler)))
        assert ready < first_flush_after < start_others, handler


def test_their_files_go_in_while_the_apiserver_starts() -> None:
    start_apiserver = NAMES.index("Start the apiserver")
    ready = NAMES.index("Wait until the apiserver is ready")
    for handler in ("restart kube-controller-manager", "restart kube-scheduler"):
        assert all(start_apiserver < i < ready for i in notifies(handler)), handler
