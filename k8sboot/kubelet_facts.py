"""What systemd says of a host's kubelet: whether it runs, and since when (two of connect's facts).

Since when matters because a Node keeps the Ready condition its kubelet posted before a stop: a
restarted kubelet renews its Lease at once but posts its first status (often NotReady: "PLEG is
not healthy") seconds later. Until it posts, that Ready=True is the previous process's word.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime

from k8sboot.connection.result import key_values

KUBELET_STATE_FACT = "kubelet_state"  # systemd's ActiveState: active, inactive, activating, failed...
KUBELET_STARTED_FACT = "kubelet_started"  # its main process's start, UTC to the second (ExecMainStartTimestamp)
_SYSTEMD_UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")


def kubelet_facts_script(unit: str) -> str:
    """Both facts' lines, always printed (empty without systemd), from one systemctl."""
    return (f"s=; t=; while IFS='=' read -r key value; do case $key in ActiveState) s=$value;; "
            "ExecMainStartTimestamp) t=$value;; esac; done <<K8SBOOT_KUBELET\n"
            f"$(TZ=UTC systemctl show -p ActiveState -p ExecMainStartTimestamp -- {shlex.quote(unit)} 2>/dev/null)\n"
            "K8SBOOT_KUBELET\n"
            f'echo "{KUBELET_STATE_FACT}=$s"; echo "{KUBELET_STARTED_FACT}=$t"\n')


def parse_kubelet_started(value: str) -> datetime | None:
    """The time in a `kubelet_started` value (None: empty, or not a time in UTC)."""
    found = _SYSTEMD_UTC_TIME.search(value)
    if not found:
        return None
    try:
        return datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
    except ValueError:
        return None


def read_kubelet_facts(output: str) -> dict[str, str]:
    """The facts from `kubelet_facts_script`'s output (alone, as asked again after connect)."""
    facts = key_values(output)
    return {k: v for k, v in facts.items() if k in (KUBELET_STATE_FACT, KUBELET_STARTED_FACT)}
