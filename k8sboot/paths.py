"""Where the shipped roles/ and templates/ live.

They sit at the top of the source tree (as the user asked), beside the
package; an installed copy keeps them under <prefix>/share/k8sboot.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _data_root() -> Path:
    if (_SOURCE_ROOT / "roles").is_dir():
        return _SOURCE_ROOT
    return Path(sys.prefix) / "share" / "k8sboot"


DATA_ROOT = _data_root()
ROLES_DIR = DATA_ROOT / "roles"
TEMPLATES_DIR = DATA_ROOT / "templates"
INVENTORY_DIR = DATA_ROOT / "inventory"
