"""A fake host for unit tests of the engine: records every command, keeps files and units in memory.

It understands the commands the shipped modules send (the stat probes of
copy/template/file, mkdir/chmod/chown/rm/touch/ln, systemctl show/start/...,
the `[ -e ]` guards of command/shell) and treats every other command as a
success, or as whatever `answers` says for a pattern. Real shells, real
systemd and real SSH are the end-to-end tests' business.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8sboot.connection.result import CommandResult
from k8sboot.engine.runner import Play, Runner, RunOptions, load_roles
from k8sboot.engine.templating import Templar
from k8sboot.inventory.model import Host, Inventory
from k8sboot.paths import TEMPLATES_DIR


_LOOK = re.compile(r"^stat -c '%F\||^echo '(k8sboot-\w+) units'; systemctl show -p Id,", re.M)
_KIND_TEXT = {"file": "regular file", "directory": "directory", "link": "symbolic link"}


@dataclass
class FakeFile:
    data: bytes = b""
    mode: str = "644"
    owner: str = "root"
    group: str = "root"
    kind: str = "file"  # file | directory | link
    target: str = ""


@dataclass
class FakeUnit:
    active: bool = False
    enabled: bool = False
    starts: int = 0


@dataclass
class FakeHost:
    name: str
    files: dict[str, FakeFile] = field(default_factory=dict)
    units: dict[str, FakeUnit] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    answers: dict[str, CommandResult] = field(default_factory=dict)  # regex -> result
    checksums: dict[str, tuple[str, str]] = field(default_factory=dict)

    # -- what the engine calls ----------------------------------------------------
    def connect(self) -> FakeHost:
        return self

    def run(self, cmd: str, *, become: bool | None = None, stdin: Any = None,
            timeout: float | None = None) -> CommandResult:
        self.commands.append(cmd)
        for pattern, result in self.answers.items():
            if re.search(pattern, cmd, re.S):
                return result
        if _LOOK.search(cmd):  # connection/host_look.py: every path and unit in one command
            return self._ok(cmd, self._look(cmd))
        return self._interpret(cmd)

    def _look(self, script: str) -> str:
        out = []
        for line in script.split("\n"):
            if line.startswith("stat -c "):
                argv = shlex.split(line.removesuffix(" 2>/dev/null"))
                for path in argv[argv.index("--") + 1:]:
                    if (f := self.files.get(path)) is not None:
                        out.append(f"{_KIND_TEXT[f.kind]}|{f.mode} {f.owner} {f.group}|{self._signature(path)}|{path}")
            elif m := re.match(r"\[ -e (.+?) \] \|\| \[ -L .+? \] \|\| echo '(.+)'$", line):
                if shlex.split(m.group(1))[0] not in self.files:
                    out.append(m.group(2))
            elif m := re.match(r"echo '(k8sboot-\w+) units'; (systemctl show .*?); echo", line):
                argv = shlex.split(m.group(2))
                blocks, states = [], []
                for i, unit in enumerate(argv[argv.index("--") + 1:]):
                    shown = self._interpret(f"systemctl show -p ActiveState {unit}").stdout
                    blocks.append(f"Id={unit}.service\n{shown}")
                    state = re.search(r"^UnitFileState=(.*)$", shown, re.M)
                    states.append(f"{m.group(1)} enabled {i} {state.group(1) if state else ''}")
                out.append(f"{m.group(1)} units\n" + "\n".join(blocks) + f"\n{m.group(1)} units 0")
                out += states
        return "".join(f"{line}\n" for line in out)

    def put(self, dest: str, content: Any, *, mode: str | None = None, owner: str | None = None,
            **_: Any) -> CommandResult:
        self.commands.append(f"put {dest}")
        data = content.read_bytes() if isinstance(content, Path) else bytes(content)
        user, _, grp = (owner or "root:root").partition(":")
        self.files[dest] = FakeFile(data, mode or "644", user or "root", grp or "root")
        return CommandResult(f"put {dest}", 0, f"{self._signature(dest)}\n", "")

    def read(self, path: str, **_: Any) -> bytes | None:
        f = self.files.get(path)
        return f.data if f else None

    # -- the shell, as far as the modules need it ----------------------------------------
    def _signature(self, path: str) -> str:
        f = self.files[path]
        return f"{len(f.data)} {id(f)} {hashlib.sha256(f.data).hexdigest()[:8]}"

    def _ok(self, cmd: str, out: str = "") -> CommandResult:
        return CommandResult(cmd, 0, out, "")

    def _interpret(self, cmd: str) -> CommandResult:
        if m := re.match(r"if \[ -f (\S+) \]; then stat", cmd):  # remote_file's probe
            path = shlex.split(m.group(1))[0]
            f = self.files.get(path)
            if f is None or f.kind != "file":
                return self._ok(cmd, "MISSING\n")
            digest = hashlib.sha256(f.data).hexdigest()
            return self._ok(cmd, f"{f.mode} {f.owner} {f.group}\n{self._signature(path)}\n{digest}  {path}\n")
        if m := re.match(r"if \[ -L (\S+) \]", cmd):  # the file module's probe
            path = shlex.split(m.group(1))[0]
            f = self.files.get(path)
            if f is None:
                return self._ok(cmd, "absent\n")
            extra = f" {f.target}" if f.kind == "link" else ""
            return self._ok(cmd, f"{f.kind} {f.mode} {f.owner} {f.group}{extra}\n")
        if cmd.startswith("systemctl show"):
            unit = shlex.split(cmd.split(" && ")[0])[-1]  # then `is-enabled`: this fake's state is one
            if f"/etc/systemd/system/{unit}.service" in self.files:  # an installed unit file loads
                self.units.setdefault(unit, FakeUnit())
            u = self.units.get(unit)
            if u is None:
                return self._ok(cmd, "ActiveState=inactive\nUnitFileState=\nLoadState=not-found\nNeedDaemonReload=no\n")
            return self._ok(cmd, f"ActiveState={'active' if u.active else 'inactive'}\n"
                                 f"UnitFileState={'enabled' if u.enabled else 'disabled'}\nLoadState=loaded\n"
                                 "NeedDaemonReload=no\n")
        if re.search(r"\[ -e .*\] && echo creates|\[ -e .*\] \|\| echo removes", cmd):
            out = []
            for kind, path in re.findall(r"\[ -e (\S+) \] (?:&&|\|\|) echo (creates|removes)", cmd):
                exists = shlex.split(kind)[0] in self.files
                if (path == "creates" and exists) or (path == "removes" and not exists):
                    out.append(path)
            return self._ok(cmd, "\n".join(out))
        for part in cmd.split(" && "):
            try:
                self._apply(shlex.split(part))
            except ValueError:  # a script, not a simple command: nothing to keep track of
                break
        return self._ok(cmd)

    def _apply(self, argv: list[str]) -> None:
        if not argv:
            return
        verb, args = argv[0], argv[1:]
        if verb == "mkdir":
            for p in (a for a in args if not a.startswith("-")):
                self.files.setdefault(p, FakeFile(kind="directory", mode="755"))
        elif verb == "chmod":
            self.files[args[1]].mode = args[0]
        elif verb == "chown":
            user, _, grp = args[0].partition(":")
            f = self.files[args[1]]
            f.owner, f.group = user or f.owner, grp or f.group
        elif verb == "rm":
            for p in (a for a in args if not a.startswith("-")):
                self.files.pop(p, None)
        elif verb == "touch":
            self.files.setdefault(args[-1], FakeFile())
        elif verb == "ln":
            self.files[args[-1]] = FakeFile(kind="link", target=args[-2])
        elif verb == "systemctl":
            self._systemctl([a for a in args if not a.startswith("--")])

    def _systemctl(self, args: list[str]) -> None:
        action, units = args[0], args[1:]
        for name in units:
            u = self.units.setdefault(name, FakeUnit())
            if action in ("start", "restart", "reload"):
                u.starts += 1 if (action != "start" or not u.active) else 0
                u.active = True
            elif action == "stop":
                u.active = False
            elif action == "enable":
                u.enabled = True
            elif action == "disable":
                u.enabled = False


class FakePool:
    def __init__(self, hosts: dict[str, FakeHost]):
        self.hosts = hosts

    def get(self, host: Host) -> FakeHost:
        return self.hosts[host.name]

    def abort(self) -> None:
        pass


class Recorder:
    """The engine's Reporter protocol, keeping what it is told."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, str, Any]] = []

    def play_started(self, title: str, hosts: list[str]) -> None: ...
    def host_done(self, host: str, stats: Any) -> None: ...
    def play_done(self, title: str, result: Any) -> None: ...

    def task_done(self, host: str, role: str, task: Any, outcome: Any) -> None:
        self.outcomes.append((host, task.name, outcome))

    def statuses(self, host: str) -> dict[str, str]:
        return {name: o.status for h, name, o in self.outcomes if h == host}


def run_play(roles_dir: Path, roles: list[str], hosts: dict[str, FakeHost], options: RunOptions | None = None,
             variables: dict[str, Any] | None = None) -> tuple[Any, Recorder]:
    """Run roles from `roles_dir` (and their templates) on fake hosts, as a phase would."""
    inv_hosts = [Host(n, "10.0.0.1") for n in hosts]
    inv = Inventory(None, {"name": "t"}, {h.name: h for h in inv_hosts}, {"nodes": list(hosts)})
    rec = Recorder()
    runner = Runner(inv, FakePool(hosts), Templar([TEMPLATES_DIR]),
                    lambda h: dict(variables or {}), options or RunOptions(), rec)
    return runner.run(Play("+".join(roles), inv_hosts, load_roles(roles, [roles_dir]))), rec
