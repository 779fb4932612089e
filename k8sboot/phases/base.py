"""What a phase is, and the context the phases of one run share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from k8sboot.commands.context import CommandContext
from k8sboot.connection.pool import ConnectionPool
from k8sboot.engine.results import PlayResult
from k8sboot.engine.runner import RunOptions
from k8sboot.plan import ClusterPlan
from k8sboot.ui import Reporter


@dataclass
class RunContext:
    """Shared by the phases of one `up`: each phase reads what earlier ones made."""

    command: CommandContext
    pool: ConnectionPool
    options: RunOptions
    reporter: Reporter
    plan: ClusterPlan | None = None
    result: PlayResult = field(default_factory=PlayResult)
    timings: list[tuple[str, float]] = field(default_factory=list)
    scratch: dict[str, Any] = field(default_factory=dict)  # phase-to-phase values

    @property
    def inventory(self):  # noqa: ANN201 - shorthand
        return self.command.inventory

    @property
    def state(self):  # noqa: ANN201
        return self.command.state


class Phase(Protocol):
    title: str

    def run(self, ctx: RunContext) -> None:
        """Do the phase's work; raise a K8sbootError to stop the run."""


def run_phases(phases: list[Phase], ctx: RunContext, log=print) -> None:
    for phase in phases:
        started = time.monotonic()
        phase.run(ctx)
        ctx.timings.append((phase.title, time.monotonic() - started))
