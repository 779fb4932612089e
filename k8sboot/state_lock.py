"""One run at a time per cluster: a lock in the state directory.

Two runs on one cluster (two terminals, `make up` beside a test) would both roll
the same nodes and write the same state: the second is refused at once, naming
the first. flock(2) goes with the process, so a killed run leaves no stale lock.
Read-only commands (status, verify, kubeconfig) take no lock.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from k8sboot.errors import RunError
from k8sboot.state import ClusterState

LOCK_NAME = "run.lock"
_held: dict[str, int] = {}  # lock path -> depth: a command running phase lists one after another


@contextmanager
def cluster_lock(state: ClusterState, cluster: str) -> Iterator[None]:
    path = str(state.ensure().root / LOCK_NAME)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise RunError(f"cluster {cluster} is busy: {holder} is working on it "
                           f"(one run at a time per cluster; wait for it to end, or stop it)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode(), 0)
        _held[path] = 1
        try:
            yield
        finally:
            del _held[path]
    finally:
        os.close(fd)  # the lock goes with it


def _holder() -> str:
    command = " ".join(["k8sboot", *sys.argv[1:2]])
    return f"pid {os.getpid()} ({command}, since {time.strftime('%H:%M:%S')})\n"
