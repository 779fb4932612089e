"""Phase: one SSH connection per host (in parallel) and the facts later phases need."""

from __future__ import annotations

import re
import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from k8sboot import ui
from k8sboot.cluster_layout import ETCD, KUBELET_UNIT
from k8sboot.connection.digests import read_sha256s, sha256s_script
from k8sboot.connection.ssh import SSHConnection
from k8sboot.errors import RunError
from k8sboot.inventory.model import Host
from k8sboot.kubelet_facts import kubelet_facts_script
from k8sboot.phases.base import RunContext
from k8sboot.plan import identity_files, remote_dirs
from k8sboot.upgrade.stages import host_binary_paths

# One round trip gathers every fact; the keys mirror Ansible's fact names where one exists.
# Shell builtins reading /proc where a command would do: every $(...) and command is a
# process, and at 30 hosts sharing two CPUs each one is felt (~10 instead of ~25 per host).
# systemd in a container records what it detected in /run/systemd/container (systemd-detect-virt
# reads it first too): 5 ms of a host's CPU less; ss's lines are cut by builtins, not awk.
FACTS_SCRIPT = r"""
. /etc/os-release 2>/dev/null
echo "distribution=${ID:-unknown}"
echo "distribution_version=${VERSION_ID:-unknown}"
set -- $(uname -r -m)
echo "architecture=$2"
echo "kernel=$1"
if [ -r /run/systemd/container ]; then read -r v < /run/systemd/container; else v=$(systemd-detect-virt 2>/dev/null || echo none); fi; echo "virtualization_type=$v"
read -r init < /proc/1/comm 2>/dev/null; echo "init=$init"
read -r name < /proc/sys/kernel/hostname; echo "hostname=$name"
n=0; { read -r _; while read -r _; do n=$((n + 1)); done; } < /proc/swaps 2>/dev/null; echo "swap_devices=$n"
while read -r key value _; do [ "$key" = MemTotal: ] && echo "memtotal_mb=$((value / 1024))" && break; done < /proc/meminfo
l=; while read -r _ _ _ addr _ users; do [ -n "$addr" ] || continue; n=${users#*\"}; l="$l${addr##*:}/${n%%\"*} "; done <<K8SBOOT_SS
$(ss -Htlnp 2>/dev/null)
K8SBOOT_SS
echo "listening=$l"
if [ -e /proc/sys/net/bridge ]; then b=builtin; elif modinfo -n br_netfilter >/dev/null 2>&1; then b=module; else b=missing; fi
echo "br_netfilter=$b"
o=missing; while read -r first second; do [ "$first" = overlay ] || [ "$second" = overlay ] && o=builtin; done < /proc/filesystems
[ "$o" = missing ] && modinfo -n overlay >/dev/null 2>&1 && o=module; echo "overlay=$o"
for c in systemctl containerd ctr runc iptables ip haproxy python3; do command -v $c >/dev/null 2>&1 && echo "has_$c=yes" || echo "has_$c=no"; done
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] && echo "has_cni=yes" || echo "has_cni=no"
""" + (
    # whether a node runs (nodes' phase: installed, or previewed and rolled) and since when ("wait
    # for nodes Ready"): asked here, not in a round trip of its own per node
    kubelet_facts_script(KUBELET_UNIT))


# the lines of the binaries' checksums (connection/digests.py) among the facts
BINARY_TAG = "binary_sha256 "

# "<sha256>  <path>": sha256sum's line for a file it read (one whose name needs no escaping)
_SUM_LINE = re.compile(r"([0-9a-f]{64})  (/.*)")


def identity_script(paths: list[str]) -> str:
    """sha256sum of those of these files that exist (one process, whatever their number)."""
    if not paths:
        return ""
    return f"sha256sum -- {' '.join(shlex.quote(p) for p in paths)} 2>/dev/null || :\n"


def member_data_script(data_dir: str) -> str:
    """Whether an etcd host's data dir holds a member (it ran before): the etcd phase's first question."""
    member = shlex.quote(data_dir.rstrip("/") + "/member")
    return f'[ -d {member} ] && echo "etcd_member_data=yes" || echo "etcd_member_data=no"\n'


def gather_facts(conn: SSHConnection, identity_paths: list[str] | None = None, extra: str = "",
                 binary_paths: list[str] | None = None) -> dict[str, Any]:
    """The facts, and in `identity_sha256` {path: sha256} of those identity_paths that exist.

    extra: more lines of `key=value` facts for this host (asked in the same round trip).
    binary_paths: in `binary_sha256` {path: sha256 or None} (the roll plan's question)."""
    binaries = binary_paths or []
    r = conn.run(FACTS_SCRIPT + identity_script(identity_paths or []) + extra
                 + sha256s_script(conn, binaries, BINARY_TAG), become=True)
    facts: dict[str, Any] = {}
    sums: dict[str, str] = {}
    for line in r.stdout.splitlines():
        if line.startswith(BINARY_TAG):
            continue
        if m := _SUM_LINE.fullmatch(line):
            sums[m.group(2)] = m.group(1)
        elif "=" in line:
            k, v = line.split("=", 1)
            facts[k] = v.strip()
    listening: dict[int, str] = {}
    for item in facts.get("listening", "").split():
        port, _, proc = item.partition("/")
        if port.isdigit():
            listening[int(port)] = proc
    facts["listening"] = listening
    facts["identity_sha256"] = sums
    if binaries and r.ok:
        try:
            facts["binary_sha256"] = read_sha256s(conn, binaries, r.stdout, BINARY_TAG)
        except RunError:
            pass  # the roll plan asks again, in a command of its own, and reports what fails
    if conn.needs_sudo:
        facts["sudo_ok"] = conn.run("true", become=True).ok
    return facts


class Connect:
    title = "connect"

    def run(self, ctx: RunContext) -> None:
        hosts = ctx.targets()

        def connect_and_gather(host: Host) -> dict[str, Any] | RunError:
            # a host's facts right after its own handshake, not after the slowest host's
            try:
                mine = sorted(identity_files(host, ctx.state.pki_dir))  # compared by preflight
                etcd = member_data_script(remote_dirs(host)["etcd_data_dir"]) if host.in_group(ETCD) else ""
                return gather_facts(ctx.pool.get(host).connect(), mine, etcd, host_binary_paths(host))
            except RunError as e:  # unreachable, or refused (auth, host key)
                return e

        with ThreadPoolExecutor(max_workers=max(1, min(ctx.options.forks, len(hosts)))) as ex:
            answers = dict(zip([h.name for h in hosts], ex.map(connect_and_gather, hosts)))
        failures = [a for a in answers.values() if isinstance(a, RunError)]
        if failures:  # the others were only read from
            raise RunError("\n".join(str(e) for e in failures))
        facts = {name: a for name, a in answers.items() if not isinstance(a, RunError)}
        ctx.learned.facts = facts
        for name, f in facts.items():
            ui.info(f"  {name:<12} {f.get('distribution')} {f.get('distribution_version')} "
                    f"{f.get('architecture')} kernel {f.get('kernel')} ({f.get('virtualization_type')})")
