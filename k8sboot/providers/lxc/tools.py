"""Running LXC's own tools on one container directory (`-P <lxcpath> -n <name>`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from k8sboot.errors import InputError, RunError

TOOLS = ("lxc-start", "lxc-stop", "lxc-info", "lxc-destroy")


def require_tools() -> None:
    """One clear error before anything is made when LXC is missing."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise InputError(f"the lxc provider needs LXC ({', '.join(missing)} not found): "
                         "install it (Debian: apt-get install lxc)")


def lxc(tool: str, lxcpath: Path, name: str, *args: str, check: bool = True,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [tool, "-P", str(lxcpath), "-n", name, *args]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunError(f"{' '.join(cmd)}: no answer after {timeout:.0f} s") from None
    if check and done.returncode != 0:
        raise RunError(f"{' '.join(cmd)}: {(done.stderr or done.stdout).strip()}")
    return done


def lxc_state(lxcpath: Path, name: str) -> str:
    """RUNNING, STOPPED, ... or "absent" when there is no such container."""
    if not (lxcpath / name / "config").exists():
        return "absent"
    done = lxc("lxc-info", lxcpath, name, "-s", "-H", check=False, timeout=30)
    return done.stdout.strip() or "STOPPED"


def lxc_start(lxcpath: Path, name: str) -> None:
    err = lxcpath / name / "lxc-start.err"
    with open(err, "w") as fh:
        # -d: the monitor daemonises; its stdio must not hold our pipes open
        done = subprocess.run(["lxc-start", "-P", str(lxcpath), "-n", name, "-d"],
                              check=False, stdin=subprocess.DEVNULL, stdout=fh, stderr=fh,
                              timeout=120)
    if done.returncode != 0:
        raise RunError(f"lxc-start {name} failed: {err.read_text().strip()}\n"
                       f"{tail(lxcpath / name / 'lxc.log')}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
