"""Phase: check every host before anything is installed; report all problems at once.

Checks test the feature itself (a /proc entry, a listening socket), not a
package or `lsmod`: system containers share the host's kernel and have no
modules to list, and physical hosts may have things built in.
"""

from __future__ import annotations

import platform
from typing import Any

from k8sboot.cluster_layout import GROUP_PORTS, NODES
from k8sboot.errors import RunError
from k8sboot.inventory.model import Host
from k8sboot.phases.base import RunContext
from k8sboot.phases.cluster_identity import FOREIGN_HINT, foreign_report
from k8sboot.phases.learned import Learned
from k8sboot.plan import cluster_settings, uses_apiserver_lb

SUPPORTED_OS = {"debian", "ubuntu"}
OUR_PROCESSES = {"etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kubelet", "kube-proxy",
                 "containerd"}
NODE_COMMANDS = ("containerd", "ctr", "runc", "iptables", "ip")


def _arch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def check_host(host: Host, facts: dict[str, Any], apiserver_lb_port: int | None = None) -> list[str]:
    """What keeps this host from taking its roles; apiserver_lb_port when node hosts run the balancer."""
    problems: list[str] = []
    if facts.get("init") != "systemd":
        problems.append(f"unsupported OS: PID 1 is {facts.get('init')!r}, k8sboot needs systemd")
    distro = facts.get("distribution", "unknown")
    if distro not in SUPPORTED_OS and not host.vars.get("k8sboot_skip_os_check"):
        problems.append(f"unsupported OS {distro} {facts.get('distribution_version')} "
                        f"(supported: {', '.join(sorted(SUPPORTED_OS))}; "
                        f"set k8sboot_skip_os_check: true to try anyway)")
    local_arch = _arch(platform.machine())
    if _arch(str(facts.get("architecture"))) != local_arch:
        problems.append(f"architecture {facts.get('architecture')} differs from the binaries' ({local_arch})")
    if facts.get("sudo_ok") is False:
        problems.append(f"become: `sudo -n true` fails for user {host.user} (passwordless sudo needed)")
    listening: dict[int, str] = facts.get("listening", {})
    for group, ports in GROUP_PORTS.items():
        if not host.in_group(group):
            continue
        for port, what in ports.items():
            owner = listening.get(port)
            if owner and not any(owner.startswith(p) for p in OUR_PROCESSES):
                problems.append(f"port {port} ({what}) is in use by {owner}")
    if host.in_group(NODES):
        if int(facts.get("swap_devices", "0") or 0) > 0:
            problems.append("swap is on: the kubelet refuses to run with swap (swapoff -a, and remove it "
                            "from /etc/fstab)")
        for mod in ("br_netfilter", "overlay"):
            if facts.get(mod) == "missing":
                problems.append(f"kernel module {mod} is missing (neither built in nor loadable)")
        for cmd in NODE_COMMANDS:
            if facts.get(f"has_{cmd}") == "no":
                problems.append(f"{cmd} is not installed (nodes need containerd, runc and iptables)")
        if facts.get("has_python3") == "no":
            problems.append("python3 is not installed: every node runs k8sboot's pod-network routes agent "
                            "(a python3 script, standard library only)")
        if apiserver_lb_port is not None:
            if facts.get("has_haproxy") == "no" and not host.vars.get("apiserver_lb_binary"):
                problems.append("haproxy is not installed: with several control planes every node runs it as "
                                "the local apiserver load balancer (Debian's haproxy package, or set "
                                "apiserver_lb_binary)")
            owner = listening.get(apiserver_lb_port)
            if owner and not owner.startswith("haproxy"):
                problems.append(f"port {apiserver_lb_port} (apiserver load balancer) is in use by {owner}")
        if facts.get("has_cni") == "no":
            problems.append("CNI plugins are not installed (/usr/lib/cni or /opt/cni/bin: "
                            "Debian's containernetworking-plugins)")
    return problems


class Preflight:
    title = "preflight"

    def run(self, ctx: RunContext) -> None:
        facts = Learned.need(ctx.learned.facts, "the hosts' facts", "connect")
        settings = cluster_settings(ctx.inventory)
        lb_port = int(settings["apiserver_lb_port"]) if uses_apiserver_lb(ctx.inventory, settings) else None
        foreign = foreign_report(ctx)
        report = [f"{host.name} ({host.address}): {p}" for host in ctx.targets()
                  for p in check_host(host, facts[host.name], lb_port)]
        report += foreign
        if report:
            raise RunError("preflight failed, nothing was installed:\n  " + "\n  ".join(report)
                           + (FOREIGN_HINT if foreign else ""))
