"""PkiResult: what ensure_pki did to each file, so callers can tell what to push."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PkiResult:
    written: list[Path] = field(default_factory=list)  # did not exist, created now
    reissued: list[Path] = field(default_factory=list)  # existed, replaced with new content
    reused: list[Path] = field(default_factory=list)  # left exactly as they were
    reasons: dict[Path, str] = field(default_factory=dict)  # why each reissued file changed
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[Path]:
        """Files whose content differs from before this run (hosts need the new copy)."""
        return self.written + self.reissued

    def summary(self) -> str:
        written, reissued, reused = len(self.written), len(self.reissued), len(self.reused)
        lines = [f"{written} written, {reissued} re-issued, {reused} reused"]
        lines += [f"re-issued {p}: {self.reasons[p]}" for p in self.reissued if p in self.reasons]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)
