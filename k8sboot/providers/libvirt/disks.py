"""The files of the libvirt VMs: the published base image, overlays, seed disks.

Per cluster, ``<pool_dir>/<cluster>/`` holds per VM a qcow2 overlay on the base
image, a tiny seed disk (label K8SBOOT-SEED: root's authorized_keys and the
hostname, picked up by the image's seed unit) and the serial console log. The
base image's disk, kernel and initrd are published once per image under
``<pool_dir>/base/<recipe hash>/``, where qemu can read them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from k8sboot.errors import RunError
from k8sboot.inventory.model import Host, Inventory
from k8sboot.providers.libvirt.names import cluster_dir
from k8sboot.providers.libvirt.settings import LibvirtSettings
from k8sboot.providers.naming import safe
from k8sboot.vm_image import BaseImage
from k8sboot.vm_image.recipe import DISK_SIZE, SEED_LABEL


@dataclass(frozen=True)
class BootFiles:
    disk: Path
    kernel: Path
    initrd: Path


@dataclass(frozen=True)
class VmFiles:
    overlay: Path
    seed: Path
    console: Path

    @classmethod
    def of(cls, settings: LibvirtSettings, inventory: Inventory, host: Host) -> VmFiles:
        d = cluster_dir(settings, inventory)
        n = safe(host.name)
        return cls(overlay=d / f"{n}.qcow2", seed=d / f"{n}-seed.img",
                   console=d / f"{n}-console.log")


def publish_base(image: BaseImage, settings: LibvirtSettings) -> BootFiles:
    """Put the base disk, kernel and initrd where qemu (libvirt-qemu) can read them.

    The cache lives in the user's home, which qemu cannot read. A hard link costs
    nothing when both are on one filesystem; otherwise copy once per image.
    """
    target = settings.pool_dir / "base" / image.recipe_hash
    boot = BootFiles(disk=target / "disk.qcow2", kernel=target / "vmlinuz",
                     initrd=target / "initrd.img")
    if all(p.exists() for p in (boot.disk, boot.kernel, boot.initrd)):
        return boot
    target.mkdir(parents=True, exist_ok=True)
    for d in (settings.pool_dir, settings.pool_dir / "base", target):
        d.chmod(0o755)
    for src, dst in ((image.disk, boot.disk), (image.kernel, boot.kernel),
                     (image.initrd, boot.initrd)):
        if dst.exists():
            continue
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, dst)
    return boot


def make_overlay(base: Path, overlay: Path, size_gib: int) -> None:
    base_gib = int(DISK_SIZE.rstrip("G"))
    size = max(size_gib, base_gib)
    _run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
          str(overlay), f"{size}G"])


def make_seed(seed: Path, authorized_key: str, hostname: str) -> None:
    """A small ext4 disk holding authorized_keys and hostname (mkfs -d: no mount)."""
    with tempfile.TemporaryDirectory(prefix="k8sboot-seed-") as tmp:
        Path(tmp, "authorized_keys").write_text(authorized_key.strip() + "\n")
        Path(tmp, "hostname").write_text(hostname + "\n")
        part = seed.with_name(f".{seed.name}.{os.getpid()}")
        _run(["mkfs.ext4", "-q", "-F", "-L", SEED_LABEL, "-d", tmp, str(part), "8M"])
        part.chmod(0o644)
        os.replace(part, seed)


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RunError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")
