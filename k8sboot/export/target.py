"""The output directory: new or empty, or --force, which replaces only what export writes.

The entries below are export's own: with --force each one is removed whole
before it is written again (a host_vars/ file of a host no longer in the
inventory, or a template the user's override no longer supplies, must not
linger). Anything else in the directory (the user's group_vars/, notes, a
retry file) is left alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from k8sboot.errors import InputError

SITE = "site.yml"
ANSIBLE_CFG = "ansible.cfg"
INVENTORY = "inventory.yml"
HOST_VARS = "host_vars"
FILES = "files"
TEMPLATES = "templates"
ROLES = "roles"
OWNED = (SITE, ANSIBLE_CFG, INVENTORY, HOST_VARS, FILES, TEMPLATES, ROLES)


def check(dest: Path, force: bool) -> Path:
    """The directory, absolute, once it is known export may write it (before any work is done)."""
    dest = dest.expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise InputError("is not a directory: export writes a directory", file=str(dest))
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise InputError("the directory is not empty: choose a new one, or pass --force to replace "
                         "what an earlier export wrote there (other files are kept)", file=str(dest))
    return dest


def clear(dest: Path) -> None:
    """Export's own entries removed (a checked directory), the directory made if it is new."""
    for name in OWNED:
        path = dest / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    dest.mkdir(parents=True, exist_ok=True)
