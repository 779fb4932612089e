"""What is at some paths and how some units stand on a host: one command, a few processes.

A no-op rerun is mostly looking: is this file still the one we want, is that
unit active. Asked per task, every look forked two or three processes on the
host (stat, stat, systemctl); 30 node containers sharing 2 CPUs spent seconds
on that alone. Here one `stat` covers every path, one `systemctl show` every
unit, and shell builtins tell a missing path from one that could not be read.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass, field
from typing import Protocol

from k8sboot.connection.result import CommandResult, key_values
from k8sboot.connection.ssh import STAT_SIGNATURE
from k8sboot.errors import RunError

# what the systemd module decides with; NeedDaemonReload: the unit's file changed since systemd loaded it
UNIT_PROPERTIES = ("ActiveState", "UnitFileState", "LoadState", "NeedDaemonReload")


class Runs(Protocol):
    @property
    def name(self) -> str: ...

    def run(self, cmd: str, *, become: bool | None = None, timeout: float | None = None) -> CommandResult: ...


@dataclass(frozen=True)
class PathFacts:
    kind: str  # "file" (regular), "directory", "link", "other" (device, fifo, ...), "absent"
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    signature: str | None = None  # STAT_SIGNATURE: size, inode, mtime, ctime


@dataclass
class HostLook:
    paths: dict[str, PathFacts] = field(default_factory=dict)
    units: dict[str, dict[str, str]] = field(default_factory=dict)  # UNIT_PROPERTIES of each


_KINDS = {"regular file": "file", "regular empty file": "file", "directory": "directory", "symbolic link": "link"}


def lookable(path: str) -> bool:
    # stat prints one line per path: a name with a line break would split it
    return "\n" not in path and "\r" not in path and path != ""


def enabled_command(unit: str) -> str:
    # the unit files on disk, as Ansible's systemd module asks: systemd's own UnitFileState is
    # what it read at its last reload, and `enable --no-reload` leaves that stale on purpose
    return f"systemctl is-enabled -- {shlex.quote(unit)} 2>/dev/null"


# list-unit-files takes patterns, prints names between blanks and lists no template instance
# (getty@tty1 has no file of its own): a name holding one of these is asked with is-enabled alone
NOT_LISTABLE = frozenset("*?[]\\ \t@")
UNIT_TYPES = ("service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer",
              "slice", "scope")


def listable(unit: str) -> bool:
    return not set(unit) & NOT_LISTABLE


def unit_file_name(unit: str) -> str:
    """The unit file systemctl means by `unit`: without a type, a service."""
    return unit if unit.rpartition(".")[2] in UNIT_TYPES and "." in unit else f"{unit}.service"


def look_script(paths: list[str], units: list[str], nonce: str) -> str:
    parts = []
    if paths:
        quoted = " ".join(shlex.quote(p) for p in paths)
        parts.append(f"stat -c '%F|%a %U %G|{STAT_SIGNATURE}|%n' -- {quoted} 2>/dev/null")
        # `[` is a builtin: no process per path. A path stat could not read and that exists
        # (permission) is neither listed nor absent: its module looks for itself
        parts += [f"[ -e {shlex.quote(p)} ] || [ -L {shlex.quote(p)} ] || echo '{nonce} absent {i}'"
                  for i, p in enumerate(paths)]
    if units:
        quoted = " ".join(shlex.quote(u) for u in units)
        parts.append(f"echo '{nonce} units'; systemctl show -p Id,{','.join(UNIT_PROPERTIES)} -- {quoted}; "
                     f"echo \"{nonce} units $?\"")
        in_listing = [u for u in units if listable(u)]
        if in_listing:
            # one process for all (is-enabled stops at the first unit without a file): the disk's
            # state, as is-enabled reads it; a unit not listed has no unit file
            names = " ".join(shlex.quote(unit_file_name(u)) for u in in_listing)
            parts.append(f"echo '{nonce} files'; systemctl list-unit-files --no-legend --no-pager -- {names} "
                         f"2>/dev/null; echo '{nonce} files end'")
        parts += [f"echo \"{nonce} enabled {i} $({enabled_command(u)})\"" for i, u in enumerate(units)
                  if u not in in_listing]
    parts.append("true")
    return "\n".join(parts)


def parse_look(stdout: str, paths: list[str], units: list[str], nonce: str) -> HostLook:
    look = HostLook()
    wanted = set(paths)
    text, _, unit_text = stdout.partition(f"{nonce} units\n")
    for line in text.split("\n"):  # not splitlines(): a name may hold \x85 or \x0c
        if line.startswith(f"{nonce} absent "):
            index = line.rsplit(" ", 1)[1]
            if index.isdigit() and int(index) < len(paths):
                look.paths[paths[int(index)]] = PathFacts("absent")
            continue
        fields = line.split("|", 3)
        if len(fields) != 4 or fields[3] not in wanted:
            continue
        kind_text, owner_text, signature, name = fields
        mog = owner_text.split()
        if len(mog) != 3:
            continue
        look.paths[name] = PathFacts(_KINDS.get(kind_text, "other"), mog[0], mog[1], mog[2], signature)
    body, _, rest = unit_text.rpartition(f"{nonce} units ")
    rc_line, _, enabled_text = rest.partition("\n")
    enabled: dict[int, str] = {}
    listing, files_done, tail = enabled_text.partition(f"{nonce} files end\n")
    if files_done:
        _, _, listing = listing.partition(f"{nonce} files\n")
        states = dict(line.split()[:2] for line in listing.split("\n") if len(line.split()) >= 2)
        for i, unit in enumerate(units):
            if listable(unit):
                enabled[i] = states.get(unit_file_name(unit), "")
    else:
        tail = enabled_text
    for line in tail.split("\n"):
        if line.startswith(f"{nonce} enabled "):
            index, _, state = line[len(nonce) + 9:].partition(" ")
            if index.isdigit():
                enabled[int(index)] = state.strip()
    if units and rc_line.strip() == "0":
        blocks = [b for b in body.strip("\n").split("\n\n")]
        if len(blocks) == len(units):
            for i, (unit, block) in enumerate(zip(units, blocks)):
                props = key_values(block)
                if i not in enabled:
                    continue
                props["UnitFileState"] = enabled[i]
                # an alias answers under its real name: leave it to the module
                if props.get("Id") in (unit, f"{unit}.service") and all(k in props for k in UNIT_PROPERTIES):
                    look.units[unit] = {k: props[k] for k in UNIT_PROPERTIES}
    return look


def look_at(conn: Runs, paths: list[str], units: list[str], *, become: bool,
            timeout: float = 60) -> HostLook:
    """The facts of `paths` and `units` that could be read; a path or unit left out is unknown."""
    paths = list(dict.fromkeys(p for p in paths if lookable(p)))
    units = list(dict.fromkeys(u for u in units if lookable(u)))
    if not paths and not units:
        return HostLook()
    nonce = "k8sboot-" + secrets.token_hex(8)
    r = conn.run(look_script(paths, units, nonce), become=become, timeout=timeout)
    if r.timed_out:
        raise RunError(f"{conn.name}: looking at the host's files and units took longer than {timeout:g}s")
    return parse_look(r.stdout, paths, units, nonce)
