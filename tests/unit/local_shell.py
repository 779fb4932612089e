"""A connection stand-in that runs scripts with this machine's sh: a host's shell, minus SSH."""

import subprocess
from dataclasses import dataclass, field


@dataclass
class Ran:
    stdout: str
    ok: bool = True


@dataclass
class LocalShell:
    """Runs the script with this machine's sh: what a host does with it, minus SSH."""

    name: str = "local"
    needs_sudo: bool = False
    checksums: dict[str, tuple[str, str]] = field(default_factory=dict)  # as SSHConnection's memo
    scripts: list[str] = field(default_factory=list)

    def run(self, script: str, become: bool = False, timeout: float | None = None) -> Ran:
        self.scripts.append(script)
        r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, check=False)
        return Ran(r.stdout, r.returncode == 0)
