"""Names providers give what they make: safe for libvirt, LXC and file names."""

from __future__ import annotations

import re


def safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)
