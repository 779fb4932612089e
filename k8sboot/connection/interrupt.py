"""Stopping one command while others share its connection.

`SSHConnection.abort` is a run's Ctrl-C: every command on the host stops and the
connection is cut. The connection keeper holds one connection for several runs
(a `status` beside an `up`, or the rerun that follows a killed run at once), so
a run that goes away may stop only its own commands: cutting the connection, or
stopping every busy shell, would fail the next run's commands as "connection lost".
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class Interrupt:
    """One command's stop button: pressed before the command got going, it stops it as it starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop: Callable[[], None] | None = None
        self._pressed = False

    @property
    def pressed(self) -> bool:
        return self._pressed

    def arm(self, stop: Callable[[], None]) -> None:
        """What stops the command now running; called at once if the button was pressed already."""
        with self._lock:
            self._stop = None if self._pressed else stop
            now = self._pressed
        if now:
            stop()

    def disarm(self) -> None:
        with self._lock:
            self._stop = None

    def press(self) -> None:
        with self._lock:
            self._pressed = True
            stop, self._stop = self._stop, None
        if stop is not None:
            stop()
