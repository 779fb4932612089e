"""Run the checks with pytest, in this process, and hand back one result per host and check."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.health.plugin import VerifyPlugin
from k8sboot.health.results import CheckResult, exit_code
from k8sboot.inventory.model import Inventory
from k8sboot.state import ClusterState

HEALTH_DIR = Path(__file__).resolve().parent
CHECKS_DIR = HEALTH_DIR / "checks"
SMOKE_DIR = HEALTH_DIR / "smoke"
CIS_DIR = HEALTH_DIR / "cis"  # the CIS Kubernetes Benchmark items k8sboot controls


@dataclass
class VerifyRun:
    results: list[CheckResult]
    exit_code: int  # 0 all passed, 1 a check failed
    pytest_exit: int
    output: str  # pytest's own report (empty when it went to the terminal)


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def pytest_args(paths: list[Path], junitxml: Path | None, verbose: int) -> list[str]:
    rootdir = os.path.commonpath([str(p) for p in paths])
    args = [str(p) for p in paths] + [
        # our own settings, not those of whatever project the user stands in
        "-c",
        os.devnull,
        "--rootdir",
        rootdir,
        "-p",
        "no:cacheprovider",  # never write .pytest_cache into the package or the user's dir
        "--import-mode=importlib",  # user files may share names with ours (test_nodes.py)
        "--tb=short",
        "-v" if verbose else "-q",
    ]
    if junitxml is not None:
        args += ["--junitxml", str(junitxml)]
    return args


def run_checks(
    inventory: Inventory,
    state: ClusterState,
    *,
    user_dirs: list[str] | None = None,
    smoke: bool = False,
    cis: bool = False,
    junitxml: str | None = None,
    verbose: int = 0,
    connect_timeout: float = 10.0,
) -> VerifyRun:
    paths = [CHECKS_DIR] + ([SMOKE_DIR] if smoke else []) + ([CIS_DIR] if cis else [])
    for d in user_dirs or []:
        p = Path(d).expanduser().resolve()
        if not p.exists():
            raise InputError(f"--tests: {d} does not exist")
        paths.append(p)
    plugin = VerifyPlugin(inventory, state, connect_timeout)
    args = pytest_args(paths, Path(junitxml).expanduser() if junitxml else None, verbose)
    captured = io.StringIO()
    # only the plugins named here: a user's installed pytest plugins must not change the checks
    with _env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1"):
        if verbose:
            code = pytest.main(args, plugins=[plugin])
        else:
            with contextlib.redirect_stdout(captured):
                code = pytest.main(args, plugins=[plugin])
    results = plugin.final_results()
    code = int(code)
    if code in (
        pytest.ExitCode.USAGE_ERROR,
        pytest.ExitCode.INTERNAL_ERROR,
        pytest.ExitCode.INTERRUPTED,
    ):
        # a user's test file that does not import, a bad option: show pytest's own words
        raise InputError("the checks could not run:\n" + captured.getvalue()[-3000:])
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise InputError("no checks were collected (no hosts in the inventory?)")
    failed = exit_code(results) or (1 if code != pytest.ExitCode.OK else 0)
    return VerifyRun(results, failed, code, captured.getvalue())
