"""WaitReady counts a node only when its kubelet talks to the apiserver now.

Ready=True stays on a node for up to 40 s after its kubelet was cut off (until the node
lifecycle controller notices): `up` must not report such a node Ready and see it turn
Unknown a moment later.
"""

from __future__ import annotations

from types import SimpleNamespace

from k8sboot.node_heartbeat import Heartbeat
from k8sboot.phases.wait_ready import LiveNodes, waiting_for


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
