"""A Kubernetes tree to run `k8sboot dev` on, for tests and the benchmark.

A hard-linked copy of the lab's cached tree (make binaries), mounted over the
cached tree's own path in a private mount namespace while `k8sboot dev` runs:
Go's build cache is keyed by source paths, so at the same path a
one-component build takes seconds instead of recompiling Kubernetes. A
patched file gets a new inode (patch()), so the cache is never written
through the links.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.helpers import REPO

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "k8sboot"
KUBE_SRC = CACHE / "kubernetes" / "src"
ETCD35 = CACHE / "etcd-3.5" / "bin" / "etcd"


@dataclass
class DevTree:
    copy: Path
    version_file: Path

    @classmethod
    def make(cls, where: Path, version: str) -> DevTree:
        if not (KUBE_SRC / "hack" / "lib" / "version.sh").is_file():
            raise RuntimeError(f"no Kubernetes tree at {KUBE_SRC}: run `make binaries`")
        copy = CACHE / f"dev-tree-{where.name}"
        shutil.rmtree(copy, ignore_errors=True)
        subprocess.run(["cp", "-al", str(KUBE_SRC), str(copy)], check=True)
        version_file = where / "version.env"
        minor = version.split(".")[1]
        version_file.write_text("KUBE_GIT_COMMIT=0000000000000000000000000000000000000001\n"
                                f"KUBE_GIT_TREE_STATE=clean\nKUBE_GIT_VERSION={version}\n"
                                f"KUBE_GIT_MAJOR=1\nKUBE_GIT_MINOR={minor}\n")
        return cls(copy, version_file)

    def remove(self) -> None:
        shutil.rmtree(self.copy, ignore_errors=True)

    def patch(self, relative: str, old: str, new: str) -> None:
        path = self.copy / relative
        text = path.read_text()
        assert old in text, f"{relative}: no {old!r}"
        path.unlink()  # a new inode: the hard-linked original stays as it was
        path.write_text(text.replace(old, new, 1))

    def dev(self, home: Path, inventory: Path, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
        """`k8sboot dev` on the copy, seen at the cached tree's own path."""
        env = {**os.environ, "K8SBOOT_HOME": str(home), "COLUMNS": "200",
               "KUBE_GIT_VERSION_FILE": str(self.version_file)}
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(self.copy),
               str(KUBE_SRC), sys.executable, "-m", "k8sboot", "dev", str(KUBE_SRC), "-i", str(inventory), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
