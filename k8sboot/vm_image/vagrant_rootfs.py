"""The `vagrant` user Vagrant logs in as, written straight into a rootfs directory.

No chroot and no useradd: the image is built as plain files (like the base
image's customisation), so this edits passwd/shadow/group and writes the home,
the authorized key and a sudoers drop-in. `mkfs.ext4 -d` keeps the numeric
owners, so the files get the new user's uid/gid here.
"""

from __future__ import annotations

import os
from pathlib import Path

USER = "vagrant"
FIRST_UID = 1000
SUDOERS = f"# k8sboot: Vagrant and k8sboot (become: true) need sudo without a password\n" \
          f"{USER} ALL=(ALL) NOPASSWD: ALL\n"


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _write_lines(path: Path, lines: list[str], mode: int) -> None:
    # replace, never edit in place: the file may be a hard link into a cached tree
    tmp = path.with_name(f".{path.name}.k8sboot")
    tmp.write_text("".join(f"{line}\n" for line in lines))
    tmp.chmod(mode)
    os.replace(tmp, path)


def _free_id(*tables: list[str]) -> int:
    used = {int(f[2]) for t in tables for f in (line.split(":") for line in t)
            if len(f) > 2 and f[2].isdigit()}
    candidate = FIRST_UID
    while candidate in used:
        candidate += 1
    return candidate


def add_vagrant_user(root: Path, public_key: str) -> tuple[int, int]:
    """Add (or refresh) the vagrant user with `public_key` authorized; return (uid, gid)."""
    etc = root / "etc"
    passwd, group = _lines(etc / "passwd"), _lines(etc / "group")
    existing = [line.split(":") for line in passwd if line.split(":")[0] == USER]
    if existing:
        uid, gid = int(existing[0][2]), int(existing[0][3])
    else:
        uid = gid = _free_id(passwd, group)
        passwd.append(f"{USER}:x:{uid}:{gid}:Vagrant:/home/{USER}:/bin/bash")
        _write_lines(etc / "passwd", passwd, 0o644)
    if not any(line.split(":")[0] == USER for line in group):
        group.append(f"{USER}:x:{gid}:")
        _write_lines(etc / "group", group, 0o644)
    for name, entry in (("shadow", f"{USER}:*:19000:0:99999:7:::"), ("gshadow", f"{USER}:*::")):
        table = _lines(etc / name)
        if (etc / name).exists() and not any(line.split(":")[0] == USER for line in table):
            # `*`: no password login, but the account is not locked, so keys work
            _write_lines(etc / name, table + [entry], 0o640)

    home = root / "home" / USER
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(public_key.strip() + "\n")
    for path, mode in ((home, 0o755), (ssh_dir, 0o700), (keys, 0o600)):
        path.chmod(mode)
        os.chown(path, uid, gid)

    sudoers = etc / "sudoers.d" / USER
    sudoers.parent.mkdir(parents=True, exist_ok=True)
    sudoers.write_text(SUDOERS)
    sudoers.chmod(0o440)
    return uid, gid
