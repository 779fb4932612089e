"""A long-lived remote shell on one SSH channel: many commands, one process.

Opening an exec channel costs sshd a fork, a PAM session and a login shell
per command (tens of ms each); a no-op rerun is hundreds of such checks. So
commands without stdin go through one `sh` per connection (one `sudo sh` for
become), each followed by a marker carrying its exit code on stdout and a
marker on stderr, so both streams stay separate.

The command's text never becomes part of the script the shell reads: it is
passed as one single-quoted word to `eval` inside a subshell. An unclosed
quote or heredoc is then a syntax error of that one command, not a shell
waiting for more input for ever.

Every command has a deadline. When it passes, the command's process tree is
killed from a second channel (the shell told us its PID when it started), and
the shell, which survives, reports the command's exit code as usual.
"""

from __future__ import annotations

import re
import secrets
import select
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

import paramiko

from k8sboot.connection.interrupt import Interrupt

CHUNK = 1 << 20
# after the deadline: how long the killed command has to end before the shell is given up
KILL_GRACE = 5.0

_PID_LINE = re.compile(rb"__k8sboot_pid=(\d+)\n")

# Stops every process below a PID without procps: walks /proc (after the `)` that
# ends the command name, field 2 is the parent's PID). All of them are frozen (STOP)
# before any is told to end, so no shell in the tree runs its next command in between
# ("sleep 300; touch x" must not touch x); TERM, then KILL what is left two seconds
# later ($2 = "now": TERM only, at once). $1 = the long-lived shell's PID.
KILL_TREE = r"""
tree() {
  local parent=$1 s l r p
  for s in /proc/[0-9]*/stat; do
    read -r l < "$s" 2>/dev/null || continue
    r=${l##*) }
    set -- $r
    [ "$2" = "$parent" ] || continue
    p=${s#/proc/}; p=${p%/stat}
    echo "$p"; tree "$p"
  done
}
pids=$(tree "$1")
[ -n "$pids" ] || exit 0
kill -STOP $pids 2>/dev/null; kill -TERM $pids 2>/dev/null; kill -CONT $pids 2>/dev/null
[ "$2" = now ] && exit 0
sleep 2; kill -KILL $pids 2>/dev/null; true
"""


# the longest a wait for output sleeps before it looks again (the deadline, a channel closed here)
WAIT_SLICE_MS = 250


class ShellDied(Exception):
    """The remote shell ended (sudo refused, connection lost): its output says why."""

    def __init__(self, stdout: bytes, stderr: bytes, rc: int):
        super().__init__(stderr.decode(errors="replace"))
        self.stdout, self.stderr, self.rc = stdout, stderr, rc


class ShellLost(Exception):
    """The channel closed under a command (connection lost, or the run was interrupted)."""


@dataclass(frozen=True)
class ShellOutput:
    rc: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False


def command_script(cmd: str, token: str) -> str:
    """The text sent to the shell for one command: `cmd` only ever as one quoted word."""
    return (
        f"( eval {shlex.quote(cmd)} ) </dev/null; "
        f"printf '\\n__k8sboot_{token}_rc=%d\\n' $?; printf '\\n__k8sboot_{token}_end\\n' >&2\n"
    )


class RemoteShell:
    def __init__(self, channel: paramiko.Channel, command: str,
                 kill_tree: Callable[[int, bool], None] | None = None, preamble: bytes = b""):
        self.chan = channel
        self.kill_tree = kill_tree  # kills the processes under a PID (at once?), from another channel
        self.pid: int | None = None
        self.busy = False  # a command is running
        self._stop_asked = False  # stop_command came for the running command
        self._stop_sent = False
        self._out = bytearray()
        self._err = bytearray()
        self.chan.exec_command(command)
        # readable while either stream holds data, and for good once the channel closes: a command
        # is waited for in poll(2) without the GIL, not by waking up to look (at 30 hosts, 60
        # threads waking every few ms to look starved the ones with work to do)
        self._ready = select.poll()
        self._ready.register(self.chan.fileno(), select.POLLIN)
        if preamble:  # what the command reads before the scripts (sudo -S's password)
            self.chan.sendall(preamble)
        # the shell's PID comes first on stdout: what a deadline needs to stop a command
        self.chan.sendall(b"printf '__k8sboot_pid=%d\\n' $$\n")

    @property
    def alive(self) -> bool:
        return not self.chan.closed and not self.chan.exit_status_ready()

    def close(self) -> None:
        self.chan.close()

    def _take_pid(self) -> None:
        m = _PID_LINE.match(self._out) if self.pid is None else None
        if m:
            self.pid = int(m.group(1))
            del self._out[: m.end()]

    def stop_command(self) -> None:
        """Stop the running command at once (the run is being interrupted)."""
        if not self.busy:
            return
        self._stop_asked = True
        self._send_stop()

    def _send_stop(self) -> None:
        # before the shell has said its PID, the command's own loop sends it as soon as it knows
        if self.pid is not None and self.kill_tree is not None and not self._stop_sent:
            self._stop_sent = True
            self.kill_tree(self.pid, True)

    def run(self, cmd: str, timeout: float, interrupt: Interrupt | None = None) -> ShellOutput:
        self._stop_asked = self._stop_sent = False
        self.busy = True
        if interrupt is not None:
            interrupt.arm(self.stop_command)
        try:
            if self._stop_asked:  # interrupted before it was sent: it never runs
                return ShellOutput(130, b"", b"(k8sboot) interrupted before it started\n")
            return self._run(cmd, timeout)
        finally:
            if interrupt is not None:
                interrupt.disarm()
            self.busy = False

    def _run(self, cmd: str, timeout: float) -> ShellOutput:
        token = secrets.token_hex(8)
        out_mark = f"\n__k8sboot_{token}_rc=".encode()
        err_mark = f"\n__k8sboot_{token}_end\n".encode()
        self.chan.sendall(command_script(cmd, token).encode())
        deadline = time.monotonic() + timeout
        give_up: float | None = None  # set once the command was killed
        out_done = err_done = None
        while out_done is None or err_done is None:
            got = False
            if self.chan.recv_ready():
                self._out += self.chan.recv(CHUNK)
                got = True
            if self.chan.recv_stderr_ready():
                self._err += self.chan.recv_stderr(CHUNK)
                got = True
            self._take_pid()
            if self._stop_asked:
                self._send_stop()
            if out_done is None and self.pid is not None:
                i = self._out.find(out_mark)
                if i >= 0 and self._out.find(b"\n", i + len(out_mark)) >= 0:
                    out_done = i
            if err_done is None:
                j = self._err.find(err_mark)
                if j >= 0:
                    err_done = j
            if out_done is not None and err_done is not None:
                break
            if self.chan.exit_status_ready() and not self.chan.recv_ready() and not self.chan.recv_stderr_ready():
                # paramiko says "exited" for a channel that merely closed: with the connection
                # gone the host is lost; with it alive the shell itself ended (sudo refused)
                transport = self.chan.get_transport()
                if transport is None or not transport.is_active():
                    raise ShellLost("the connection closed")
                raise ShellDied(bytes(self._out), bytes(self._err), self.chan.recv_exit_status())
            now = time.monotonic()
            if give_up is None and now > deadline:
                give_up = now + KILL_GRACE
                if self.pid is not None and self.kill_tree is not None:
                    self.kill_tree(self.pid, False)
            if give_up is not None and now > give_up:
                self.close()
                raise TimeoutError(f"command timed out after {timeout:g}s and could not be stopped")
            if not got:
                wake = give_up if give_up is not None else deadline
                events = self._ready.poll(max(1, min(WAIT_SLICE_MS, int((wake - now) * 1000) + 1)))
                if any(ev & select.POLLNVAL for _, ev in events):  # closed here (the run is being stopped)
                    raise ShellLost("the channel was closed")
        end = self._out.index(b"\n", out_done + len(out_mark))
        rc = int(self._out[out_done + len(out_mark):end])
        stdout = bytes(self._out[:out_done])
        stderr = bytes(self._err[:err_done])
        del self._out[: end + 1]
        del self._err[: err_done + len(err_mark)]
        return ShellOutput(rc, stdout, stderr, timed_out=give_up is not None)
