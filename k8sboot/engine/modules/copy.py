"""ansible.builtin.copy: `src` (a local file) or `content`, uploaded only when the checksum differs."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec
from k8sboot.engine.modules.remote_file import dest_probes, ensure_file
from k8sboot.errors import InputError

_sha_cache: dict[tuple[str, int, int], str] = {}
_sha_lock = threading.Lock()
_hashing: dict[str, threading.Lock] = {}  # path -> held while one thread hashes it
# local files whose content was checked earlier in the run (the user's binaries, by
# the binaries phase): uploading anything else under that name is refused
_pinned: dict[str, str] = {}


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns)


def pin_sha256(path: Path, sha256: str) -> None:
    """Only this content may be uploaded from `path` in this run.

    The caller has just checked the file's sha256: it is remembered for the
    file as it is now, so no host's copy task hashes it again (at 10 hosts,
    kubelet alone was a GB of hashing per run).
    """
    stamp = _stamp(path)
    with _sha_lock:
        _pinned[str(path)] = sha256
        _sha_cache[stamp] = sha256


def local_sha256(path: Path) -> str:
    """sha256 of a local file, memoised by (path, size, mtime): binaries are hashed once per run."""
    key = _stamp(path)
    with _sha_lock:
        if key in _sha_cache:
            return _sha_cache[key]
        path_lock = _hashing.setdefault(str(path), threading.Lock())
    with path_lock:  # hosts asking at once: one hashes, the others wait for its answer
        with _sha_lock:
            if key in _sha_cache:
                return _sha_cache[key]
        h = hashlib.sha256()
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        digest = h.hexdigest()
        with _sha_lock:
            _sha_cache[key] = digest
    return digest


def _resolve_src(ctx: ModuleContext, src: str) -> Path:
    p = Path(os.path.expanduser(src))
    if not p.is_absolute() and ctx.role_dir is not None:
        p = ctx.role_dir / "files" / src
    if not p.is_file():
        raise InputError(f"copy: source file {p} does not exist")
    return p


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    dest = str(args["dest"])
    if "content" in args:
        content = args["content"]
        text = content if isinstance(content, str) else str(content)
        data = text.encode()
        return ensure_file(ctx, dest, data, hashlib.sha256(data).hexdigest(), args.get("mode"),
                           args.get("owner"), args.get("group"), text_for_diff=text)
    if "src" not in args:
        raise InputError("copy needs `src` or `content`")
    src = _resolve_src(ctx, str(args["src"]))
    digest = local_sha256(src)
    pinned = _pinned.get(str(src))
    if pinned is not None and pinned != digest:
        return ModuleResult(failed=True, msg=f"{src} changed since it was checked at the start of the run "
                                             f"(sha256 {pinned[:12]}... then, {digest[:12]}... now): "
                                             "nothing was uploaded; rerun to use the new file")
    # a pinned file is one of the user's binaries: public, so it may travel by HTTP (file_offer)
    return ensure_file(ctx, dest, src, digest, args.get("mode"), args.get("owner"), args.get("group"),
                       public=pinned is not None)


SPEC = ModuleSpec("copy", run, frozenset({"src", "content", "dest", "mode", "owner", "group"}),
                  frozenset({"dest"}), probes=dest_probes)
