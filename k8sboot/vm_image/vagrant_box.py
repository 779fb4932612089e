"""The k8sboot Vagrant box: the base image packaged for vagrant-libvirt, with no download.

    k8sboot image build --format vagrant-libvirt      # -> ensure_box(...)

A vagrant-libvirt box is an uncompressed tar of::

    box.img         the disk (qcow2): the base image's rootfs plus a `vagrant` user
    metadata.json   {"provider": "libvirt", "format": "qcow2", "virtual_size": 6}
    Vagrantfile     direct kernel boot and our SSH key (merged under the user's)
    vmlinuz, initrd.img, k8sboot-box.json

SSH: the box authorizes a key of our own (``~/.cache/k8sboot/vagrant/id_ed25519``),
not Vagrant's public insecure key; the box's Vagrantfile names it
(``config.ssh.private_key_path``) and sets ``config.ssh.insert_key = false``, so
`vagrant up` skips swapping keys (about 13 s under emulation, LAB.md).

Kernel: libvirt's qemu runs as libvirt-qemu and cannot read the box directory
under the user's home, so the kernel and initrd are also placed under
``/var/lib/libvirt/images/k8sboot/boxes/<box id>/`` (the box's Vagrantfile puts
them back there if they are missing).

The box id hashes the base image's recipe, this module's format version and the
public key: the box is rebuilt and re-added only when one of them changes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from k8sboot.errors import InputError, K8sbootError
from k8sboot.paths import user_cache_dir
from k8sboot.providers.base import Log, ensure_keypair, public_key_of
from k8sboot.providers.vagrant.cli import error_tail, find_vagrant
from k8sboot.providers.vagrant.settings import DEFAULT_BOX
from k8sboot.vm_image import BaseImage
from k8sboot.vm_image import build as image_build
from k8sboot.vm_image.recipe import DISK_SIZE
from k8sboot.vm_image.vagrant_rootfs import USER, add_vagrant_user

BOX_FORMAT_VERSION = 2  # bump when the box's content changes in a way the recipe hash misses
PROVIDER = "libvirt"
BOOT_ROOT = Path("/var/lib/libvirt/images/k8sboot/boxes")
CMD_LINE = "root=/dev/vda rw console=ttyS0"
ID_FILE = "k8sboot-box.json"
# where vagrant-libvirt uploads box images by default (the project's settings can differ)
VAGRANT_LIBVIRT_URI = "qemu:///system"
VAGRANT_LIBVIRT_POOL = "default"


@dataclass(frozen=True)
class VagrantBox:
    name: str
    box_id: str
    path: Path  # the .box file
    boot_dir: Path  # kernel + initrd where libvirt-qemu can read them
    key: Path  # the private key the box authorizes
    added: bool  # True when this call ran `vagrant box add`


def vagrant_cache_dir() -> Path:
    return user_cache_dir() / "vagrant"


def box_key(cache: Path | None = None) -> Path:
    return ensure_keypair((cache or vagrant_cache_dir()) / "id_ed25519", comment="k8sboot-vagrant")


def box_id(recipe_hash: str, public_key: str) -> str:
    blob = json.dumps({"recipe": recipe_hash, "format": BOX_FORMAT_VERSION,
                       "key": public_key.split()[:2]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def metadata(virtual_size_gib: int) -> dict[str, object]:
    return {"provider": PROVIDER, "format": "qcow2", "virtual_size": virtual_size_gib}


def box_vagrantfile(the_id: str, key: Path, boot_dir: Path) -> str:
    """The Vagrantfile inside the box: Vagrant merges it under the project's."""
    return f"""\
# k8sboot box {the_id}: Debian bookworm booted straight from its kernel (no bootloader).
require "fileutils"

boot_dir = "{boot_dir}"
box_dir = File.dirname(__FILE__)
# libvirt's qemu cannot read this box directory (under the user's home): the kernel
# and initrd must sit where it can. k8sboot puts them there; this covers a box
# added on another machine.
%w[vmlinuz initrd.img].each do |name|
  target = File.join(boot_dir, name)
  next if File.exist?(target)
  FileUtils.mkdir_p(boot_dir, mode: 0o755)
  FileUtils.cp(File.join(box_dir, name), target)
  File.chmod(0o644, target)
end

Vagrant.configure("2") do |config|
  # our own key, not Vagrant's public insecure one; nothing to swap at first boot
  config.ssh.username = "{USER}"
  config.ssh.private_key_path = ["{key}"]
  config.ssh.insert_key = false
  # no rsync in the image and no network to fetch it: no synced folder
  config.vm.synced_folder ".", "/vagrant", disabled: true
  # the guest is known: Vagrant's detection probes it over SSH for ~17 s under emulation
  config.vm.guest = :debian
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(boot_dir, "vmlinuz")
    libvirt.initrd = File.join(boot_dir, "initrd.img")
    libvirt.cmd_line = "{CMD_LINE}"
    libvirt.disk_bus = "virtio"
  end
end
"""


def _gib(size: str) -> int:
    return int(size.rstrip("G"))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


# -- building -------------------------------------------------------------------------

def _copy_rootfs(src: Path, dst: Path) -> None:
    # cp -a keeps owners, modes, device nodes, hard links and xattrs: all of a rootfs
    done = subprocess.run(["cp", "-a", "--reflink=auto", str(src), str(dst)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise image_build.ImageBuildError(f"copying {src} failed: {done.stderr.strip()}")


def build_box(image: BaseImage, out: Path, the_id: str, key: Path, log: Log) -> Path:
    """Make `out/<name>.box` from the base image (in a temporary dir renamed into place)."""
    started = time.monotonic()
    tmp = out.with_name(f".build-{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        rootfs = tmp / "rootfs"
        log(f"vagrant box: copying the base image's rootfs ({image.recipe_hash})")
        _copy_rootfs(image.rootfs_dir, rootfs)
        add_vagrant_user(rootfs, public_key_of(key))
        image_build._make_disk(rootfs, tmp, log)  # the base image's own mkfs + qemu-img
        shutil.rmtree(rootfs)
        os.replace(tmp / "disk.qcow2", tmp / "box.img")
        boot_dir = BOOT_ROOT / the_id
        (tmp / "metadata.json").write_text(json.dumps(metadata(_gib(DISK_SIZE))) + "\n")
        (tmp / "Vagrantfile").write_text(box_vagrantfile(the_id, key, boot_dir))
        (tmp / ID_FILE).write_text(json.dumps({"box_id": the_id,
                                               "recipe_hash": image.recipe_hash}) + "\n")
        shutil.copyfile(image.kernel, tmp / "vmlinuz")
        shutil.copyfile(image.initrd, tmp / "initrd.img")
        box = tmp / "k8sboot-libvirt.box"
        log("vagrant box: packing (uncompressed tar)")
        with tarfile.open(box, "w") as tar:  # "w": no compression, qcow2 barely shrinks
            for name in ("metadata.json", "Vagrantfile", ID_FILE, "vmlinuz", "initrd.img",
                         "box.img"):
                tar.add(tmp / name, arcname=name)
                (tmp / name).unlink()
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"vagrant box: {the_id} built in {time.monotonic() - started:.0f} s")
    return out / "k8sboot-libvirt.box"


def publish_boot_files(image: BaseImage, boot_dir: Path) -> None:
    """Kernel and initrd where libvirt-qemu can read them (once per box id)."""
    if (boot_dir / "vmlinuz").exists() and (boot_dir / "initrd.img").exists():
        return
    boot_dir.mkdir(parents=True, exist_ok=True)
    for d in (boot_dir.parent, boot_dir):
        d.chmod(0o755)
    for src, name in ((image.kernel, "vmlinuz"), (image.initrd, "initrd.img")):
        tmp = boot_dir / f".{name}.{os.getpid()}"
        shutil.copyfile(src, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, boot_dir / name)


# -- Vagrant's box store ----------------------------------------------------------------

def _vagrant(args: list[str], cwd: Path) -> str:
    """A box command, run away from any Vagrantfile (Vagrant would load it)."""
    env = dict(os.environ, VAGRANT_CHECKPOINT_DISABLE="1", VAGRANT_NO_COLOR="1")
    for var in ("VAGRANT_CWD", "VAGRANT_VAGRANTFILE", "VAGRANT_DOTFILE_PATH"):
        env.pop(var, None)
    done = subprocess.run([find_vagrant(), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise image_build.ImageBuildError(
            f"vagrant {' '.join(args)} failed; Vagrant said:\n{error_tail(done.stderr, done.stdout)}")
    return done.stdout


def parse_box_list(text: str) -> list[tuple[str, str, str]]:
    """(name, provider, version) from `vagrant box list --machine-readable`."""
    boxes: list[tuple[str, str, str]] = []
    name = provider = None
    for line in text.splitlines():
        fields = line.split(",", 3)
        if len(fields) < 4:
            continue
        kind, value = fields[2], fields[3]
        if kind == "box-name":
            name, provider = value, None
        elif kind == "box-provider":
            provider = value
        elif kind == "box-version" and name is not None:
            boxes.append((name, provider or "", value))
            name = provider = None
    return boxes


def box_installed(name: str, cwd: Path | None = None) -> bool:
    cwd = cwd or vagrant_cache_dir()
    cwd.mkdir(parents=True, exist_ok=True)
    listing = _vagrant(["box", "list", "--machine-readable"], cwd)
    return any(n == name and p == PROVIDER for n, p, _ in parse_box_list(listing))


def _vagrant_home() -> Path:
    return Path(os.environ.get("VAGRANT_HOME") or Path.home() / ".vagrant.d")


def added_box_id(name: str) -> str | None:
    """The id of the k8sboot box Vagrant holds under `name` (read from its box dir)."""
    escaped = name.replace("/", "-VAGRANTSLASH-")
    for path in sorted((_vagrant_home() / "boxes" / escaped).glob(f"*/{PROVIDER}/{ID_FILE}")):
        try:
            return str(json.loads(path.read_text())["box_id"])
        except (OSError, ValueError, KeyError):
            return None
    return None


def _prune_pool(name: str, log: Log) -> None:
    """Old images of this box in libvirt's pool: best effort (libvirtd may be down)."""
    from k8sboot.providers.vagrant.cleanup import prune_box_volumes

    try:
        prune_box_volumes(VAGRANT_LIBVIRT_URI, VAGRANT_LIBVIRT_POOL, name, log)
    except K8sbootError as exc:
        log(f"vagrant box: old box images not checked ({exc})")


def ensure_box(image: BaseImage, log: Log, name: str = DEFAULT_BOX,
               force: bool = False) -> VagrantBox:
    """Build (if the base image or key changed) and add the box; instant when cached."""
    find_vagrant()
    cache = vagrant_cache_dir()
    key = box_key(cache)
    the_id = box_id(image.recipe_hash, public_key_of(key))
    out = cache / "boxes" / the_id
    box = out / "k8sboot-libvirt.box"
    boot_dir = BOOT_ROOT / the_id
    with _locked(cache / "box.lock"):
        if force or not box.exists():
            build_box(image, out, the_id, key, log)
            for old in (cache / "boxes").iterdir():  # earlier builds: only the newest is kept
                if old.is_dir() and old.name != the_id and not old.name.startswith("."):
                    shutil.rmtree(old, ignore_errors=True)
        publish_boot_files(image, boot_dir)
        added = False
        if force or added_box_id(name) != the_id or not box_installed(name, cache):
            _prune_pool(name, log)
            log(f"vagrant box: vagrant box add --name {name} --force {box}")
            _vagrant(["box", "add", "--name", name, "--force", str(box)], cache)
            if added_box_id(name) != the_id:
                raise InputError(f"vagrant box add did not install box {the_id} as {name} "
                                 f"(VAGRANT_HOME={_vagrant_home()})")
            added = True
        else:
            log(f"vagrant box: {name} ({the_id}) already added")
    return VagrantBox(name=name, box_id=the_id, path=box, boot_dir=boot_dir, key=key,
                      added=added)
