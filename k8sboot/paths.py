"""Where the shipped roles/, templates/, inventory/ and vagrant/ live, and where k8sboot caches.

In the source tree (a checkout, or an editable install of it) they sit at the
top, beside the package, as the user asked. An installed wheel carries them
inside the package, as k8sboot/_data/<dir>/ (pyproject.toml maps the top-level
directories there at build time; nothing is copied in the source tree).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_ROOT = _PACKAGE_DIR.parent
_WHEEL_DATA = _PACKAGE_DIR / "_data"


def _data_root() -> Path:
    # The package's own copy first: an installed k8sboot sits in site-packages, whose
    # parent directories say nothing about k8sboot (any of them may hold a `roles/`).
    if (_WHEEL_DATA / "roles").is_dir():
        return _WHEEL_DATA
    if (_SOURCE_ROOT / "roles").is_dir() and (_SOURCE_ROOT / "templates").is_dir():
        return _SOURCE_ROOT
    return _WHEEL_DATA  # neither: the errors name where an install keeps them


DATA_ROOT = _data_root()
ROLES_DIR = DATA_ROOT / "roles"
TEMPLATES_DIR = DATA_ROOT / "templates"
INVENTORY_DIR = DATA_ROOT / "inventory"
VAGRANT_DIR = DATA_ROOT / "vagrant"


def user_cache_dir() -> Path:
    """~/.cache/k8sboot (under $XDG_CACHE_HOME when set): what is slow to make and safe to lose."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k8sboot"
