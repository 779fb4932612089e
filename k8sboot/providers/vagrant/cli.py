"""Running the `vagrant` command for one cluster, and turning its failures into one error.

Every call runs in the cluster's working dir with the shipped Vagrantfile:

    VAGRANT_CWD=<state>/vagrant  VAGRANT_VAGRANTFILE=<repo>/vagrant/Vagrantfile
    VAGRANT_DOTFILE_PATH=<state>/vagrant/.vagrant  K8SBOOT_VAGRANT_SPEC=<state>/vagrant/spec.json

so two clusters never share Vagrant's machine records, and nothing is written
beside the shipped Vagrantfile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from k8sboot.errors import InputError, RunError
from k8sboot.providers.base import Log

INSTALL_HINT = ("install Vagrant and its libvirt plugin: apt-get install vagrant vagrant-libvirt "
                "(or: bash scripts/install-host-packages.sh)")
TAIL_LINES = 25
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def log_line(line: str) -> str | None:
    """A line of Vagrant's output as worth logging, or None (blank, or a progress meter)."""
    text = _ANSI.sub("", line).strip()
    # the box upload redraws "Progress: N%" hundreds of times
    if not text or text.startswith("Progress:"):
        return None
    return text


def find_vagrant() -> str:
    path = shutil.which("vagrant")
    if path is None:
        raise InputError(f"the vagrant command is not installed: {INSTALL_HINT}")
    return path


# a Ruby backtrace frame: "\tfrom /usr/share/.../warden.rb:48:in `call'"
_FRAME = re.compile(r"^\s*(from\s+)?\S+\.rb:\d+:in\s")
# the location in front of an uncaught exception's message
_WHERE = re.compile(r"^\S+\.rb:\d+:in `[^']*': ")


def error_tail(stderr: str, stdout: str, lines: int = TAIL_LINES) -> str:
    """Vagrant's own words: the end of stderr (where it puts errors), else of stdout.

    An uncaught Ruby exception prints its message once and then a long backtrace;
    the message is what the user needs, the frames are dropped.
    """
    text = stderr.strip() or stdout.strip()
    kept = [_WHERE.sub("", _ANSI.sub("", line)).rstrip() for line in text.splitlines()
            if line.strip() and not (_FRAME.match(line) and not _WHERE.match(line))]
    return "\n".join(kept[-lines:]) or "(no output)"


@dataclass
class Vagrant:
    """`vagrant` bound to one cluster's working dir, Vagrantfile and spec."""

    workdir: Path
    vagrantfile: Path
    spec: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def dotfile_dir(self) -> Path:
        return self.workdir / ".vagrant"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "VAGRANT_CWD": str(self.workdir),
            "VAGRANT_VAGRANTFILE": str(self.vagrantfile),
            "VAGRANT_DOTFILE_PATH": str(self.dotfile_dir),
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
            "VAGRANT_NO_COLOR": "1",
            "K8SBOOT_VAGRANT_SPEC": str(self.spec),
            **self.extra_env,
        })
        return env

    def run(self, args: Sequence[str], log: Log | None = None, what: str | None = None,
            timeout: float | None = None) -> str:
        """Run `vagrant ARGS`; stream its stdout lines to `log`; return stdout.

        A non-zero exit raises RunError carrying the tail of Vagrant's stderr.
        """
        cmd = [find_vagrant(), *args]
        self.workdir.mkdir(parents=True, exist_ok=True)
        out_lines: list[str] = []
        err_chunks: list[str] = []
        with subprocess.Popen(cmd, cwd=self.workdir, env=self.env(), text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            stderr = proc.stderr
            # drain stderr alongside: a full pipe would stall Vagrant
            drain = threading.Thread(target=lambda: err_chunks.append(stderr.read()),
                                     daemon=True)
            drain.start()
            for line in proc.stdout:
                out_lines.append(line)
                shown = log_line(line)
                if log is not None and shown is not None:
                    log(f"vagrant: {shown}")
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise RunError(f"vagrant {' '.join(args)} took more than {timeout:.0f} s") \
                    from None
            drain.join()
        stdout, stderr_text = "".join(out_lines), "".join(err_chunks)
        log_file = self.workdir / f"vagrant-{args[0]}.log"
        log_file.write_text(f"$ vagrant {' '.join(args)}\n{stdout}\n--- stderr\n{stderr_text}")
        if proc.returncode != 0:
            raise RunError(f"{what or 'vagrant ' + ' '.join(args)} failed (exit "
                           f"{proc.returncode}); Vagrant said:\n"
                           f"{error_tail(stderr_text, stdout)}\n(all of its output: {log_file})")
        return stdout
