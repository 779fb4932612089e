"""Arguments the benchmarks share."""

from __future__ import annotations

import argparse


def host_counts(text: str) -> list[int]:
    """`--hosts 3,10,30`: the host counts to measure, each positive."""
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not counts or any(c < 1 for c in counts):
        raise argparse.ArgumentTypeError("host counts must be positive")
    return counts
