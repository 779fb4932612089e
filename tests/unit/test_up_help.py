"""`k8sboot up --help` names the phases as phases/sequences.py runs them, in that order."""

from __future__ import annotations

import re

from k8sboot.cli import build_parser
from k8sboot.phases.sequences import up_phases


def test_up_help_lists_every_phase_in_order():
    sub = next(a for a in build_parser()._actions if a.dest == "command" or a.__class__.__name__ ==
               "_SubParsersAction")
    text = re.sub(r"\s+", " ", sub.choices["up"].description)  # type: ignore[union-attr]
    at = 0
    for title in [p.title for p in up_phases()]:
        found = text.find(title, at)
        assert found >= 0, f"phase {title!r} missing from `up --help` (or out of order): {text}"
        at = found + len(title)
