"""PkiResult: what ensure_pki did to each file, so callers can tell what to push."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path


@dataclass
class PkiResult:
    written: list[Path] = field(default_factory=list)  # did not exist, created now
    reissued: list[Path] = field(default_factory=list)  # existed, replaced with new content
    reused: list[Path] = field(default_factory=list)  # left exactly as they were
    reasons: dict[Path, str] = field(default_factory=dict)  # why each reissued file changed
    warnings: list[str] = field(default_factory=list)
    # stem -> (notAfter, is a CA) of every certificate the PKI holds after the run
    not_after: dict[str, tuple[datetime, bool]] = field(default_factory=dict)

    def expiring(self, within: timedelta, now: datetime) -> list[tuple[str, bool]]:
        """(stem, is a CA) of the certificates expired or ending within `within`, CAs first."""
        return sorted(((stem, ca) for stem, (end, ca) in self.not_after.items() if end - now <= within),
                      key=lambda sc: (not sc[1], sc[0]))

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
