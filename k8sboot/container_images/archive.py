"""Write single-layer images in docker-save format, byte for byte reproducible.

The tar is what `docker save` writes and `ctr -n k8s.io images import` reads::

    manifest.json          [{"Config": "<cfg>.json", "RepoTags": [tag], "Layers": ["<id>/layer.tar"]}]
    repositories           {"repo": {"tag": "<id>"}}  (older loaders want it)
    <cfg>.json             the image config: entrypoint, platform, rootfs.diff_ids
    <id>/layer.tar         the files; <id>/VERSION and <id>/json for old docker loaders

Every mtime is fixed, owners are root, entries are sorted: the same inputs give
the same bytes, so the same sha256, so a rerun finds the hosts up to date and
uploads nothing. The images hold only static binaries (there is no libc in them),
which is checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import struct
import tarfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from k8sboot.errors import InputError

EPOCH = 0  # every mtime in the archive and in the config's "created"
CREATED = "1970-01-01T00:00:00Z"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}
_PT_INTERP = 3


def host_architecture() -> str:
    """The OCI name of this machine's architecture: containerd imports only matching images."""
    machine = platform.machine()
    return _ARCH.get(machine, machine)


def is_dynamic_elf(path: Path) -> bool:
    """True for an ELF file that needs a program interpreter (ld.so, hence a libc)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or len(head) < 52:
            return False
        end = "<" if head[5] == 1 else ">"
        if head[4] == 2:  # 64-bit
            phoff, = struct.unpack_from(end + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 0x36)
        else:
            phoff, = struct.unpack_from(end + "I", head, 0x1C)
            phentsize, phnum = struct.unpack_from(end + "HH", head, 0x2A)
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            ptype, = struct.unpack(end + "I", fh.read(4))
            if ptype == _PT_INTERP:
                return True
    return False


def split_tag(tag: str) -> tuple[str, str]:
    """("registry.k8s.io/pause", "3.6") from "registry.k8s.io/pause:3.6"; "latest" by default."""
    name, sep, version = tag.rpartition(":")
    if not sep or "/" in version:  # "host:5000/img" has a port, not a tag
        return tag, "latest"
    return name, version


def _info(name: str, *, size: int = 0, mode: int = 0o644, dir: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if dir else tarfile.REGTYPE
    info.size = 0 if dir else size
    info.mode = mode
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _tar(entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in sorted(entries, key=lambda e: e[0].name):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def layer_tar(files: Mapping[str, Path | bytes]) -> bytes:
    """A layer holding files (image path -> local file or content), with their parent dirs."""
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
    dirs: set[str] = set()
    for image_path, src in files.items():
        rel = PurePosixPath(image_path.lstrip("/"))
        if not rel.parts or ".." in rel.parts:
            raise InputError(f"image path {image_path!r}: must be a file path inside the image")
        for parent in list(rel.parents)[:-1]:  # all but "."
            dirs.add(str(parent))
        if isinstance(src, bytes):
            data, mode = src, 0o644
        else:
            if is_dynamic_elf(src):
                raise InputError(f"{src} is dynamically linked: the image has no libc, "
                                 f"give a static binary (gcc -static, busybox-static)")
            data = src.read_bytes()
            mode = 0o755 if os.stat(src).st_mode & 0o111 else 0o644
        entries.append((_info(str(rel), size=len(data), mode=mode), data))
    entries += [(_info(d + "/", mode=0o755, dir=True), None) for d in dirs]
    return _tar(entries)


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def build_static_image(out_path: Path, tag: str, files: Mapping[str, Path | bytes],
                       entrypoint: list[str], *, cmd: list[str] | None = None,
                       env: list[str] | None = None, architecture: str | None = None) -> Path:
    """Write a one-layer docker-save tar of files; leave out_path alone if already identical."""
    layer = layer_tar(files)
    diff_id = hashlib.sha256(layer).hexdigest()
    run_config: dict[str, object] = {
        "Entrypoint": entrypoint,
        "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "WorkingDir": "/",
    }
    if cmd:
        run_config["Cmd"] = cmd
    arch = architecture or host_architecture()
    config = _json({
        "architecture": arch, "os": "linux", "created": CREATED, "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": CREATED, "created_by": "k8sboot build_static_image"}],
    })
    config_id = hashlib.sha256(config).hexdigest()
    repo, version = split_tag(tag)
    manifest = _json([{"Config": f"{config_id}.json", "RepoTags": [f"{repo}:{version}"],
                       "Layers": [f"{diff_id}/layer.tar"]}])
    legacy = _json({"id": diff_id, "created": CREATED, "architecture": arch, "os": "linux",
                    "config": run_config})
    repositories = _json({repo: {version: diff_id}})
    outer = _tar([
        (_info(f"{diff_id}/", mode=0o755, dir=True), None),
        (_info(f"{diff_id}/VERSION", size=3), b"1.0"),
        (_info(f"{diff_id}/json", size=len(legacy)), legacy),
        (_info(f"{diff_id}/layer.tar", size=len(layer)), layer),
        (_info(f"{config_id}.json", size=len(config)), config),
        (_info("manifest.json", size=len(manifest)), manifest),
        (_info("repositories", size=len(repositories)), repositories),
    ])
    write_if_changed(out_path, outer)
    return out_path


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless the file already holds exactly data (its mtime then stays)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True
