"""Runs roles on hosts: every host in parallel, each through the tasks in order.

Hosts do not wait for each other between tasks (Ansible's `free` strategy):
the phases of `k8sboot up` are the barriers. Handlers run once per host at
the end of the play, in the order they are defined, if a task notified them.
A failed host stops; the others go on. Every task ends ok / changed /
failed / skipped, counted per host.

One failure model: whatever goes wrong inside a task (a module's exception,
a command past its deadline, a lost connection) is that task failing on that
host, with its message; nothing escapes to end the run without a recap.
Handlers notified but not run (a later task failed, the run was killed) are
remembered and run on the next run (pending_handlers.py); they are written
down before the task that notifies them runs, so even a SIGKILL loses none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from k8sboot.connection.deadline import TaskConnection
from k8sboot.connection.pool import ConnectionPool
from k8sboot.connection.ssh import SSHConnection
from k8sboot.engine.control import RunControl
from k8sboot.engine.forks import DEFAULT_FORKS
from k8sboot.engine.host_probes import HostProbes, Wants
from k8sboot.engine.modules import MODULES, ModuleContext, ModuleResult
from k8sboot.engine.pending_handlers import HostHandlers, PendingHandlers
from k8sboot.engine.results import (
    CHANGED,
    FAILED,
    OK,
    SKIPPED,
    UNREACHABLE,
    Failure,
    HostStats,
    PlayResult,
    TaskOutcome,
)
from k8sboot.engine.roles import Role, load_role
from k8sboot.engine.tasks import Task
from k8sboot.engine.templating import Templar
from k8sboot.errors import InputError, RunError, UnreachableError
from k8sboot.inventory.model import Host, Inventory


class Reporter(Protocol):
    def play_started(self, title: str, hosts: list[str]) -> None: ...
    def task_done(self, host: str, role: str, task: Task, outcome: TaskOutcome) -> None: ...
    def host_done(self, host: str, stats: HostStats) -> None: ...
    def play_done(self, title: str, result: PlayResult) -> None: ...


# a task's deadline when it sets no `timeout:`: it only has to end a hang. Under
# software emulation a loaded machine's apiserver took over 15 minutes to answer
# (the control plane role's readiness poll), so a healthy-but-slow run must fit
DEFAULT_TASK_TIMEOUT = 3600.0
# reading a role's probes ahead (host_look.py: one stat, one systemctl show, no hashing): the bound
# only ends a hang, with room for an emulated VM whose every process start is slow under load
PROBES_TIMEOUT = 120.0
CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"


@dataclass
class RunOptions:
    check: bool = False
    diff: bool = False
    forks: int = DEFAULT_FORKS
    tags: set[str] = field(default_factory=set)
    skip_tags: set[str] = field(default_factory=set)
    control: RunControl = field(default_factory=RunControl)  # Ctrl-C, and who is at which task
    pending: PendingHandlers | None = None  # handlers owed from an earlier run (the state dir)


@dataclass
class Play:
    title: str
    hosts: list[Host]
    roles: list[Role]


def load_roles(names: list[str], search_dirs: list[Path]) -> list[Role]:
    roles = [load_role(n, search_dirs, set(MODULES)) for n in names]
    for role in roles:
        handler_names = {h.name for h in role.handlers} | {name for h in role.handlers for name in h.listen}
        for task in role.tasks + role.handlers:
            if task.module == "meta":
                continue
            spec = MODULES[task.module]
            if not any("{{" in str(v) for v in task.args.values()):
                spec.check_args(task.args, task.where)
            for n in task.notify:
                if n not in handler_names:
                    raise InputError(f"{task.where}: notifies {n!r}, but role {role.name} has no such handler")
    return roles


class Runner:
    def __init__(
        self,
        inventory: Inventory,
        pool: ConnectionPool,
        templar: Templar,
        vars_for_host: Callable[[Host], dict[str, Any]],
        options: RunOptions,
        reporter: Reporter,
    ):
        self.inventory = inventory
        self.pool = pool
        self.templar = templar
        self.vars_for_host = vars_for_host
        self.options = options
        self.reporter = reporter

    # -- plays ------------------------------------------------------------
    def run(self, play: Play) -> PlayResult:
        result = PlayResult()
        self.reporter.play_started(play.title, [h.name for h in play.hosts])
        if not play.hosts:
            self.reporter.play_done(play.title, result)
            return result
        workers = max(1, min(self.options.forks, len(play.hosts)))
        with ThreadPoolExecutor(max_workers=workers) as ex:
            futures = [ex.submit(self._run_host_safely, play, h) for h in play.hosts]
            try:
                for h, fut in zip(play.hosts, futures):
                    stats, failure = fut.result()
                    result.stats[h.name] = stats
                    if failure:
                        result.failures.append(failure)
            except KeyboardInterrupt:
                # workers block on remote commands: cut the connections so they end now
                self.options.control.cancel()
                self.pool.abort()
                raise
        self.reporter.play_done(play.title, result)
        return result

    def _run_host_safely(self, play: Play, host: Host) -> tuple[HostStats, Failure | None]:
        try:
            return self._run_host(play, host)
        except Exception as e:  # noqa: BLE001 - a bug must still end as this host's failure, with a recap
            return HostStats(failed=1), Failure(host.name, play.title, f"{type(e).__name__}: {e}")

    def _magic_vars(self, host: Host) -> dict[str, Any]:
        inv = self.inventory
        groups = {g: list(names) for g, names in inv.groups.items()}
        groups["all"] = list(inv.hosts)
        return {
            "inventory_hostname": host.name,
            "inventory_hostname_short": host.name.split(".")[0],
            "group_names": sorted(g for g in host.groups if g != "all"),
            "groups": groups,
            "ansible_host": host.address,
            "ansible_check_mode": self.options.check,
        }

    def _run_host(self, play: Play, host: Host) -> tuple[HostStats, Failure | None]:
        started = time.monotonic()
        stats = HostStats()
        try:
            conn = self.pool.get(host).connect()
        except UnreachableError as e:
            stats.unreachable += 1
            self.reporter.host_done(host.name, stats)
            return stats, Failure(host.name, "connect", str(e), unreachable=True)
        variables: dict[str, Any] = {}
        for role in play.roles:
            variables.update(role.defaults)
        variables.update(self.vars_for_host(host))
        variables.update(self._magic_vars(host))
        # per role: handlers notified and not yet run, those an earlier run owes, and their record
        handlers = HostHandlers(self.options.pending if not self.options.check else None,
                                host.name, [r.name for r in play.roles])
        notified = handlers.notified
        failure: Failure | None = None
        try:
            for role in play.roles:
                probes = self._read_probes(conn, host, role, variables)
                for task in role.tasks:
                    if self.options.control.cancelled:
                        failure = Failure(host.name, f"{role.name} : {task.name}", "not started: the run was interrupted")
                        break
                    if task.module == "meta":  # flush_handlers: run what was notified so far
                        if any(notified.values()):
                            probes.forget()
                        failure = self._run_handlers(conn, host, play, variables, notified, stats)
                        if failure:
                            break
                        handlers.settle()
                        continue
                    if task.notify:
                        handlers.reach(role.name, task.notify)
                        if self._selected(task) and self._may_run(task, variables):
                            handlers.ahead(role.name, task.notify)
                    outcome = self._run_task(conn, host, role, task, variables, probes=probes)
                    stats.add(outcome)
                    self.reporter.task_done(host.name, role.name, task, outcome)
                    if outcome.status in (CHANGED, FAILED, UNREACHABLE) and not self._previews(task):
                        probes.forget()
                    if outcome.status == CHANGED:
                        notified[role.name].update(task.notify)
                    if outcome.status in (FAILED, UNREACHABLE) and not outcome.ignored:
                        failure = self._failure(host, role, task, outcome)
                        break
                if failure:
                    break
            if not failure:
                handlers.carry_the_rest()
                failure = self._run_handlers(conn, host, play, variables, notified, stats)
        except UnreachableError as e:
            stats.unreachable += 1
            failure = Failure(host.name, "connection", str(e), unreachable=True)
        finally:
            handlers.settle()
        stats.seconds = time.monotonic() - started
        self.reporter.host_done(host.name, stats)
        return stats, failure

    def _previews(self, task: Task) -> bool:
        """The task runs in check mode: whatever it reports, it changed nothing."""
        return self.options.check if task.check_mode is None else task.check_mode

    def _read_probes(self, conn: SSHConnection, host: Host, role: Role, variables: dict[str, Any]) -> HostProbes:
        """Every probe the role's tasks will make, read in one round trip (host_probes.py).

        A task whose loop or the arguments it looks with need what an earlier
        task registers cannot be rendered yet: it probes for itself when it runs.
        """
        wanted: dict[bool, Wants] = {}
        for task in role.tasks:
            spec = MODULES.get(task.module)
            if spec is None or spec.probes is None or task.until is not None or not self._selected(task):
                continue
            become = task.become if task.become is not None else host.become
            try:
                items = [None] if task.loop is None else self.templar.render_value(task.loop, variables)
                if not isinstance(items, list):
                    continue
                for item in items:
                    item_vars = variables if task.loop is None else {**variables, "item": item}
                    if not self._may_run(task, item_vars):
                        continue
                    wants = spec.probes(self._renderable_args(task, item_vars))
                    into = wanted.setdefault(bool(become), Wants())
                    into.paths += wants.paths
                    into.units += wants.units
            except Exception:  # noqa: BLE001 - the task itself reports what is wrong when it runs
                continue
        probes = HostProbes()
        try:
            probes.read(conn, wanted, timeout=PROBES_TIMEOUT)
        except RunError:
            pass  # each task then probes for itself, and reports what fails
        return probes

    def _may_run(self, task: Task, variables: dict[str, Any]) -> bool:
        """False only when the task's `when` is already known to be false; looking too much costs little."""
        if task.when is None:
            return True
        try:
            return self.templar.condition(task.when, variables)
        except Exception:  # noqa: BLE001 - it needs what an earlier task registers
            return True

    def _renderable_args(self, task: Task, variables: dict[str, Any]) -> dict[str, Any]:
        """The task's arguments that can be rendered before it runs: `daemon_reload: "{{ unit.changed }}"`
        waits for an earlier task, but the unit's name is known."""
        args = {}
        for key, value in task.args.items():
            try:
                args[key] = self.templar.render_value(value, variables)
            except Exception:  # noqa: BLE001 - the task renders it again when it runs, and reports it
                continue
        return args

    def _run_handlers(self, conn: SSHConnection, host: Host, play: Play, variables: dict[str, Any],
                      notified: dict[str, set[str]], stats: HostStats) -> Failure | None:
        """Run the notified handlers in definition order.

        A notification runs every handler of that name or that `listen`s to it
        (as Ansible does); it leaves `notified` once the last of them ran, so a
        failure in between leaves it owed to the next run.
        """
        for role in play.roles:
            names = notified.get(role.name, set())
            due = [h for h in role.handlers if {h.name, *h.listen} & names]
            for i, handler in enumerate(due):
                topics = {handler.name, *handler.listen} & names
                outcome = self._run_task(conn, host, role, handler, variables, is_handler=True)
                stats.add(outcome)
                self.reporter.task_done(host.name, role.name, handler, outcome)
                if outcome.status in (FAILED, UNREACHABLE) and not outcome.ignored:
                    return self._failure(host, role, handler, outcome)
                later = {t for h in due[i + 1:] for t in (h.name, *h.listen)}
                names -= topics - later
        return None

    @staticmethod
    def _failure(host: Host, role: Role, task: Task, outcome: TaskOutcome) -> Failure:
        r = outcome.result
        tail = "\n".join((r.stderr or r.stdout or "").strip().splitlines()[-10:])
        return Failure(host.name, f"{role.name} : {task.name}", r.msg or "failed", r.cmd, r.rc, tail,
                       unreachable=outcome.status == UNREACHABLE)

    # -- tasks ------------------------------------------------------------
    def _selected(self, task: Task) -> bool:
        tags = set(task.tags)
        if self.options.skip_tags & tags:
            return False
        if self.options.tags:
            return bool(self.options.tags & tags) or "always" in tags
        return True

    def _run_task(self, conn: SSHConnection, host: Host, role: Role, task: Task, variables: dict[str, Any],
                  is_handler: bool = False, probes: HostProbes | None = None) -> TaskOutcome:
        if not is_handler and not self._selected(task):
            return TaskOutcome(SKIPPED, ModuleResult(skipped=True, msg="not selected by tags"))
        what = f"{role.name} : {task.name}"
        control = self.options.control
        control.started(host.name, what)
        try:
            timeout = float(self.templar.render_value(task.timeout, variables) or DEFAULT_TASK_TIMEOUT)
            bounded = TaskConnection(conn, timeout)
            # a task that retries (`until`) must see the host anew at every attempt
            read_ahead = probes if task.until is None else None
            if task.loop is None:
                outcome = self._run_once(bounded, host, role, task, variables, read_ahead)
            else:
                outcome = self._run_loop(bounded, host, role, task, variables, read_ahead)
        except UnreachableError as e:
            if control.cancelled:
                outcome = TaskOutcome(FAILED, ModuleResult(failed=True, msg="interrupted"))
            else:
                outcome = TaskOutcome(UNREACHABLE, ModuleResult(failed=True, msg=str(e)))
        except Exception as e:  # noqa: BLE001 - any error inside a task is that task failing
            outcome = TaskOutcome(FAILED, ModuleResult(failed=True, msg=f"{type(e).__name__}: {e}"))
        finally:
            control.finished(host.name, what)
        if task.register:
            variables[task.register] = outcome.result.as_register()
        if task.no_log:
            outcome = TaskOutcome(outcome.status, censored(outcome.result), outcome.ignored)
        return outcome

    def _run_loop(self, conn: TaskConnection, host: Host, role: Role, task: Task,
                  variables: dict[str, Any], probes: HostProbes | None) -> TaskOutcome:
        items = self.templar.render_value(task.loop, variables)
        if not isinstance(items, list):
            raise InputError(f"{task.where}: loop must be a list, got {type(items).__name__}")
        results: list[dict[str, Any]] = []
        combined = ModuleResult(data={"results": results})
        statuses = []
        for item in items:
            item_vars = {**variables, "item": item}
            outcome = self._run_once(conn, host, role, task, item_vars, probes)
            if probes is not None and outcome.status in (CHANGED, FAILED) and not self._previews(task):
                probes.forget()  # the next item looks at the host anew
            reg = outcome.result.as_register()
            reg["item"] = item
            results.append(reg)
            statuses.append(outcome.status)
            if outcome.status == FAILED:
                combined.failed = True
                combined.msg = outcome.result.msg
                combined.cmd, combined.rc = outcome.result.cmd, outcome.result.rc
                combined.stderr = outcome.result.stderr
                if not task.ignore_errors:
                    break
        combined.changed = CHANGED in statuses
        if statuses and all(s == SKIPPED for s in statuses):
            combined.skipped = True
            return TaskOutcome(SKIPPED, combined)
        status = FAILED if combined.failed else CHANGED if combined.changed else OK
        return TaskOutcome(status, combined, ignored=combined.failed and task.ignore_errors)

    def _run_once(self, conn: TaskConnection, host: Host, role: Role, task: Task,
                  variables: dict[str, Any], probes: HostProbes | None = None) -> TaskOutcome:
        if task.when is not None and not self.templar.condition(task.when, variables):
            return TaskOutcome(SKIPPED, ModuleResult(skipped=True, msg="condition false"))
        spec = MODULES[task.module]
        args = self.templar.render_value(task.args, variables)
        spec.check_args(args, task.where)
        ctx = ModuleContext(
            conn=conn, host=host, vars=variables, templar=self.templar, role_dir=role.path,
            check=self.options.check if task.check_mode is None else task.check_mode, diff=self.options.diff,
            become=task.become if task.become is not None else host.become, probes=probes,
        )
        attempts = 1
        if task.until is not None:
            attempts = int(self.templar.render_value(task.retries, variables)) + 1
            delay = float(self.templar.render_value(task.delay, variables))
        for attempt in range(attempts):
            result = spec.run(ctx, args)
            if task.until is None:
                break
            probe = {**variables, **({task.register: result.as_register()} if task.register else {}),
                     **result.as_register()}
            if result.skipped or self.templar.condition(task.until, probe):
                break
            if attempt < attempts - 1:
                if conn.remaining() <= delay:
                    result.failed = True
                    result.msg = f"the task's timeout of {conn.seconds:g}s passed after {attempt + 1} attempts"
                    break
                if self.options.control.sleep(delay):
                    result.failed = True
                    result.msg = "interrupted"
                    break
        else:
            result.failed = True
            result.msg = f"gave up after {attempts} attempts: {result.msg}"
        if result.skipped:
            return TaskOutcome(SKIPPED, result)
        if task.changed_when is not None or task.failed_when is not None:
            probe = {**variables, **({task.register: result.as_register()} if task.register else {})}
            if task.changed_when is not None:
                result.changed = self.templar.condition(task.changed_when, probe)
            if task.failed_when is not None:
                result.failed = self.templar.condition(task.failed_when, probe)
        if result.failed:
            return TaskOutcome(FAILED, result, ignored=task.ignore_errors)
        return TaskOutcome(CHANGED if result.changed else OK, result)


def censored(result: ModuleResult) -> ModuleResult:
    """What the reporter and the recap may show of a `no_log: true` task (the register keeps all)."""
    return ModuleResult(changed=result.changed, failed=result.failed, skipped=result.skipped, msg=CENSORED,
                        rc=result.rc, cmd=None)
