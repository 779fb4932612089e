"""What every module receives and returns."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8sboot.booleans import parse_bool
from k8sboot.connection.deadline import TaskConnection
from k8sboot.connection.host_look import PathFacts
from k8sboot.engine.host_probes import HostProbes, Wants
from k8sboot.engine.templating import Templar
from k8sboot.errors import InputError
from k8sboot.inventory.model import Host


@dataclass
class ModuleContext:
    conn: TaskConnection  # the host, every command bounded by the task's deadline
    host: Host
    vars: dict[str, Any]
    templar: Templar
    role_dir: Path | None
    check: bool  # report what would change, change nothing
    diff: bool  # show file diffs
    become: bool
    probes: HostProbes | None = None  # what the runner read of the host before the role, if still current

    def looked_path(self, path: str) -> PathFacts | None:
        """The path as the role's one look saw it; None: look for yourself."""
        return self.probes.path(path, self.become) if self.probes is not None else None

    def looked_unit(self, unit: str) -> dict[str, str] | None:
        return self.probes.unit(unit, self.become) if self.probes is not None else None


@dataclass
class ModuleResult:
    changed: bool = False
    failed: bool = False
    skipped: bool = False
    msg: str = ""
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    cmd: str | None = None
    diff: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_register(self) -> dict[str, Any]:
        """The registered variable, with the field names Ansible users expect."""
        reg: dict[str, Any] = {
            "changed": self.changed,
            "failed": self.failed,
            "skipped": self.skipped,
            "msg": self.msg,
        }
        if self.rc is not None:
            reg.update(rc=self.rc, stdout=self.stdout, stderr=self.stderr,
                       stdout_lines=self.stdout.splitlines(), stderr_lines=self.stderr.splitlines())
        if self.cmd is not None:
            reg["cmd"] = self.cmd
        reg.update(self.data)
        return reg


ModuleFn = Callable[[ModuleContext, dict[str, Any]], ModuleResult]
# what a module will look at for these (rendered) arguments: read ahead of the
# role, for all its tasks in one round trip (engine/host_probes.py)
ProbesFn = Callable[[dict[str, Any]], Wants]


@dataclass(frozen=True)
class ModuleSpec:
    name: str
    run: ModuleFn
    args: frozenset[str]  # accepted argument names (Ansible's)
    required: frozenset[str] = frozenset()
    probes: ProbesFn | None = None

    def check_args(self, args: dict[str, Any], where: str) -> None:
        for key in args:
            if key not in self.args:
                hint = difflib.get_close_matches(key, sorted(self.args), n=1)
                did = f"; did you mean {hint[0]!r}?" if hint else ""
                raise InputError(f"{where}: {self.name} has no argument {key!r}{did}")
        missing = self.required - set(args)
        if missing:
            raise InputError(f"{where}: {self.name} needs {', '.join(sorted(missing))}")


class ProbeFailed(Exception):
    """A command that only looks at the host failed: the state is unknown, not "absent" or "inactive"."""


def module_bool(args: dict[str, Any], key: str, default: bool = False) -> bool:
    """A boolean argument as Ansible reads one: its spellings of true and false, nothing else."""
    value = args.get(key, default)
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    raise InputError(f"argument {key} must be a boolean (true/false, yes/no), got {value!r}")


def normalize_mode(mode: Any) -> str | None:
    """'0644', '644', 0o644 (YAML reads an unquoted 0644 as octal) -> '644'."""
    if mode is None:
        return None
    if isinstance(mode, int):
        return format(mode, "o")
    text = str(mode).strip()
    if not text.isdigit():
        raise InputError(f"mode {mode!r}: only octal modes (like '0644') are supported")
    return format(int(text, 8), "o")


def unified_diff(before: str, after: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True),
            fromfile=f"{path} (before)", tofile=f"{path} (after)",
        )
    )


# a value after one of these words is a credential (containerd's registry auth, tokens, ...)
_SECRET_LINE = re.compile(
    r"""(?P<key>\b[\w.-]*(?:password|passwd|secret|token|auth|credential|private[_-]?key)[\w.-]*"""
    r"""["']?\s*[:=]\s*)(?P<value>\S.*)$""",
    re.IGNORECASE,
)


def _redact_line(line: str) -> str:
    m = _SECRET_LINE.search(line)
    if not m:
        return line
    end = "\n" if line.endswith("\n") else ""
    return line[: m.start("value")] + "********" + end


def redacted_diff(before: str, after: str, path: str, mode: str | None) -> str:
    """A diff fit for a terminal or a CI log: no file that only its owner may read, no credentials.

    A file whose mode keeps others out (keys, kubeconfigs, 0600 configs) shows
    no content at all; in other files, values of credential-like keys are masked.
    """
    if mode is not None and mode.isdigit() and int(mode, 8) & 0o004 == 0:
        return f"--- {path}\n+++ {path}\n(content not shown: mode {mode} keeps others from reading it)\n"
    return "".join(_redact_line(line) for line in unified_diff(before, after, path).splitlines(keepends=True))
