"""WaitReady counts a node only when its kubelet talks to the apiserver now.

Ready=True stays on a node for up to 40 s after its kubelet was cut off (until the node
lifecycle controller notices): `up` must not report such a node Ready and see it turn
Unknown a moment later.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from k8sboot.engine.results import HostStats
from k8sboot.kubelet_facts import (
    KUBELET_STARTED_FACT,
    KUBELET_STATE_FACT,
    kubelet_facts_script,
    parse_kubelet_started,
    read_kubelet_facts,
)
from k8sboot.node_heartbeat import Heartbeat, posted_since_start
from k8sboot.phases.wait_ready import LiveNodes, counts_ready, kubelet_starts, waiting_for
from tests.unit.local_shell import LocalShell


def test_a_fresh_renewal_counts_at_once() -> None:
    live = LiveNodes()
    beats = {"w1": Heartbeat("t1", 4.0)}
    live.see(beats)
    assert live.alive("w1", beats)


def test_a_stale_renewal_counts_only_once_the_kubelet_renews_again() -> None:
    live = LiveNodes()
    stale = {"w1": Heartbeat("t1", 46.0)}
    live.see(stale)
    assert not live.alive("w1", stale)
    later = {"w1": Heartbeat("t1", 47.0)}  # same renewal, older
    live.see(later)
    assert not live.alive("w1", later)
    # a clock 60 s behind the apiserver's: stale by the clocks, but a renewal was seen
    renewed = {"w1": Heartbeat("t2", 58.0)}
    live.see(renewed)
    assert live.alive("w1", renewed)


def test_a_node_without_a_lease_is_not_alive() -> None:
    live = LiveNodes()
    live.see({})
    assert not live.alive("w1", {})


def test_the_waiting_line_says_why() -> None:
    ready = SimpleNamespace(is_ready=True, ready="True")
    assert waiting_for(None, None) == "not registered"
    assert waiting_for(SimpleNamespace(is_ready=False, ready="Unknown"), Heartbeat("t", 3)) == "Unknown"
    assert waiting_for(ready, Heartbeat("t", 46.4)) == "Ready, last heartbeat 46s ago"
    assert waiting_for(ready, None) == "Ready, no heartbeat yet"


# After `stop` + `start` the Node still says Ready=True from before the stop, and the restarted
# kubelet renews its Lease (a fresh heartbeat) before its first status post, which may be NotReady.
STOPPED_AT = datetime(2026, 12, 3, 16, 0, 0, tzinfo=UTC)
STARTED_AT = datetime(2026, 12, 3, 16, 0, 9, tzinfo=UTC)


def _ready(posted: datetime) -> SimpleNamespace:
    return SimpleNamespace(is_ready=True, ready="True", heartbeat=posted)


def test_a_ready_posted_before_the_kubelet_started_does_not_count_even_with_a_fresh_lease() -> None:
    live = LiveNodes()
    beats = {"w1": Heartbeat(STARTED_AT.isoformat(), 0.5)}  # the new process's Lease renewal
    live.see(beats)
    assert live.alive("w1", beats)
    stale = _ready(STOPPED_AT - timedelta(seconds=2))
    assert not counts_ready(stale, live.alive("w1", beats), STARTED_AT)
    assert waiting_for(stale, beats["w1"], STARTED_AT) == \
        "Ready as posted before its kubelet started at 16:00:09; waiting for its first status"
    # the new kubelet's first post: in the start's own second is not proof (both to the second)
    assert not counts_ready(_ready(STARTED_AT), True, STARTED_AT)
    assert counts_ready(_ready(STARTED_AT + timedelta(seconds=1)), True, STARTED_AT)


def test_without_a_known_start_ready_and_a_live_kubelet_are_enough() -> None:
    assert counts_ready(_ready(STOPPED_AT), True, None)
    assert not counts_ready(_ready(STOPPED_AT), False, None)
    assert not counts_ready(None, True, None)
    assert not counts_ready(SimpleNamespace(is_ready=False, ready="False", heartbeat=STARTED_AT), True, None)
    assert not posted_since_start(None, STARTED_AT)  # no Ready condition posted yet


def test_systemds_start_time_is_read_in_utc() -> None:
    assert parse_kubelet_started("kubelet_started=Thu 2026-12-03 16:00:09 UTC\n") == STARTED_AT
    for nothing in ("kubelet_started=\n", "kubelet_started=n/a", "Thu 2026-12-03 17:00:09 CET", ""):
        assert parse_kubelet_started(nothing) is None, nothing
    # naive heartbeats (no zone) are the API's UTC
    assert posted_since_start(datetime(2026, 12, 3, 16, 0, 10), STARTED_AT)


def test_both_kubelet_facts_come_from_one_systemctl_asked_in_utc_with_the_unit_quoted(tmp_path, monkeypatch) -> None:
    # a stand-in systemctl prints what systemd would, in the zone it is given
    fake = tmp_path / "systemctl"
    fake.write_text('#!/bin/sh\n'
                    '[ "$*" = "show -p ActiveState -p ExecMainStartTimestamp -- kube let" ] || exit 1\n'
                    'echo "ActiveState=active"; echo "ExecMainStartTimestamp=Thu 2026-12-03 16:00:09 ${TZ:-CET}"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    out = LocalShell().run(kubelet_facts_script("kube let")).stdout
    facts = read_kubelet_facts(out)
    assert facts[KUBELET_STATE_FACT] == "active"
    assert parse_kubelet_started(facts[KUBELET_STARTED_FACT]) == STARTED_AT
    # no systemd answering: both lines still come, empty (a host without the kubelet)
    fake.write_text("#!/bin/sh\nexit 1\n")
    assert read_kubelet_facts(LocalShell().run(kubelet_facts_script("kubelet")).stdout) == \
        {KUBELET_STATE_FACT: "", KUBELET_STARTED_FACT: ""}


class _Pool:
    def __init__(self, answers: dict[str, str | Exception]) -> None:
        self.answers, self.asked = answers, []

    def get(self, host):
        pool = self

        class Conn:
            def run(self, script, become=False, timeout=None):
                pool.asked.append(host.name)
                answer = pool.answers[host.name]
                if isinstance(answer, Exception):
                    raise answer
                return SimpleNamespace(stdout=answer, rc=0)
        return Conn()


def test_connects_fact_serves_hosts_left_alone_and_changed_ones_are_asked_again() -> None:
    hosts = [SimpleNamespace(name=n, node_name=f"node-{n}") for n in ("idle", "restarted", "was-stopped", "lost")]
    line = "kubelet_state=active\nkubelet_started=Thu 2026-12-03 16:00:{:02d} UTC\n"
    facts = {"idle": {"kubelet_state": "active", KUBELET_STARTED_FACT: "Thu 2026-12-03 15:00:00 UTC"},
             "restarted": {"kubelet_state": "active", KUBELET_STARTED_FACT: "Thu 2026-12-03 15:00:00 UTC"},
             "was-stopped": {"kubelet_state": "inactive", KUBELET_STARTED_FACT: "Thu 2026-12-03 14:00:00 UTC"},
             "lost": {"kubelet_state": "inactive"}}
    pool = _Pool({"restarted": line.format(9), "was-stopped": line.format(11), "lost": OSError("gone")})
    ctx = SimpleNamespace(learned=SimpleNamespace(facts=facts), pool=pool, options=SimpleNamespace(forks=4),
                          result=SimpleNamespace(stats={"idle": HostStats(ok=5),
                                                        "restarted": HostStats(ok=5, changed=1)}))
    starts = kubelet_starts(ctx, hosts)  # type: ignore[arg-type]
    assert starts == {"node-idle": datetime(2026, 12, 3, 15, 0, 0, tzinfo=UTC), "node-restarted": STARTED_AT,
                      "node-was-stopped": STARTED_AT + timedelta(seconds=2), "node-lost": None}
    assert sorted(pool.asked) == ["lost", "restarted", "was-stopped"]
