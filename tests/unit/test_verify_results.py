"""k8sboot verify: from pytest's reports to the summary table (pure)."""

from __future__ import annotations

import io

from rich.console import Console

from k8sboot.health.results import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    CheckResult,
    check_label,
    exit_code,
    finish,
    first_line,
    merge_outcome,
)
from k8sboot.health.summary import summary_line, summary_table, table_rows


def test_first_line_drops_the_exception_name_and_pytest_introspection():
    assert (
        first_line("AssertionError: kubelet is inactive\nassert 'inactive' == 'active'")
        == "kubelet is inactive"
    )
    assert first_line("\n  Failed: the API does not answer\n") == "the API does not answer"
    assert first_line("Skipped: no etcd hosts") == "no etcd hosts"
    assert first_line("") == ""


def test_check_label_from_docstring_with_placeholders_or_from_the_name():
    assert (
        check_label(
            "test_node_unit",
            "{unit} active and enabled\n\nmore",
            {"host_name": "wk1", "unit": "kubelet"},
        )
        == "kubelet active and enabled"
    )
    assert (
        check_label("test_port", "port listening", {"host_name": "cp1", "port": 6443})
        == "port listening [6443]"
    )
    assert check_label("test_swap_off", None, {"host_name": "cp1"}) == "swap off"


def test_the_worst_phase_wins_and_the_first_failure_explains():
    r = CheckResult("wk2", "kubelet healthz")
    merge_outcome(r, "setup", "passed", "")
    merge_outcome(r, "call", "failed", "AssertionError: kubelet healthz: no answer\nassert False")
    merge_outcome(r, "teardown", "failed", "RuntimeError: later")
    assert (r.status, r.why) == (FAIL, "kubelet healthz: no answer")

    s = CheckResult("cp1", "x")
    merge_outcome(s, "setup", "failed", "NoValidConnectionsError: Unable to connect to port 22")
    assert (s.status, s.why) == (
        FAIL,
        "setup: NoValidConnectionsError: Unable to connect to port 22",
    )


def test_warnings_turn_a_pass_into_warn_and_a_test_never_run_is_not_a_pass():
    w = CheckResult("cp1", "certs", warnings=["a expires soon", "b expires soon"])
    merge_outcome(w, "call", "passed", "")
    finish(w)
    assert (w.status, w.why) == (WARN, "a expires soon (+1 more)")
    never = CheckResult("cp1", "x")
    finish(never)
    assert (never.status, never.why) == (SKIP, "not run")
    assert exit_code([w, never]) == 0
    assert exit_code([w, CheckResult("wk1", "y", status=FAIL)]) == 1


def results() -> list[CheckResult]:
    return [
        CheckResult("cp1", "swap is off", PASS, order=0),
        CheckResult("wk2", "swap is off", PASS, order=1),
        CheckResult("cp1", "etcd healthy", PASS, order=2),
        CheckResult("wk2", "kubelet active and enabled", FAIL, "kubelet is inactive", order=3),
        CheckResult("cp1", "certificates", WARN, "ca.crt expires on 2030-01-01", order=4),
    ]


def test_rows_are_grouped_by_host_in_first_seen_order_checks_in_file_order():
    assert table_rows(results()) == [
        ("cp1", "swap is off", PASS, ""),
        ("cp1", "etcd healthy", PASS, ""),
        ("cp1", "certificates", WARN, "ca.crt expires on 2030-01-01"),
        ("wk2", "swap is off", PASS, ""),
        ("wk2", "kubelet active and enabled", FAIL, "kubelet is inactive"),
    ]


def test_summary_line_counts_and_names_failing_hosts():
    assert summary_line(results()) == "3 passed, 1 failed, 1 warned (failing: wk2)"
    assert summary_line([]) == "no checks"


def test_the_table_names_the_host_on_every_row_and_why_for_failures():
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(summary_table(results()))
    lines = out.getvalue().splitlines()
    assert sum("cp1" in line for line in lines) == 3  # grep HOST finds all its rows
    failing = next(line for line in lines if "FAIL" in line)
    assert (
        "wk2" in failing
        and "kubelet active and enabled" in failing
        and "kubelet is inactive" in failing
    )
