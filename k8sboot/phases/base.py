"""What a phase is, and the context the phases of one run share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rich.markup import escape

from k8sboot import ui
from k8sboot.api_retry import is_api_error, reason_of
from k8sboot.connection.pool import ConnectionPool
from k8sboot.context import CommandContext
from k8sboot.engine.results import PlayResult
from k8sboot.engine.runner import Play, Runner, RunOptions, load_roles
from k8sboot.etcd.client import EtcdClient, local_tls
from k8sboot.errors import Interrupted, RunError
from k8sboot.inventory.model import Host
from k8sboot.phases.learned import Learned
from k8sboot.plan import ClusterPlan
from k8sboot.state_lock import cluster_lock
from k8sboot.ui import Reporter
from k8sboot.upgrade.options import RollOptions

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


@dataclass
class RunContext:
    """Shared by the phases of one `up`: each phase reads what earlier ones made."""

    command: CommandContext
    pool: ConnectionPool
    options: RunOptions
    reporter: Reporter
    roll: RollOptions = field(default_factory=RollOptions)  # how running nodes are rolled (up's flags)
    learned: Learned = field(default_factory=Learned)  # what earlier phases found out
    made_plan: ClusterPlan | None = None  # set by the "plan" phase
    result: PlayResult = field(default_factory=PlayResult)
    timings: list[tuple[str, float]] = field(default_factory=list)
    # `up --limit`: the only hosts worked on (nodes joining or converging in a running cluster);
    # the plan still covers every host, as each host's config names the others
    limit: frozenset[str] | None = None

    def hosts_in(self, group: str) -> list[Host]:
        """The group's hosts this run works on (all of them without --limit)."""
        return self.targets(self.inventory.hosts_in(group))

    def targets(self, hosts: list[Host] | None = None) -> list[Host]:
        """Of these hosts (default: the inventory's), those this run works on."""
        hosts = list(self.inventory.hosts.values()) if hosts is None else hosts
        return hosts if self.limit is None else [h for h in hosts if h.name in self.limit]

    @property
    def plan(self) -> ClusterPlan:
        return Learned.need(self.made_plan, "the cluster plan", "plan")

    @property
    def inventory(self):
        return self.command.inventory

    @property
    def state(self):
        return self.command.state

    def api(self) -> ApiClient:
        """The cluster's API: the one a phase already opened, else a client to an apiserver that answers."""
        from k8sboot.cluster_api import api_client  # the kubernetes client loads slowly: only when used
        from k8sboot.plan import apiserver_urls

        return self.learned.api or api_client(self.state.admin_kubeconfig, apiserver_urls(self.inventory),
                                              self.pool.reach)

    def etcd(self, hosts: list[Host], timeout: float = 5.0) -> EtcdClient:
        """A client of these etcd members, reached the way the connections reach their hosts."""
        return EtcdClient([ClusterPlan.etcd_client_url(h) for h in hosts], local_tls(self.state.pki_dir),
                          timeout, self.pool.reach)


class Phase(Protocol):
    title: str

    def run(self, ctx: RunContext) -> None:
        """Do the phase's work; raise a K8sbootError to stop the run."""


def run_phase(phase: Phase, ctx: RunContext) -> None:
    """One phase, timed; an API error it did not expect becomes one line naming it, not a traceback."""
    started = time.monotonic()
    try:
        phase.run(ctx)
    except Exception as e:
        if not is_api_error(e):
            raise
        raise RunError(f"{phase.title}: the apiserver did not answer as expected ({reason_of(e)}); "
                       "run the command again once it answers") from None
    finally:
        ctx.timings.append((phase.title, time.monotonic() - started))


def run_phases(phases: list[Phase], ctx: RunContext) -> None:
    """The one phase loop of every command: titles, timings, Ctrl-C, connections closed at the end.

    One run at a time per cluster (state_lock): a second is refused before its first phase.
    Ctrl-C cancels the run: no new task starts, the connections are cut under
    the commands in flight (on the hosts their deadlines stop them), and the
    error says which hosts were in the middle of which task. Every shipped
    phase is idempotent, so rerunning the command converges.
    """
    try:
        with cluster_lock(ctx.state, ctx.inventory.name):
            for phase in phases:
                ui.console.print(f"[bold cyan]▶ {escape(phase.title)}[/]")
                run_phase(phase, ctx)
    except KeyboardInterrupt:
        in_flight = ctx.options.control.cancel()
        ctx.pool.abort()
        raise Interrupted(in_flight) from None
    finally:
        ctx.pool.close()


def run_play(ctx: RunContext, title: str, hosts: list[Host], roles: list[str],
             vars_for_host: Callable[[Host], dict[str, Any]]) -> PlayResult:
    """The one role runner of the phases: the roles on the hosts; a failed host fails the phase."""
    if not hosts:
        return PlayResult()
    runner = Runner(ctx.inventory, ctx.pool, ctx.command.templar(), vars_for_host, ctx.options, ctx.reporter)
    result = runner.run(Play(title, hosts, load_roles(roles, ctx.command.roles_dirs)))
    ctx.result.merge(result)
    if result.failures:
        raise RunError(
            f"{title} failed on {', '.join(f.host for f in result.failures)}:\n"
            + "\n".join(f.describe() for f in result.failures)
        )
    return result
