"""A long-lived remote shell on one SSH channel: many commands, one process.

Opening an exec channel costs sshd a fork, a PAM session and a login shell
per command (tens of ms each); a no-op rerun is hundreds of such checks. So
commands without stdin go through one `sh` per connection (one `sudo sh` for
become), each wrapped in a subshell and followed by a marker carrying its
exit code on stdout and a marker on stderr, so both streams stay separate.
"""

from __future__ import annotations

import secrets
import time

import paramiko

CHUNK = 1 << 20


class ShellDied(Exception):
    """The remote shell ended (sudo refused, connection lost): its output says why."""

    def __init__(self, stdout: bytes, stderr: bytes, rc: int):
        super().__init__(stderr.decode(errors="replace"))
        self.stdout, self.stderr, self.rc = stdout, stderr, rc


class RemoteShell:
    def __init__(self, channel: paramiko.Channel, command: str):
        self.chan = channel
        self.chan.exec_command(command)
        self._out = bytearray()
        self._err = bytearray()

    @property
    def alive(self) -> bool:
        return not self.chan.closed and not self.chan.exit_status_ready()

    def close(self) -> None:
        self.chan.close()

    def run(self, cmd: str, timeout: float | None = None) -> tuple[int, bytes, bytes]:
        token = secrets.token_hex(8)
        out_mark = f"\n__k8sboot_{token}_rc="
        err_mark = f"\n__k8sboot_{token}_end\n"
        # the subshell keeps `exit`, `cd` and `set -e` of one command from reaching the shell
        script = (
            f"(\n{cmd}\n) </dev/null; "
            f"printf '\\n__k8sboot_{token}_rc=%d\\n' $?; printf '\\n__k8sboot_{token}_end\\n' >&2\n"
        )
        self.chan.sendall(script.encode())
        deadline = time.monotonic() + timeout if timeout else None
        out_done = err_done = None
        idle = 0.0005
        while out_done is None or err_done is None:
            got = False
            if self.chan.recv_ready():
                self._out += self.chan.recv(CHUNK)
                got = True
            if self.chan.recv_stderr_ready():
                self._err += self.chan.recv_stderr(CHUNK)
                got = True
            if out_done is None:
                i = self._out.find(out_mark.encode())
                if i >= 0 and self._out.find(b"\n", i + len(out_mark)) >= 0:
                    out_done = i
            if err_done is None:
                j = self._err.find(err_mark.encode())
                if j >= 0:
                    err_done = j
            if out_done is not None and err_done is not None:
                break
            if self.chan.exit_status_ready() and not self.chan.recv_ready() and not self.chan.recv_stderr_ready():
                raise ShellDied(bytes(self._out), bytes(self._err), self.chan.recv_exit_status())
            if deadline and time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"command timed out after {timeout}s: {cmd}")
            if got:
                idle = 0.0005
            else:
                # poll both streams: back off so long commands cost no CPU here
                time.sleep(idle)
                idle = min(idle * 2, 0.02)
        end = self._out.index(b"\n", out_done + len(out_mark))
        rc = int(self._out[out_done + len(out_mark):end])
        stdout = bytes(self._out[:out_done])
        stderr = bytes(self._err[:err_done])
        del self._out[: end + 1]
        del self._err[: err_done + len(err_mark)]
        return rc, stdout, stderr
