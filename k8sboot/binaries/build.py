"""Build Kubernetes components from a source tree with the tree's own Makefile.

The recipe that works for Debian's `kubernetes` source (no git checkout, vendored
dependencies, distribution Go): a GOPATH whose src/k8s.io/kubernetes links to
the tree, make run from that link, CGO_ENABLED=0 (static binaries that run on
any host), all components in ONE `make WHAT=...` call because the first call
spends most of the time (~4.5 of ~6.5 min on 2 cores) generating code. The code
generators need rsync and jq ("Permission denied" without them).
"""

from __future__ import annotations

import collections
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from k8sboot.binaries import reflect2
from k8sboot.binaries.resolve import default_cache_dir
from k8sboot.errors import InputError, K8sbootError

Log = Callable[[str], None]
TOOLS = ("go", "make", "rsync", "jq")
_IMPORT_PATH = Path("src/k8s.io/kubernetes")


class BuildError(K8sbootError):
    """make failed; the message carries the end of its output."""


def build_from_source(src_dir: Path, components: list[str], out_dir: Path | None,
                      log: Log = print, *, fix_reflect2: bool = False,
                      extra_env: Mapping[str, str] | None = None) -> Path:
    """Build components (e.g. ["kubelet", "kube-proxy"]) and return the directory holding them.

    That is the tree's _output/bin, or out_dir when given (the binaries copied there).
    """
    given = src_dir.expanduser().absolute()
    src = given.resolve()
    _preflight(src, components, fix_reflect2)
    if fix_reflect2:
        reflect2.swap_reflect2(src, log)
    gopath, workdir = _gopath(given, src)
    env = {**os.environ, **(extra_env or {}), "GOPATH": str(gopath), "CGO_ENABLED": "0", "PWD": str(workdir)}
    what = " ".join(f"cmd/{c}" for c in components)
    log(f"build: make WHAT='{what}' in {workdir} (GOPATH={gopath}, CGO_ENABLED=0); "
        f"a tree's first make spends minutes generating code (~6.5 min for all six on 2 cores)")
    started = time.monotonic()
    _make(["make", f"WHAT={what}"], workdir, env, log)
    log(f"build: done in {time.monotonic() - started:.0f} s")

    bin_dir = src / "_output" / "bin"
    missing = [c for c in components if not (bin_dir / c).is_file()]
    if missing:
        raise BuildError(f"make succeeded but {', '.join(missing)} is missing from {bin_dir}")
    if out_dir is None:
        return bin_dir
    out = out_dir.expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    for c in components:
        tmp = out / f".{c}.tmp"
        shutil.copy2(bin_dir / c, tmp)
        os.replace(tmp, out / c)  # atomic: a reader never sees half a binary
    log(f"build: copied {', '.join(components)} to {out}")
    return out


def _preflight(src: Path, components: list[str], fix_reflect2: bool) -> None:
    """Every reason the build cannot start, reported together."""
    problems: list[str] = []
    if not src.is_dir():
        raise InputError(f"{src}: no such directory (expected a Kubernetes source tree)")
    for marker in ("hack/lib/version.sh", "cmd", "Makefile"):
        if not (src / marker).exists():
            problems.append(f"{src}: no {marker}: not a Kubernetes source tree")
    if not components:
        problems.append("no component to build")
    for c in components:
        if "/" in c or c in ("", ".", ".."):
            problems.append(f"component {c!r}: give a name such as kubelet, not a path")
        elif (src / "cmd").is_dir() and not (src / "cmd" / c).is_dir():
            hint = " (etcd is not part of Kubernetes: point cluster.binaries.etcd at your etcd)" \
                if c.startswith("etcd") else ""
            problems.append(f"component {c}: {src / 'cmd' / c} does not exist{hint}")
    for tool in TOOLS:
        if shutil.which(tool) is None:
            why = " (the code generators need it)" if tool in ("rsync", "jq") else ""
            problems.append(f"{tool} is not on PATH{why}")
    if fix_reflect2:
        problems.extend(reflect2.problems(src))
    if problems:
        raise InputError("cannot build:\n  - " + "\n  - ".join(problems))


def _gopath(given: Path, src: Path) -> tuple[Path, Path]:
    """(GOPATH, directory to run make in): the tree seen as k8s.io/kubernetes."""
    for path in (given, src):
        if path.parts[-3:] == _IMPORT_PATH.parts:
            return path.parents[2], path  # the tree already sits in a GOPATH (maybe via a link)
    key = hashlib.sha256(str(src).encode()).hexdigest()[:12]
    gopath = default_cache_dir() / "build" / f"gopath-{key}"
    link = gopath / _IMPORT_PATH
    link.parent.mkdir(parents=True, exist_ok=True)
    if not (link.is_symlink() and Path(os.readlink(link)) == src):
        tmp = link.with_name(f".kubernetes.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(src, target_is_directory=True)
        os.replace(tmp, link)
    return gopath, link


def _make(cmd: list[str], cwd: Path, env: dict[str, str], log: Log) -> None:
    tail: collections.deque[str] = collections.deque(maxlen=40)
    # its own session, so an interrupt stops make and the go processes under it
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", bufsize=1, start_new_session=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            log(line)
        rc = proc.wait()
    except BaseException:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        raise
    if rc != 0:
        raise BuildError(f"`{' '.join(cmd)}` failed (exit {rc}) in {cwd}; its last lines:\n"
                         + "\n".join(tail))
