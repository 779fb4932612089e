"""Progress and results on the terminal.

On a terminal: a live line per host (its current task and counts) under the
phase's title. Elsewhere (CI, pipes): plain lines, one per event that matters,
each with the time it happened, never wrapped. Colour: on a terminal unless
NO_COLOR is set (https://no-color.org); `--color always|never` decides instead.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from k8sboot.engine.results import CHANGED, FAILED, OK, SKIPPED, HostStats, PlayResult, TaskOutcome

# rich takes ~0.1 s to import: it comes with the first console used, never for --version or --help
if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    from k8sboot.engine.tasks import Task


def _width(stream: Any) -> int | None:
    """A terminal's own width; elsewhere (CI logs, `| tee`) lines are never wrapped.

    Rich assumes 80 columns when it is not writing to a terminal and folds a
    nodes table over two lines per node; a log reads better with long lines.
    """
    if stream.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 10_000


COLOR_CHOICES = ("auto", "always", "never")


def _console(stream: Any, color: str) -> Console:
    from rich.console import Console

    no_color = color == "never" or (color == "auto" and bool(os.environ.get("NO_COLOR")))
    return Console(stderr=stream is sys.stderr, highlight=False, width=_width(stream), no_color=no_color,
                   force_terminal=True if color == "always" else None)


_color = "auto"
_consoles: dict[str, Console] = {}  # "console" (stdout), "err_console" (stderr)


def _made(name: str) -> Console:
    if name not in _consoles:
        made = _console(sys.stdout if name == "console" else sys.stderr, _color)
        _consoles.setdefault(name, made)  # two threads racing keep one console
    return _consoles[name]


def __getattr__(name: str) -> Console:
    """`ui.console` and `ui.err_console`, made on first use (with rich) in the colour configured."""
    if name in ("console", "err_console"):
        return _made(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def configure(color: str = "auto") -> None:
    """Colour for this process's output: auto (a terminal, unless NO_COLOR), always, never."""
    global _color
    if color not in COLOR_CHOICES:
        raise ValueError(f"color must be one of {', '.join(COLOR_CHOICES)}, not {color!r}")
    _color = color
    _consoles.clear()  # made again, in this colour, when next used


def timestamp() -> str:
    """The wall-clock time a plain progress line starts with (logs are read against other logs)."""
    return time.strftime("%H:%M:%S")

_STYLE = {OK: "green", CHANGED: "yellow", FAILED: "red", SKIPPED: "cyan", "unreachable": "red"}


def info(msg: str) -> None:
    _made("console").print(msg)


def warn(msg: str) -> None:
    """A warning; msg is plain text (it quotes user input: `[/bold]` is not markup here)."""
    _made("err_console").print(_labelled("warning:", "yellow", msg), soft_wrap=True)


def error(msg: str) -> None:
    """An error; msg is plain text, printed as it is: no markup, no :emoji: codes, no wrap."""
    _made("err_console").print(_labelled("error:", "red", msg), soft_wrap=True)


def _labelled(label: str, style: str, msg: str) -> Text:
    from rich.text import Text

    # a Text is never parsed for markup or emoji, unlike a str given to print()
    return Text.assemble((label, style), " ", str(msg))


class Reporter:
    """Implements the engine's Reporter protocol."""

    def __init__(self, verbose: int = 0, diff: bool = False, live: bool | None = None):
        self.verbose = verbose
        self.diff = diff
        self.live_enabled = sys.stdout.isatty() if live is None else live
        self._lock = threading.Lock()
        self._hosts: dict[str, dict[str, Any]] = {}
        self._live: Live | None = None
        self._title = ""
        self._started = 0.0

    # -- the engine's events -----------------------------------------------
    def play_started(self, title: str, hosts: list[str]) -> None:
        self._title = title
        self._started = time.monotonic()
        self._hosts = {h: {"task": "connecting", "stats": HostStats(), "done": False} for h in hosts}
        if self.live_enabled and hosts:
            from rich.live import Live

            self._live = Live(self._table(), console=_made("console"), refresh_per_second=8, transient=True)
            self._live.start()
        else:
            _made("console").print(f"{timestamp()} [bold]== {title}[/] ({', '.join(hosts) or 'no hosts'})")

    def task_done(self, host: str, role: str, task: Task, outcome: TaskOutcome) -> None:
        from rich.markup import escape

        with self._lock:
            entry = self._hosts.get(host)
            if entry is not None:
                entry["task"] = f"{role} : {task.name}"
                entry["stats"].add(outcome)
            show = outcome.status in (CHANGED, FAILED) or self.verbose > 0
            where = escape(f"[{host}] {role} : {task.name}")
            stamp = "" if self.live_enabled else f"{timestamp()} "
            line = f"{stamp}[{_STYLE[outcome.status]}]{outcome.status}[/]: {where}"
            if self.verbose and outcome.result.msg:
                line += f" [dim]({escape(outcome.result.msg)})[/]"
            if show:
                self._print(line)
            if self.diff and outcome.result.diff:
                self._print(outcome.result.diff.rstrip(), markup=False)
            if self._live:
                self._live.update(self._table())

    def host_done(self, host: str, stats: HostStats) -> None:
        with self._lock:
            if host in self._hosts:
                self._hosts[host]["done"] = True
                self._hosts[host]["task"] = "done"
            if self._live:
                self._live.update(self._table())

    def play_done(self, title: str, result: PlayResult) -> None:
        if self._live:
            self._live.stop()
            self._live = None
        secs = time.monotonic() - self._started
        changed = result.changed
        state = "[red]failed[/]" if result.failures else "[green]ok[/]"
        stamp = "" if self.live_enabled else f"{timestamp()} "
        _made("console").print(f"{stamp}[bold]{title}[/]: {state}, {changed} changed on "
                               f"{len(result.stats)} host(s), {secs:.1f}s")

    # -- helpers ------------------------------------------------------------
    def _print(self, text: str, markup: bool = True) -> None:
        if self._live:
            self._live.console.print(text, markup=markup, highlight=False)
        else:
            _made("console").print(text, markup=markup, highlight=False)

    def _table(self) -> Table:
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        t.add_row(f"[bold]{self._title}[/]", f"{time.monotonic() - self._started:.0f}s")
        for host, e in self._hosts.items():
            st: HostStats = e["stats"]
            mark = "[green]✓[/]" if e["done"] else "…"
            t.add_row(f"  {mark} {host}", f"ok={st.ok} changed={st.changed} failed={st.failed}", e["task"])
        return t


def print_recap(result: PlayResult, seconds: float | None = None) -> None:
    _made("console").print("\nPLAY RECAP " + "*" * 60)
    width = max((len(h) for h in result.stats), default=0)
    for host, st in result.stats.items():
        color = "red" if st.failed or st.unreachable else "yellow" if st.changed else "green"
        _made("console").print(
            f"[{color}]{host:<{width}}[/] : ok={st.ok:<3} changed={st.changed:<3} "
            f"unreachable={st.unreachable:<3} failed={st.failed:<3} skipped={st.skipped:<3} "
            f"rescued=0 ignored={st.ignored:<3} ({st.seconds:.1f}s)",
            highlight=False,
        )
    if seconds is not None:
        _made("console").print(f"total: {seconds:.1f}s")
    for f in result.failures:
        _made("err_console").print(f.describe(), markup=False, highlight=False)
