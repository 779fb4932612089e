"""The cluster's bridge: containers' veths attach to it; its .1 is their gateway.

It has no route out (no NAT): k8sboot uploads everything the hosts need.
"""

from __future__ import annotations

import ipaddress
import subprocess

from k8sboot.errors import RunError


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)
    if check and done.returncode != 0:
        raise RunError(f"ip {' '.join(args)}: {(done.stderr or done.stdout).strip()}")
    return done


def gateway_of(network: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    return network.network_address + 1


def ensure_bridge(bridge: str, network: ipaddress.IPv4Network) -> None:
    if _ip("link", "show", bridge, check=False).returncode != 0:
        _ip("link", "add", bridge, "type", "bridge")
    gateway = gateway_of(network)
    have = _ip("-4", "-o", "addr", "show", "dev", bridge).stdout
    if f" {gateway}/" not in have:
        _ip("addr", "add", f"{gateway}/{network.prefixlen}", "dev", bridge)
    _ip("link", "set", bridge, "up")


def remove_bridge(bridge: str) -> bool:
    """True when there was one to remove."""
    if _ip("link", "show", bridge, check=False).returncode != 0:
        return False
    _ip("link", "del", bridge)
    return True
