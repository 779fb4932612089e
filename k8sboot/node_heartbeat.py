"""A node's heartbeat: when its kubelet last gave a sign of life, and whether that is recent.

Apart from cluster_api (which reads it) so that phases can judge heartbeats without
importing the kubernetes client.
"""

from __future__ import annotations

import re
import shlex
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


# When the kubelet now running started, by the host's clock: systemd's ExecMainStartTimestamp, printed
# in UTC to the second. A Node keeps the Ready condition its kubelet posted before a stop: a restarted
# kubelet renews its Lease at once but posts its first status (often NotReady: "PLEG is not healthy")
# a few seconds later. Until it posts, that Ready=True is the previous process's word.
KUBELET_STARTED_FACT = "kubelet_started"
_SYSTEMD_UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def kubelet_started_script(unit: str) -> str:
    """One `kubelet_started=...` line: the unit's main process start (empty when it never ran)."""
    return (f'echo "{KUBELET_STARTED_FACT}=$(TZ=UTC systemctl show -p ExecMainStartTimestamp --value '
            f'-- {shlex.quote(unit)} 2>/dev/null)"\n')


def parse_kubelet_started(text: str) -> datetime | None:
    """The time in `kubelet_started_script`'s line's value (None: none, or not a time)."""
    found = _SYSTEMD_UTC_TIME.search(text)
    if not found:
        return None
    try:
        return datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
    except ValueError:
        return None


def posted_since_start(posted: datetime | None, started: datetime | None) -> bool:
    """Whether the kubelet running now made this status post (`started` None: nothing to judge by).
    Both times are the host's clock to the second, so a post in the start's own second is not
    taken: the next comes one status period (4 s) later."""
    if started is None:
        return True
    if posted is None:
        return False
    return (posted if posted.tzinfo else posted.replace(tzinfo=UTC)) > started
