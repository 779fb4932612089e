"""A fingerprint of a Kubernetes source tree: has anything changed since the last dev build?

Every file's path, size and modification time (not its content: a walk of the
~23,000 files of a tree takes half a second; hashing 2 GB would take minutes),
plus the environment the build reads its version from. The build output
(_output) and VCS metadata are left out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

SKIPPED_DIRS = frozenset({"_output", ".git", ".make"})
# the build's own inputs besides the files (hack/lib/version.sh reads these)
VERSION_ENV = ("KUBE_GIT_VERSION_FILE", "KUBE_GIT_VERSION", "KUBE_GIT_COMMIT", "KUBE_GIT_TREE_STATE",
               "SOURCE_DATE_EPOCH", "GOFLAGS")


def tree_fingerprint(src: Path, components: Iterable[str], env: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for comp in sorted(components):
        h.update(f"component {comp}\n".encode())
    for name in VERSION_ENV:
        value = env.get(name)
        if value is None:
            continue
        h.update(f"env {name}={value}\n".encode())
        if name == "KUBE_GIT_VERSION_FILE" and Path(value).is_file():
            h.update(Path(value).read_bytes())
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            h.update(f"{os.path.relpath(path, src)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
