"""One row per check and host: what the summary table and the exit code are made of.

Pure functions of pytest's reports, so the shaping is unit-tested without a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PASS = "PASS"
FAIL = "FAIL"
WARN = "WARN"
SKIP = "SKIP"


class HealthWarning(UserWarning):
    """Something to look at that is not (yet) broken, e.g. a certificate expiring soon."""


@dataclass
class CheckResult:
    host: str  # "-" for checks not tied to one host
    check: str
    status: str = ""  # "" until pytest reports on it (a test that never ran is not a PASS)
    why: str = ""  # one line, for FAIL, WARN and SKIP
    order: int = 0  # collection order: the table follows the files
    warnings: list[str] = field(default_factory=list)


_PREFIXES = ("AssertionError: ", "Failed: ", "Skipped: ")


def first_line(message: str) -> str:
    """The line of a failure message worth showing: no 'AssertionError:', no pytest rewrite."""
    for line in message.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        for prefix in _PREFIXES:
            line = line.removeprefix(prefix)
        # pytest appends "assert False" introspection below the message: the first line is it
        return line
    return ""


def check_label(name: str, doc: str | None, params: dict[str, object]) -> str:
    """The check's name: its docstring's first line, else the function name without test_.

    Parameters fill placeholders ("{unit} active and enabled"); the ones left unused
    (not the host, which has its own column) follow in brackets.
    """
    label = first_line(doc) if doc and doc.strip() else name.removeprefix("test_").replace("_", " ")
    shown = {k: v for k, v in params.items() if k != "host_name"}
    used = set()
    for key, value in shown.items():
        if "{" + key + "}" in label:
            label = label.replace("{" + key + "}", str(value))
            used.add(key)
    extra = [str(v) for k, v in shown.items() if k not in used]
    return f"{label} [{', '.join(extra)}]" if extra else label


def merge_outcome(result: CheckResult, when: str, outcome: str, message: str) -> None:
    """Fold one phase (setup, call, teardown) of a test into its result; the worst wins."""
    if outcome == "failed":
        if result.status != FAIL:  # keep the first failure's reason
            result.status = FAIL
            why = first_line(message)
            result.why = why if when == "call" else f"{when}: {why}"
    elif outcome == "skipped":
        if result.status != FAIL:
            result.status = SKIP
            result.why = first_line(message)
    elif when == "call" and not result.status:
        result.status = PASS


def finish(result: CheckResult) -> None:
    """After the run: warnings turn a PASS into a WARN; a test never run says so."""
    if not result.status:
        result.status, result.why = SKIP, "not run"
    if result.status == PASS and result.warnings:
        result.status = WARN
        result.why = result.warnings[0] + (
            f" (+{len(result.warnings) - 1} more)" if len(result.warnings) > 1 else ""
        )


def exit_code(results: list[CheckResult]) -> int:
    return 1 if any(r.status == FAIL for r in results) else 0
