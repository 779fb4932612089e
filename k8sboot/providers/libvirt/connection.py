"""One way to open libvirt, shared by the libvirt and Vagrant providers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from k8sboot.errors import RunError


def _quiet(_ctx: object, _err: object) -> None:
    """libvirt prints every error (a lookup that misses, too) unless given a handler."""


@contextmanager
def connect(uri: str) -> Iterator[Any]:
    import libvirt  # imported here: libvirt-python is needed only by commands that use it

    libvirt.registerErrorHandler(_quiet, None)
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise RunError(f"cannot reach libvirt at {uri}: {exc.get_error_message()} "
                       "(is libvirtd running? in the lab: scripts/lab-netns.sh up)") from None
    try:
        yield conn
    finally:
        conn.close()
