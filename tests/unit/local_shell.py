"""A connection stand-in that runs scripts with this machine's sh: a host's shell, minus SSH."""

import subprocess
from dataclasses import dataclass


@dataclass
class Ran:
    stdout: str
    ok: bool = True


class LocalShell:
    """Runs the script with this machine's sh: what a host does with it, minus SSH."""

    needs_sudo = False

    def run(self, script: str, become: bool = False) -> Ran:
        r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, check=False)
        return Ran(r.stdout, r.returncode == 0)
