from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandResult:
    cmd: str
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False  # the command's deadline passed and it was stopped

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def stderr_tail(self, lines: int = 10) -> str:
        return "\n".join((self.stderr or self.stdout).strip().splitlines()[-lines:])


def key_values(text: str) -> dict[str, str]:
    """`KEY=value` lines (systemctl show, the fact scripts) as a dict; lines without `=` are skipped."""
    pairs = (line.partition("=") for line in text.splitlines())
    return {key: value for key, sep, value in pairs if sep}
