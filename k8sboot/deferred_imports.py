"""Modules a dependency imports at its own import but rarely uses: loaded at their first use.

paramiko imports invoke (and through it asyncio and unittest.mock) only for the
`Match exec` line of an ssh_config: ~50 ms of every command's start, which a
no-op `up` on three hosts (about a second in all) feels.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

DEFERRED = ("invoke",)


class _OnFirstUse(types.ModuleType):
    """Stands in sys.modules for a module until an attribute of it is read; then imports the real one."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            # the import system reads __spec__ and the like: answering them must not load the module
            raise AttributeError(attr)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def defer() -> None:
    for name in DEFERRED:
        sys.modules.setdefault(name, _OnFirstUse(name))
