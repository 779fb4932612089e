"""How a roll over running nodes goes: the flags of `up` and `dev` that shape it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RollOptions:
    max_unavailable: int = 1  # nodes drained at once
    force_drain: bool = False  # evict pods no controller would recreate (kubectl drain --force)
    drain_timeout: float = 300.0  # seconds a node's pods get to leave (PodDisruptionBudgets permitting)
    ready_timeout: float = 300.0  # seconds a rolled node gets to be Ready again
