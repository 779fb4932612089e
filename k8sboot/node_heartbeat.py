"""A node's heartbeat: when its kubelet last gave a sign of life, and whether that is recent.

Apart from cluster_api (which reads it) so that phases can judge heartbeats without
importing the kubernetes client.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

# Each kubelet renews a Lease in kube-node-lease every 10 s (a quarter of its 40 s duration); the
# node lifecycle controller marks the node Unknown once no renewal came for node-monitor-grace-period
# (40 s). A Ready=True condition says nothing about now: after a network cut it stays True until
# that controller notices, so "Ready" alone can be read seconds before the node turns Unknown.
# That controller takes the later of the Lease's renewTime and the Ready condition's
# lastHeartbeatTime (the kubelet's last status post): so does k8sboot.
NODE_LEASE_NAMESPACE = "kube-node-lease"
# two renew intervals: a live kubelet's renewal is at most ~10 s old (+1 s of the Date's resolution)
FRESH_HEARTBEAT_SECONDS = 20.0


@dataclass(frozen=True)
class Heartbeat:
    renewed: str  # the latest sign's time (the kubelet's clock, ISO 8601): tells one sign from the next
    age: float  # seconds from it to the apiserver's clock (its Date header); < 0 when the clocks differ

    @property
    def fresh(self) -> bool:
        return self.age <= FRESH_HEARTBEAT_SECONDS


def latest_heartbeat(now: datetime, times: Iterable[datetime | None]) -> Heartbeat | None:
    """The latest of a node's signs of life (None: it gave none), aged from `now`."""
    known = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times if t is not None]
    if not known:
        return None
    latest = max(known)
    return Heartbeat(latest.isoformat(), (now - latest).total_seconds())


def posted_since_start(posted: datetime | None, started: datetime | None) -> bool:
    """Whether the kubelet running now made this status post (`started` None: nothing to judge by;
    kubelet_facts says why it matters).
    Both times are the host's clock to the second, so a post in the start's own second is not
    taken (a kubelet's first post comes seconds after its start: cAdvisor alone takes 5 s)."""
    if started is None:
        return True
    if posted is None:
        return False
    return (posted if posted.tzinfo else posted.replace(tzinfo=UTC)) > started
