"""Copy an image archive to a node and import it into containerd's k8s.io namespace."""

from __future__ import annotations

import shlex
from pathlib import Path

from k8sboot.connection.ssh import SSHConnection

REMOTE_DIR = "/var/lib/k8sboot/images"  # where the node role keeps its archives too


def import_image(conn: SSHConnection, archive: Path, tag: str) -> str | None:
    """None when the image is in containerd afterwards, else one line saying why not."""
    dest = f"{REMOTE_DIR}/{archive.name}"
    try:
        # say plainly that containerd is down rather than wait for ctr's dial timeout
        state = conn.run("systemctl is-active containerd", become=True).stdout.strip()
        if state and state != "active":
            return f"containerd is {state} on {conn.name}"
        put = conn.put(dest, archive, mode="0644", become=True)
        if not put.ok:
            return f"cannot copy the image to {dest}: {put.stderr_tail(2)}"
        r = conn.run(f"ctr -n k8s.io images import {shlex.quote(dest)}", become=True, timeout=120)
    except Exception as e:  # noqa: BLE001 - unreachable, timed out: all mean "not imported here"
        return f"{type(e).__name__}: {e}"
    if not r.ok:
        return f"ctr images import failed: {r.stderr_tail(1) or f'exit {r.rc}'}"
    listed = conn.run("ctr -n k8s.io images ls -q", become=True)
    if tag not in listed.stdout.split():
        return f"ctr imported {archive.name} but lists no {tag}"
    return None
