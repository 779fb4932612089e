"""Output written to a log (not a terminal) is never wrapped: a table row stays one line."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from k8sboot import ui
from k8sboot.phases.summary import format_table
rows = [["NAME", "STATUS", "ROLES", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        ["cp1", "Ready", "control-plane", "Debian GNU/Linux 12 (bookworm)" * 3, "6.1.0-56-amd64", "containerd://1.6.20"]]
ui.info(format_table(rows))
ui.warn("w" * 250)
"""


def test_tables_and_messages_in_a_log_keep_one_line_each():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("cp1 ") and len(lines[1]) > 150
    assert len(done.stderr.splitlines()) == 1


PROGRESS = """
import sys
from k8sboot import ui
from k8sboot.engine.results import PlayResult
ui.configure(sys.argv[1])
r = ui.Reporter(live=False)
r.play_started("etcd", ["cp1"])
r.play_done("etcd", PlayResult())
ui.error("boom")
"""

ANSI_COLOUR = "\x1b[3"  # a foreground colour code (bold alone is ESC[1m)


def _progress(color: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    return subprocess.run([sys.executable, "-c", PROGRESS, color], capture_output=True, text=True,
                          env={**base, **env}, timeout=60)


def test_plain_progress_lines_start_with_the_time():
    done = _progress("auto")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        stamp = line.split(" ", 1)[0]
        assert len(stamp) == 8 and stamp[2] == stamp[5] == ":" and stamp.replace(":", "").isdigit(), line
    assert lines[0].endswith("== etcd (cp1)") and "etcd: ok, 0 changed" in lines[1]
    assert ANSI_COLOUR not in done.stdout + done.stderr  # a log gets no escape codes


def test_color_always_forces_colour_into_a_log_and_never_or_no_color_keeps_it_out():
    assert ANSI_COLOUR in _progress("always").stderr  # the red "error:" label
    assert ANSI_COLOUR in _progress("always", NO_COLOR="1").stderr  # asked for explicitly: it wins
    assert ANSI_COLOUR not in _progress("never").stderr
    assert ANSI_COLOUR not in _progress("auto", NO_COLOR="1").stderr


def test_color_is_a_choice_on_the_command_line():
    done = subprocess.run([sys.executable, "-m", "k8sboot", "--color", "sometimes", "version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--color" in done.stderr
