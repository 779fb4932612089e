"""One container's LXC configuration: privileged, systemd inside, a veth per NIC.

Why each line is there (LAB.md, "System containers"): no AppArmor confinement and
all devices, because containerd and runc run inside; `/dev/kmsg` for the kubelet;
the kernel settings the kubelet wants, as bind-mounted files; SIGRTMIN+3 so
`lxc-stop` is a clean systemd shutdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# lxc.net.N.script.up: LXC checks bridges through /sys, which under `nsenter --net`
# shows the root namespace, so the host end is attached here instead of with
# lxc.net.N.link (works in any namespace). LXC 5.0 passes the host end as the 5th
# argument (LXC_NET_PEER is not set).
VETH_UP = """\
#!/bin/sh
peer="${{LXC_NET_PEER:-$5}}"
ip link set "$peer" master {bridge} && ip link set "$peer" up{extra}
"""
# for a bridge the controller must not reach: no IPv6 link-local address on its ports
VETH_UP_NO_IPV6 = '\necho 1 > "/proc/sys/net/ipv6/conf/$peer/disable_ipv6"'


@dataclass(frozen=True)
class Nic:
    veth: str  # the host end's name (at most 15 characters)
    mac: str
    up_script: Path  # attaches the host end to its bridge (write_veth_script)


def write_veth_script(path: Path, bridge: str, isolated: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VETH_UP.format(bridge=bridge, extra=VETH_UP_NO_IPV6 if isolated else ""))
    path.chmod(0o755)
    return path


def container_config(name: str, rootfs: Path, nics: list[Nic],
                     sysctl_files: Mapping[str, Path], log_dir: Path) -> str:
    binds = "".join(f"lxc.mount.entry = {path} proc/sys/{rel} none bind,create=file 0 0\n"
                    for rel, path in sysctl_files.items())
    net = ""
    for index, nic in enumerate(nics):
        key = f"lxc.net.{index}"
        net += (f"{key}.type = veth\n"
                f"{key}.veth.pair = {nic.veth}\n"
                f"{key}.hwaddr = {nic.mac}\n"
                f"{key}.name = eth{index}\n"
                f"{key}.flags = up\n"
                f"{key}.script.up = {nic.up_script}\n")
    return (
        f"# k8sboot container {name}\n"
        f"lxc.uts.name = {name}\n"
        f"lxc.rootfs.path = dir:{rootfs}\n"
        "lxc.apparmor.profile = unconfined\n"
        "lxc.cap.drop =\n"
        "lxc.cgroup.devices.allow = a\n"
        "lxc.mount.auto = proc:mixed sys:mixed cgroup:mixed\n"
        "lxc.autodev = 1\n"
        "lxc.pty.max = 64\n"
        "lxc.tty.max = 0\n"
        "lxc.signal.halt = SIGRTMIN+3\n"
        "lxc.mount.entry = /dev/kmsg dev/kmsg none bind,create=file 0 0\n"
        f"{binds}"
        f"{net}"
        f"lxc.console.logfile = {log_dir / 'console.log'}\n"
        f"lxc.log.file = {log_dir / 'lxc.log'}\n"
        "lxc.log.level = WARN\n"
    )


def network_file(interface: str, address: str, prefixlen: int, gateway: str | None) -> str:
    """systemd-networkd's static address for one NIC (wins over the image's DHCP file)."""
    gw = f"Gateway={gateway}\n" if gateway else ""
    return ("[Match]\n"
            f"Name={interface}\n\n[Network]\n"
            f"Address={address}/{prefixlen}\n{gw}"
            "DHCP=no\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
