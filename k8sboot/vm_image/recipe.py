"""What goes into the base image: the package list and the customisation of the rootfs.

The recipe hash names the cached image, so anything here that changes the result
must be part of it: edit ``PACKAGES`` or bump ``CUSTOMISE_VERSION`` whenever
``customise`` writes something different, and the next run rebuilds.

The customisation only writes files into the rootfs directory (no chroot, no
mounts), so it is quick and reviewable.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SUITE = "bookworm"
VARIANT = "minbase"
PACKAGES: tuple[str, ...] = (
    "systemd", "systemd-sysv", "udev", "openssh-server", "linux-image-amd64",
    "iproute2", "kmod", "procps", "containerd", "containernetworking-plugins",
    "conntrack", "iptables", "ca-certificates", "python3", "sudo", "socat",
    "ethtool", "ebtables", "curl", "util-linux", "e2fsprogs",
    # logind needs a system bus: it turns the ACPI power button (libvirt's graceful
    # shutdown) into a poweroff, and non-root users can talk to systemd
    "dbus",
    # the node-local load balancer in front of every apiserver of an HA control plane
    "haproxy",
)
CUSTOMISE_VERSION = 3
DISK_SIZE = "6G"  # the ext4 image's size; a VM's bigger disk is grown at boot (growroot)
SEED_LABEL = "K8SBOOT-SEED"


def recipe_hash() -> str:
    """A short stable id of everything that shapes the image (not the mirror)."""
    recipe = {
        "suite": SUITE,
        "variant": VARIANT,
        "packages": sorted(PACKAGES),
        "customise": CUSTOMISE_VERSION,
        "disk_size": DISK_SIZE,
    }
    blob = json.dumps(recipe, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# sshd: every machine makes its own host key at first start. Only ed25519: RSA keys
# take many seconds to generate under software emulation. The empty ExecStartPre=
# drops Debian's `sshd -t`, which would run first, fail for want of keys, and keep
# sshd from ever starting.
SSH_HOSTKEYS_DROPIN = """\
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c '[ -s /etc/ssh/ssh_host_ed25519_key ] || \\
  ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
"""

SSHD_CONFIG = """\
# k8sboot: keys only (root may log in with a key: Debian's prohibit-password default)
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""

# VMs get their address from libvirt's dnsmasq, which pins one IP per MAC. The
# client id must be the MAC: all VMs share one image, so DUID-based ids could collide.
NETWORKD_DHCP = """\
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
ClientIdentifier=mac
"""

SEED_UNIT = f"""\
[Unit]
Description=k8sboot: SSH key and hostname from the {SEED_LABEL} disk
DefaultDependencies=no
After=local-fs.target
Before=ssh.service network-pre.target systemd-networkd.service shutdown.target
Wants=network-pre.target
Conflicts=shutdown.target
# containers get their key and hostname written straight into their rootfs
ConditionVirtualization=!container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/k8sboot-seed

[Install]
WantedBy=multi-user.target
"""

# The disk is probed by the kernel before / is mounted, so blkid finds it at once:
# no waiting for udev, and no delay at all on machines without a seed disk.
SEED_SCRIPT = f"""\
#!/bin/sh
# Installs root's authorized_keys and the hostname from a disk labelled {SEED_LABEL}.
set -eu
dev=$(blkid -L {SEED_LABEL} 2>/dev/null || true)
[ -n "$dev" ] || exit 0
mnt=/run/k8sboot-seed
mkdir -p "$mnt"
mount -o ro "$dev" "$mnt"
trap 'umount "$mnt"' EXIT
if [ -f "$mnt/authorized_keys" ]; then
  install -d -m 700 /root/.ssh
  install -m 600 "$mnt/authorized_keys" /root/.ssh/authorized_keys
fi
if [ -s "$mnt/hostname" ]; then
  name=$(head -n1 "$mnt/hostname")
  echo "$name" > /etc/hostname
  hostname "$name"
  sed -i "/^127\\.0\\.1\\.1/d" /etc/hosts
  echo "127.0.1.1 $name" >> /etc/hosts
fi
"""

# A VM's disk may be larger than the image's filesystem: grow it online. Not
# ordered before anything: under emulation it takes seconds and SSH need not wait.
GROWROOT_UNIT = """\
[Unit]
Description=k8sboot: grow the root filesystem to its disk
After=local-fs.target
ConditionVirtualization=!container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/k8sboot-growroot

[Install]
WantedBy=multi-user.target
"""
GROWROOT_SCRIPT = """\
#!/bin/sh
dev=$(findmnt -n -o SOURCE /)
case "$dev" in
  /dev/vd*|/dev/sd*) exec resize2fs "$dev" ;;
esac
"""

HOSTS = """\
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
"""


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _enable(root: Path, unit: str, wanted_by: str, target: str | None = None) -> None:
    """What `systemctl enable` does: a symlink in the target's .wants directory."""
    wants = root / "etc/systemd/system" / f"{wanted_by}.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / unit
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target or f"/lib/systemd/system/{unit}")


def _mask(root: Path, unit: str) -> None:
    link = root / "etc/systemd/system" / unit
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to("/dev/null")


def _disable(root: Path, unit: str, wanted_by: str) -> None:
    (root / "etc/systemd/system" / f"{wanted_by}.wants" / unit).unlink(missing_ok=True)


def _lock_root_password(root: Path) -> None:
    shadow = root / "etc/shadow"
    lines = shadow.read_text().splitlines()
    for i, line in enumerate(lines):
        fields = line.split(":")
        if fields[0] == "root":
            fields[1] = "*"  # no password at all; key logins still work
            lines[i] = ":".join(fields)
    shadow.write_text("\n".join(lines) + "\n")


def customise(root: Path) -> None:
    """Turn a fresh mmdebstrap rootfs into the k8sboot base image."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    _write(root, "etc/systemd/system/ssh.service.d/k8sboot-hostkeys.conf", SSH_HOSTKEYS_DROPIN)
    _write(root, "etc/ssh/sshd_config.d/k8sboot.conf", SSHD_CONFIG)

    _write(root, "etc/systemd/network/80-k8sboot-dhcp.network", NETWORKD_DHCP)
    _enable(root, "systemd-networkd.service", "multi-user.target")
    _enable(root, "systemd-networkd.socket", "sockets.target")

    _write(root, "usr/local/sbin/k8sboot-seed", SEED_SCRIPT, 0o755)
    _write(root, "etc/systemd/system/k8sboot-seed.service", SEED_UNIT)
    _enable(root, "k8sboot-seed.service", "multi-user.target",
            "/etc/systemd/system/k8sboot-seed.service")
    _write(root, "usr/local/sbin/k8sboot-growroot", GROWROOT_SCRIPT, 0o755)
    _write(root, "etc/systemd/system/k8sboot-growroot.service", GROWROOT_UNIT)
    _enable(root, "k8sboot-growroot.service", "multi-user.target",
            "/etc/systemd/system/k8sboot-growroot.service")
    # a login prompt on the serial console, where the VM's log goes
    _enable(root, "serial-getty@ttyS0.service", "getty.target",
            "/lib/systemd/system/serial-getty@.service")

    # an empty machine-id counts as a first boot: firstboot would prompt on the console
    _mask(root, "systemd-firstboot.service")
    # no mirror is reachable from lab machines, and under software emulation these
    # periodic jobs only steal CPU from the cluster
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
                  "e2scrub_all.timer", "fstrim.timer"):
        _disable(root, timer, "timers.target")

    _lock_root_password(root)
    _write(root, "etc/fstab", "# k8sboot: / comes from the kernel command line\n")
    _write(root, "etc/hostname", "k8sboot\n")
    _write(root, "etc/hosts", HOSTS)
    # no DNS in the lab; the file must exist (the kubelet reads it)
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    _write(root, "etc/resolv.conf", "# k8sboot: no DNS server configured\n")
    # empty machine-id: each machine (and each container) generates its own at boot
    _write(root, "etc/machine-id", "", 0o444)
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.is_symlink() or dbus_id.exists():
        os.unlink(dbus_id)
