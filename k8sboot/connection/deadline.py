"""A host's connection as one task sees it: every command bounded by the task's deadline.

A task's `timeout:` (Ansible's keyword) bounds the whole task, its probes,
uploads and retries together, not each command on its own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO

from k8sboot.connection.result import CommandResult
from k8sboot.connection.ssh import SSHConnection


class TaskConnection:
    def __init__(self, conn: SSHConnection, seconds: float):
        self.conn = conn
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    @property
    def name(self) -> str:
        return self.conn.name

    @property
    def checksums(self) -> dict[str, tuple[str, str]]:
        return self.conn.checksums

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _expired(self, cmd: str) -> CommandResult:
        return CommandResult(cmd, 124, "", f"(k8sboot) the task's timeout of {self.seconds:g}s passed",
                             timed_out=True)

    def run(self, cmd: str, *, become: bool | None = None, stdin: bytes | BinaryIO | None = None,
            timeout: float | None = None) -> CommandResult:
        left = self.remaining()
        if left <= 0:
            return self._expired(cmd)
        limit = left if timeout is None else min(timeout, left)
        return self.conn.run(cmd, become=become, stdin=stdin, timeout=limit)

    def put(self, dest: str, content: bytes | Path, *, mode: str | None = None,
            owner: str | None = None, become: bool | None = None, sha256: str | None = None) -> CommandResult:
        if self.remaining() <= 0:
            return self._expired(f"upload {dest}")
        return self.conn.put(dest, content, mode=mode, owner=owner, become=become, timeout=self.remaining(),
                             sha256=sha256)

    def read(self, path: str, *, become: bool | None = None) -> bytes | None:
        return self.conn.read(path, become=become, timeout=self.remaining())
