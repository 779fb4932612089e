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
