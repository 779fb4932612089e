"""What every runner of one command shares: which host is at which task, and whether to stop.

Ctrl-C reaches only the main thread while the hosts' work runs in worker
threads. `cancel` tells the workers to start nothing new and records what each
host was in the middle of, so the user learns where the run was cut.
"""

from __future__ import annotations

import threading
import time


class RunControl:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at: dict[tuple[str, str], float] = {}  # (host, "play: role : task") -> started
        self._event = threading.Event()
        self.interrupted: list[str] = []  # what was in flight when the run was cancelled

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait between retries; True (at once) when the run is cancelled meanwhile."""
        return self._event.wait(seconds)

    def started(self, host: str, what: str) -> None:
        with self._lock:
            self._at[(host, what)] = time.monotonic()

    def finished(self, host: str, what: str) -> None:
        with self._lock:
            self._at.pop((host, what), None)

    def in_flight(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [f"{host} was at [{what}] for {now - t:.1f}s" for (host, what), t in sorted(self._at.items())]

    def cancel(self) -> list[str]:
        """Stop starting tasks; return (and keep) what was running at this moment."""
        with self._lock:
            first = not self._event.is_set()
            self._event.set()
        if first:
            self.interrupted = self.in_flight()
        return self.interrupted
