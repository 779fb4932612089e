"""Phase: one SSH connection per host (in parallel) and the facts later phases need."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from k8sboot import ui
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import RunError
from k8sboot.phases.base import RunContext

# one round trip gathers every fact; the keys mirror Ansible's fact names where one exists
FACTS_SCRIPT = r"""
. /etc/os-release 2>/dev/null
echo "distribution=${ID:-unknown}"
echo "distribution_version=${VERSION_ID:-unknown}"
echo "architecture=$(uname -m)"
echo "kernel=$(uname -r)"
echo "virtualization_type=$(systemd-detect-virt 2>/dev/null || echo none)"
echo "init=$(cat /proc/1/comm 2>/dev/null)"
echo "hostname=$(hostname)"
echo "swap_devices=$(tail -n +2 /proc/swaps 2>/dev/null | wc -l)"
echo "memtotal_mb=$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)"
echo "nproc=$(nproc)"
echo "listening=$(ss -Htlnp 2>/dev/null | awk '{split($4,a,":"); p=a[length(a)]; n=$6; sub(/.*\(\("/,"",n); sub(/".*/,"",n); printf "%s/%s ", p, n}')"
echo "br_netfilter=$( [ -e /proc/sys/net/bridge ] && echo builtin || (modinfo -n br_netfilter >/dev/null 2>&1 && echo module) || echo missing)"
echo "overlay=$(grep -qw overlay /proc/filesystems && echo builtin || (modinfo -n overlay >/dev/null 2>&1 && echo module) || echo missing)"
for c in systemctl containerd ctr runc iptables ip haproxy python3; do command -v $c >/dev/null 2>&1 && echo "has_$c=yes" || echo "has_$c=no"; done
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] && echo "has_cni=yes" || echo "has_cni=no"
"""


def gather_facts(conn: SSHConnection) -> dict[str, Any]:
    r = conn.run(FACTS_SCRIPT, become=True)
    facts: dict[str, Any] = {}
    for line in r.stdout.splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            facts[k] = v.strip()
    listening: dict[int, str] = {}
    for item in facts.get("listening", "").split():
        port, _, proc = item.partition("/")
        if port.isdigit():
            listening[int(port)] = proc
    facts["listening"] = listening
    if conn.needs_sudo:
        facts["sudo_ok"] = conn.run("true", become=True).ok
    return facts


class Connect:
    title = "connect"

    def run(self, ctx: RunContext) -> None:
        hosts = list(ctx.inventory.hosts.values())
        failures = ctx.pool.connect_all(hosts)
        if failures:
            raise RunError("\n".join(str(e) for e in failures.values()))
        with ThreadPoolExecutor(max_workers=max(1, min(ctx.options.forks, len(hosts)))) as ex:
            facts = dict(zip([h.name for h in hosts], ex.map(lambda h: gather_facts(ctx.pool.get(h)), hosts)))
        ctx.learned.facts = facts
        for name, f in facts.items():
            ui.info(f"  {name:<12} {f.get('distribution')} {f.get('distribution_version')} "
                    f"{f.get('architecture')} kernel {f.get('kernel')} ({f.get('virtualization_type')})")
