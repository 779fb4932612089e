"""Build (once) and cache the base image every lab machine boots.

    from k8sboot.vm_image import ensure_base_image
    image = ensure_base_image()          # 1.5-2.5 min the first time, then instant

The result is kept under ``$XDG_CACHE_HOME/k8sboot/images/<recipe_hash>/``:

    rootfs/        the whole system as a plain directory (system containers copy it)
    disk.qcow2     the same tree as an ext4 disk (VMs put an overlay on it)
    vmlinuz, initrd.img   for direct kernel boot
    recipe.json    written last: a directory without it is not an image

No loop devices and no mounts: mmdebstrap writes a directory, ``mkfs.ext4 -d``
turns it into a disk. The build happens in a temporary directory renamed into place,
so an interrupted build never leaves a half image behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from k8sboot.errors import K8sbootError
from k8sboot.paths import user_cache_dir
from k8sboot.vm_image import recipe

Log = Callable[[str], None]
DEB822_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
ONE_LINE_SOURCES = Path("/etc/apt/sources.list")


@dataclass(frozen=True)
class BaseImage:
    rootfs_dir: Path
    disk: Path
    kernel: Path
    initrd: Path
    recipe_hash: str


class ImageBuildError(K8sbootError):
    """The base image could not be built (mmdebstrap, mkfs or qemu-img failed)."""


def default_cache_dir() -> Path:
    return user_cache_dir() / "images"


def ensure_base_image(cache_dir: Path | None = None, force: bool = False,
                      log: Log = print) -> BaseImage:
    """Return the cached base image for the current recipe, building it if needed."""
    images = cache_dir or default_cache_dir()
    images.mkdir(parents=True, exist_ok=True)
    digest = recipe.recipe_hash()
    final = images / digest
    # one builder at a time; the others wait and then find the image ready
    with _locked(images / f"{digest}.lock"):
        if force or not (final / "recipe.json").exists():
            _build(images, digest, log)
        else:
            log(f"image: {digest} cached at {final}")
    return _image_at(final, digest)


def _image_at(root: Path, digest: str) -> BaseImage:
    return BaseImage(rootfs_dir=root / "rootfs", disk=root / "disk.qcow2",
                     kernel=root / "vmlinuz", initrd=root / "initrd.img", recipe_hash=digest)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(images: Path, digest: str, log: Log) -> None:
    started = time.monotonic()
    tmp = images / f".build-{digest}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        rootfs = tmp / "rootfs"
        _mmdebstrap(rootfs, log)
        log("image: customising the rootfs")
        recipe.customise(rootfs)
        _copy_boot_files(rootfs, tmp)
        _make_disk(rootfs, tmp, log)
        (tmp / "recipe.json").write_text(json.dumps({
            "hash": digest, "suite": recipe.SUITE, "variant": recipe.VARIANT,
            "packages": list(recipe.PACKAGES), "customise": recipe.CUSTOMISE_VERSION,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }, indent=2) + "\n")
        _swap_into_place(tmp, images / digest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log(f"image: {digest} built in {time.monotonic() - started:.0f} s")


def _swap_into_place(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def host_mirrors() -> list[str]:
    """One-line apt sources taken from the host's own configuration.

    The host's mirror is the only one reachable here, and on any other machine it
    is the one its owner chose. Only the suites of our release are kept.
    """
    lines: list[str] = []
    if DEB822_SOURCES.exists():
        for stanza in DEB822_SOURCES.read_text().split("\n\n"):
            fields = _deb822_fields(stanza)
            if "deb" not in fields.get("types", "").split():
                continue
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    if suite.startswith(recipe.SUITE):
                        lines.append(f"deb {uri} {suite} {fields.get('components', 'main')}")
    elif ONE_LINE_SOURCES.exists():
        for line in ONE_LINE_SOURCES.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and any(p.startswith(recipe.SUITE) for p in parts):
                lines.append(line.strip())
    return lines or [f"deb http://deb.debian.org/debian {recipe.SUITE} main"]


def _deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for raw in stanza.splitlines():
        if raw.startswith("#") or not raw.strip():
            continue
        if raw[0] in " \t" and key:  # continuation line
            fields[key] += " " + raw.strip()
            continue
        key, _, value = raw.partition(":")
        key = key.strip().lower()
        fields[key] = value.strip()
    return fields


def _host_netns_prefix() -> list[str]:
    """Run in the host's network namespace when we are inside the lab's.

    The tests run inside the lab namespace, which has no route to the mirror;
    the package download is the one thing that must happen outside it. Kernel
    threads (kthreadd is PID 2) always live in the initial namespace; PID 1's
    /proc entries may be unreadable (a sandbox's init is not always dumpable).
    """
    try:
        if os.readlink("/proc/self/ns/net") != os.readlink("/proc/2/ns/net"):
            return ["nsenter", "--net=/proc/2/ns/net"]
    except OSError:
        pass
    return []


def _mmdebstrap(rootfs: Path, log: Log) -> None:
    mirrors = host_mirrors()
    log(f"image: mmdebstrap {recipe.SUITE} ({len(recipe.PACKAGES)} packages) from "
        f"{', '.join(sorted({m.split()[1] for m in mirrors}))}; this takes a few minutes")
    cmd = [*_host_netns_prefix(), "mmdebstrap", f"--variant={recipe.VARIANT}",
           f"--include={','.join(recipe.PACKAGES)}", recipe.SUITE, str(rootfs), *mirrors]
    _run_logged(cmd, log)


def _run_logged(cmd: list[str], log: Log) -> None:
    """Run a command, forwarding its progress lines (mmdebstrap's `I:` lines)."""
    tail: list[str] = []
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-30:]
            if line.startswith(("I: ", "E: ", "W: ")):
                log(f"image:   {line}")
    if proc.returncode != 0:
        raise ImageBuildError(f"{cmd[0]} failed ({proc.returncode}):\n" + "\n".join(tail))


def _copy_boot_files(rootfs: Path, out: Path) -> None:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise ImageBuildError(f"no kernel in {rootfs / 'boot'}")
    kernel = kernels[-1]
    version = kernel.name.removeprefix("vmlinuz-")
    initrd = rootfs / "boot" / f"initrd.img-{version}"
    if not initrd.exists():
        raise ImageBuildError(f"no initrd for kernel {version} in {rootfs / 'boot'}")
    for src, name in ((kernel, "vmlinuz"), (initrd, "initrd.img")):
        shutil.copyfile(src, out / name)
        (out / name).chmod(0o644)  # Debian makes them root-only; qemu runs as libvirt-qemu


def _make_disk(rootfs: Path, out: Path, log: Log) -> None:
    raw = out / "disk.raw"
    log(f"image: mkfs.ext4 -d ({recipe.DISK_SIZE}) and qemu-img convert")
    _check([*["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(rootfs)], str(raw),
            recipe.DISK_SIZE])
    _check(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out / "disk.qcow2")])
    raw.unlink()
    (out / "disk.qcow2").chmod(0o644)


def _check(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise ImageBuildError(f"{' '.join(cmd)} failed ({done.returncode}): "
                              f"{(done.stderr or done.stdout).strip()}")
