"""The verify summary: a table of host, check, result and (for failures) one line of why."""

from __future__ import annotations

from collections import Counter

from rich.markup import escape
from rich.table import Table

from k8sboot.health.results import FAIL, PASS, SKIP, WARN, CheckResult

STYLE = {PASS: "green", FAIL: "bold red", WARN: "yellow", SKIP: "cyan"}


def table_rows(results: list[CheckResult]) -> list[tuple[str, str, str, str]]:
    """(host, check, result, why) grouped by host in inventory order, checks in file order."""
    host_order: dict[str, int] = {}
    for r in sorted(results, key=lambda r: r.order):
        host_order.setdefault(r.host, len(host_order))
    ordered = sorted(results, key=lambda r: (host_order[r.host], r.order))
    return [(r.host, r.check, r.status, r.why) for r in ordered]


def summary_line(results: list[CheckResult]) -> str:
    counts = Counter(r.status for r in results)
    parts = [
        f"{counts[s]} {word}"
        for s, word in ((PASS, "passed"), (FAIL, "failed"), (WARN, "warned"), (SKIP, "skipped"))
        if counts[s]
    ]
    line = ", ".join(parts) or "no checks"
    failing_hosts = list(dict.fromkeys(r.host for r in results if r.status == FAIL))
    if failing_hosts:
        line += f" (failing: {', '.join(failing_hosts)})"
    return line


def summary_table(results: list[CheckResult], title: str = "k8sboot verify") -> Table:
    table = Table(title=title, title_justify="left", show_lines=False, pad_edge=False)
    table.add_column("HOST", no_wrap=True)
    table.add_column("CHECK")
    table.add_column("RESULT", no_wrap=True)
    table.add_column("WHY", overflow="fold")
    rows = table_rows(results)
    for i, (host, check, status, why) in enumerate(rows):
        # the host on every row (grep-able), a rule between hosts (readable)
        last_of_host = i + 1 == len(rows) or rows[i + 1][0] != host
        table.add_row(
            escape(host),
            escape(check),
            f"[{STYLE.get(status, '')}]{status}[/]",
            escape(why),
            end_section=last_of_host,
        )
    return table
