"""One run at a time per cluster: real flock(2) between real processes."""

import os
import subprocess
import sys
import textwrap

import pytest

from k8sboot.errors import RunError
from k8sboot.state import ClusterState
from k8sboot.state_lock import LOCK_NAME, cluster_lock

HOLD = textwrap.dedent("""
    import sys, time
    from k8sboot.state import ClusterState
    from k8sboot.state_lock import cluster_lock
    with cluster_lock(ClusterState(__import__("pathlib").Path(sys.argv[1])), "c"):
        print("held", flush=True)
        time.sleep(60)
""")


def holder(root):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), "up"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_naming_the_first(tmp_path):
    state = ClusterState(tmp_path / "c")
    proc = holder(state.root)
    try:
        with pytest.raises(RunError) as e, cluster_lock(state, "c"):
            pass
        assert f"cluster c is busy: pid {proc.pid}" in str(e.value)
    finally:
        proc.kill()
        proc.wait()
    with cluster_lock(state, "c"):  # a killed run leaves no stale lock
        assert f"pid {os.getpid()}" in (state.root / LOCK_NAME).read_text()
    assert oct((state.root / LOCK_NAME).stat().st_mode & 0o777) == "0o600"


def test_a_command_running_phase_lists_in_turn_takes_it_again(tmp_path):
    state = ClusterState(tmp_path / "c")
    with cluster_lock(state, "c"), cluster_lock(state, "c"):
        pass
    with cluster_lock(state, "c"):  # released at the outer exit
        pass
