"""One command's stop button (connection/interrupt.py): pressed at any moment, it stops that command once."""

import os
from typing import cast

import paramiko

from k8sboot.connection.interrupt import Interrupt
from k8sboot.connection.shell import RemoteShell


def test_pressed_while_armed_stops_once():
    stops: list[str] = []
    i = Interrupt()
    i.arm(lambda: stops.append("a"))
    i.press()
    i.press()
    assert stops == ["a"] and i.pressed


def test_pressed_before_the_command_started_stops_it_as_it_starts():
    stops: list[str] = []
    i = Interrupt()
    i.press()
    assert stops == []
    i.arm(lambda: stops.append("a"))
    assert stops == ["a"]


def test_pressed_after_the_command_ended_stops_nothing():
    stops: list[str] = []
    i = Interrupt()
    i.arm(lambda: stops.append("a"))
    i.disarm()
    i.press()
    assert stops == [] and i.pressed


def test_the_stop_runs_outside_the_lock_so_it_may_disarm():
    i = Interrupt()
    i.arm(i.disarm)  # a stop that ends the command, whose loop then disarms: no deadlock
    i.press()
    assert i.pressed


class _Channel:
    """Just enough of a paramiko channel for RemoteShell to start: it records what is sent."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        self.closed = False
        self.sent: list[bytes] = []

    def exec_command(self, _command: str) -> None: ...

    def fileno(self) -> int:
        return self._r

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)


def test_a_command_interrupted_before_it_was_sent_never_reaches_the_host():
    # pressed while the command waited for a shell; arming then finds it pressed
    chan = _Channel()
    shell = RemoteShell(cast(paramiko.Channel, chan), "sh")
    i = Interrupt()
    i.press()
    out = shell.run("touch /tmp/must-not-run", 5, i)
    assert out.rc == 130 and b"interrupted before it started" in out.stderr
    assert not any(b"must-not-run" in s for s in chan.sent), chan.sent
