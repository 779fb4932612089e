"""Booleans as Ansible spells them, for every layer that reads one from a user.

`become: "no"` must mean false, and `become: "maybe"` must be an error, not
true: Python's bool() of a non-empty string is true whatever it says.
"""

from __future__ import annotations

from typing import Any

TRUE = frozenset({"yes", "on", "1", "true", "y", "t"})
FALSE = frozenset({"no", "off", "0", "false", "n", "f"})


def parse_bool(value: Any) -> bool | None:
    """True or False for Ansible's spellings (any case), None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    return None
