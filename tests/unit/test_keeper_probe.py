"""When the keeper asks a kept connection whether its host still answers (keeper.py `_connected`).

The connection is a stand-in: what is under test is the keeper's rule, not SSH.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from k8sboot.connection import keeper as keeper_module
from k8sboot.connection.keeper import Held, HostSpec, Keeper
from k8sboot.connection.ssh import SSHConnection

SPEC = HostSpec("10.0.0.1", 22, "root", None, False, "/known_hosts", 5.0)


class StandIn:
    def __init__(self, answers: bool) -> None:
        self._answers = answers
        self.probes = self.connects = self.closes = 0

    def answers(self, _timeout: float) -> bool:
        self.probes += 1
        return self._answers

    def connect(self) -> StandIn:
        self.connects += 1
        return self

    def close(self) -> None:
        self.closes += 1


def kept(answers: bool, idle_for: float) -> tuple[Keeper, StandIn, Held]:
    k = Keeper(Path("/nonexistent"), 60)
    conn = StandIn(answers)
    held = k._held[SPEC] = Held(cast(SSHConnection, conn))
    held.used -= idle_for
    return k, conn, held


def test_an_idle_connection_is_probed_and_one_gone_silent_is_closed_before_use():
    k, conn, held = kept(answers=False, idle_for=keeper_module.PROBE_AFTER + 1)
    assert k._connected(SPEC) is held
    assert (conn.probes, conn.closes, conn.connects) == (1, 1, 1)
    assert held.serving == 1


def test_a_connection_in_use_by_another_request_is_never_probed_however_long_its_command():
    k, conn, held = kept(answers=False, idle_for=keeper_module.PROBE_AFTER + 60)
    held.serving = 1  # a long command of another run, sent a minute ago
    k._connected(SPEC)
    assert (conn.probes, conn.closes) == (0, 0), "a failed probe would close it under that command"
    assert held.serving == 2


def test_a_connection_just_used_is_not_probed():
    k, conn, _ = kept(answers=True, idle_for=0)
    k._connected(SPEC)
    assert conn.probes == 0
