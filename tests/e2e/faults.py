"""Fault injection for the end-to-end tests: a k8sboot run to interrupt, and hosts to watch.

    run = Run(["up", "-i", inv], home=home)
    try:
        why = run.interrupt_when(lambda: "seen" if run.seen("▶ pki") else None, signal.SIGINT)
        rc = run.wait(30)
    finally:
        run.reap()

The run's output (stdout and stderr merged, as a terminal shows them) is read
in a thread; the trigger is polled every 0.2 s in the caller's thread, where it
may look at the hosts through a Probe (one long-lived paramiko connection per
host, independent of k8sboot's own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from tests.e2e.helpers import REPO
from tests.lab.containers import LabHost

POLL = 0.2


class Run:
    """`python -m k8sboot ARGS` in a subprocess, as cluster.py runs it, with its output read live."""

    def __init__(self, args: list[str], home: Path):
        env = {**os.environ, "K8SBOOT_HOME": str(home), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        self.args = args
        self.started = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "-m", "k8sboot", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     cwd=REPO, text=True, errors="replace", bufsize=1)
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.signalled: tuple[int, float] | None = None  # (signal, monotonic time sent)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self._lines.append(line)

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self._lines)

    def seen(self, text: str) -> bool:
        with self._lock:
            return any(text in line for line in self._lines)

    def running(self) -> bool:
        return self.proc.poll() is None

    def send(self, sig: int) -> None:
        if self.running():
            os.kill(self.proc.pid, sig)
            self.signalled = (sig, time.monotonic())

    def watch(self, trigger: Callable[[], str | None], timeout: float = 900) -> str | None:
        """Poll `trigger` until it names a reason (returned); None if the run ended first."""
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            if not self.running():
                return None
            reason = trigger()
            if reason:
                return reason if self.running() else None
            time.sleep(POLL)
        raise AssertionError(f"k8sboot {' '.join(self.args)}: no trigger within {timeout:.0f} s\n"
                             + self.output[-4000:])

    def interrupt_when(self, trigger: Callable[[], str | None], sig: int,
                       timeout: float = 900) -> str | None:
        """`watch`, then send `sig` at once; None (and no signal) if the run ended first."""
        reason = self.watch(trigger, timeout)
        if reason:
            self.send(sig)
        return reason

    def wait(self, timeout: float = 900) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"k8sboot {' '.join(self.args)} still running after {timeout:.0f} s\n"
                                 + self.output[-4000:]) from None
        self._reader.join(10)
        return rc

    def reap(self) -> None:
        """Whatever happened: no k8sboot left running, no zombie."""
        if self.running():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(60)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Probe:
    """Commands on lab hosts over one long-lived paramiko connection each (reconnected when lost)."""

    def __init__(self, hosts: dict[str, LabHost]):
        self.hosts = hosts
        self._clients: dict[str, paramiko.SSHClient] = {}

    def _client(self, name: str) -> paramiko.SSHClient:
        client = self._clients.get(name)
        transport = client.get_transport() if client else None
        if client is None or transport is None or not transport.is_active():
            if client is not None:
                client.close()
            host = self.hosts[name]
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            client.connect(host.address, port=host.port, username=host.root_user,
                           key_filename=str(host.key_path), allow_agent=False, look_for_keys=False,
                           timeout=10, banner_timeout=10, auth_timeout=10)
            self._clients[name] = client
        return client

    def run(self, name: str, command: str, timeout: float = 20) -> tuple[int, str]:
        """(exit status, stdout+stderr); (-1, why) when the host could not be asked."""
        try:
            _, stdout, stderr = self._client(name).exec_command(command, timeout=timeout)
            out = stdout.read().decode(errors="replace") + stderr.read().decode(errors="replace")
            return stdout.channel.recv_exit_status(), out
        except (OSError, EOFError, paramiko.SSHException) as e:
            self.forget(name)
            return -1, f"probe failed: {e!r}"

    def put(self, name: str, local: str, remote: str, mode: int) -> None:
        sftp = self._client(name).open_sftp()
        try:
            sftp.put(local, remote)
            sftp.chmod(remote, mode)
        finally:
            sftp.close()

    def forget(self, name: str) -> None:
        client = self._clients.pop(name, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        for name in list(self._clients):
            self.forget(name)
