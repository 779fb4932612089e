"""File writes with the right mode from the first byte, and atomic replacement.

Private files are created 0600 (never chmod-ed down after the fact, which
would leave a window where the key is readable) and swapped in with
os.replace so an interrupted run never leaves a truncated key or cert.
(No fsync, like ClusterState.write_json: it would triple the time of a
full PKI run, and the rename already protects against interrupted runs.)
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644


def ensure_dir(path: Path) -> None:
    """Create `path` (and parents) and force 0700: mkdir's mode is subject to umask."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    fix_mode(path, DIR_MODE)


def fix_mode(path: Path, mode: int) -> None:
    """chmod only when needed: it changes ctime but never content or mtime."""
    if stat.S_IMODE(path.stat().st_mode) != mode:
        path.chmod(mode)


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover from an interrupted run
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)  # os.open's mode is also masked by umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
