"""Nodes: the kernel features and settings pod networking and kube-proxy need."""

from __future__ import annotations

import pytest

from k8sboot import cluster_layout as layout

pytestmark = pytest.mark.group(layout.NODES)

SYSCTLS = {"net.ipv4.ip_forward": "1", "net.bridge.bridge-nf-call-iptables": "1"}


def test_br_netfilter(host):
    """br_netfilter available"""
    assert host.file("/proc/sys/net/bridge").is_directory, (
        "br_netfilter is not loaded (/proc/sys/net/bridge is missing)"
    )


def test_overlay(host):
    """overlay filesystem available"""
    names = [
        line.split()[-1]
        for line in host.file("/proc/filesystems").content_string.splitlines()
        if line
    ]
    assert "overlay" in names, "overlay is not in /proc/filesystems (modprobe overlay)"


@pytest.mark.parametrize("key", sorted(SYSCTLS))
def test_sysctl(host, key):
    """sysctl {key} = 1"""
    path = "/proc/sys/" + key.replace(".", "/")
    # read the file, not `sysctl`: procps is not on every minimal image
    f = host.file(path)
    assert f.exists, f"{key}: {path} does not exist"
    value = f.content_string.strip()
    assert value == SYSCTLS[key], f"{key} = {value}, expected {SYSCTLS[key]}"
