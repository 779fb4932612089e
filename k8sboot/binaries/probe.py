"""Facts about one local binary: is it a runnable ELF file, its sha256, its version.

Hashing 450 MB and running six binaries costs a second or two, and every run
needs the answers, so they are memoised in a JSON file keyed by the file's path,
size, mtime and ctime: a rerun with unchanged files reads neither file nor binary.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION_TIMEOUT = 20.0  # seconds; `--version` takes 0.06 s on the host, ~0.5 s under emulation
_CHUNK = 1 << 20

# how each kind of binary is asked for its version, and how its answer is read
_VERSION_COMMANDS: dict[str, tuple[list[str], re.Pattern[str]]] = {
    "kube": (["--version"], re.compile(r"Kubernetes (v\d+\.\d+\.\d+\S*)")),
    "etcd": (["--version"], re.compile(r"etcd Version: (\d+\.\d+\.\d+\S*)")),
    "etcdctl": (["version"], re.compile(r"etcdctl version: (\d+\.\d+\.\d+\S*)")),
    # kubectl has no --version; old releases print version.Info{... GitVersion:"v1.20.2" ...},
    # new ones "Client Version: v1.28.0"
    "kubectl": (["version", "--client"],
                re.compile(r'Client Version: (?:version\.Info\{.*?GitVersion:")?(v\d+\.\d+\.\d+[^"\s]*)')),
}


class ProbeError(Exception):
    """The file is not a usable binary; the message says why (no component, no setting)."""


# ELF e_machine -> Go/Kubernetes architecture name, with the ELF class (32/64-bit) and
# byte order each one is built with (EM_PPC64 big-endian would be ppc64, not ppc64le).
_EM_ARCH: dict[int, tuple[str, int, int]] = {
    62: ("amd64", 2, 1),  # EM_X86_64, ELFCLASS64, little-endian
    183: ("arm64", 2, 1),  # EM_AARCH64
    40: ("arm", 1, 1),  # EM_ARM, ELFCLASS32
    21: ("ppc64le", 2, 1),  # EM_PPC64
    22: ("s390x", 2, 2),  # EM_S390, big-endian
    243: ("riscv64", 2, 1),  # EM_RISCV
}
_MACHINE_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                 "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
                 "riscv64": "riscv64"}


def machine_arch(machine: str) -> str:
    """`uname -m` (or platform.machine()) spelled as Go/Kubernetes spell architectures."""
    return _MACHINE_ARCH.get(machine, machine)


def elf_arch(path: Path) -> str:
    """The architecture an ELF file was built for, read from its header (nothing is run:
    running it would succeed for a foreign binary wherever qemu-user is registered)."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(20)
    except OSError as e:
        raise ProbeError(f"cannot read {path}: {e.strerror}") from None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise ProbeError(f"{path} is not an ELF executable (a script, an archive, a download "
                         f"error page?)")
    elf_class, byte_order = header[4], header[5]
    if elf_class not in (1, 2) or byte_order not in (1, 2):
        raise ProbeError(f"{path} has a damaged ELF header (class {elf_class}, data {byte_order})")
    machine = int.from_bytes(header[18:20], "little" if byte_order == 1 else "big")
    known = _EM_ARCH.get(machine)
    if known is None:
        raise ProbeError(f"{path} is an ELF file for machine type {machine}, which Kubernetes "
                         f"has no build for (known: {', '.join(a for a, _, _ in _EM_ARCH.values())})")
    arch, want_class, want_order = known
    if (elf_class, byte_order) != (want_class, want_order):
        bits = 32 if elf_class == 1 else 64
        order = "little" if byte_order == 1 else "big"
        raise ProbeError(f"{path} is a {bits}-bit {order}-endian ELF file for machine type "
                         f"{machine}, not a {arch} build")
    return arch


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        # hashlib releases the GIL on large buffers: threads hash in parallel
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_executable(path: Path, require_elf: bool = True) -> os.stat_result:
    """Raise ProbeError unless path is an executable (ELF) file; return its stat."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ProbeError("no such file") from None
    except OSError as e:
        raise ProbeError(f"cannot read it: {e.strerror}") from None
    if not path.is_file():
        raise ProbeError("not a regular file")
    if not st.st_mode & 0o111 or not os.access(path, os.X_OK):
        raise ProbeError("not executable (chmod +x?)")
    if require_elf:
        with open(path, "rb") as fh:
            if fh.read(4) != b"\x7fELF":
                raise ProbeError("not an ELF executable (a script, an archive, a download error page?)")
    return st


def read_version(path: Path, kind: str, timeout: float | None = None) -> str:
    timeout = timeout or VERSION_TIMEOUT
    args, pattern = _VERSION_COMMANDS[kind]
    cmd = [str(path), *args]
    env = {**os.environ, "ETCDCTL_API": "3"}
    try:
        for attempt in range(5):
            try:
                proc = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, errors="replace", timeout=timeout, env=env)
                break
            except OSError as e:
                # ETXTBSY: a file just downloaded by one thread can still be open for writing
                # in a child another thread forked at that moment; it closes at that exec
                if e.errno != errno.ETXTBSY or attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
    except subprocess.TimeoutExpired:
        raise ProbeError(f"`{' '.join(cmd)}` did not finish within {timeout:g} s") from None
    except OSError as e:
        # e.g. ENOEXEC: an ELF for another architecture, or a missing interpreter
        raise ProbeError(f"cannot run `{' '.join(cmd)}`: {e.strerror}") from None
    out = proc.stdout + proc.stderr
    m = pattern.search(out)
    if not m:
        first = out.strip().splitlines()[:2]
        said = " / ".join(first) if first else "nothing"
        raise ProbeError(f"cannot read its version: `{' '.join(cmd)}` exited {proc.returncode} "
                         f"and printed {said!r}")
    return m.group(1)


@dataclass(frozen=True)
class Probed:
    sha256: str
    version: str
    arch: str | None = None  # from the ELF header; None when ELF was not required


class ProbeCache:
    """The memo of (path, size, mtime, ctime) -> sha256 and versions, shared by threads."""

    def __init__(self, file: Path):
        self.file = file
        self._lock = threading.Lock()
        self._dirty = False
        try:
            data = json.loads(file.read_text())
            self._entries: dict[str, dict[str, Any]] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self._entries = {}  # no cache or a damaged one: start afresh

    @staticmethod
    def _stamp(st: os.stat_result) -> list[int]:
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]

    def _entry(self, path: Path, st: os.stat_result) -> dict[str, Any]:
        key = str(path)
        with self._lock:
            entry = self._entries.get(key)
            if not entry or entry.get("stamp") != self._stamp(st):
                entry = {"stamp": self._stamp(st), "versions": {}}
                self._entries[key] = entry
                self._dirty = True
            return entry

    def sha256(self, path: Path, st: os.stat_result) -> str:
        entry = self._entry(path, st)
        if "sha256" not in entry:
            digest = sha256_file(path)
            with self._lock:
                entry["sha256"] = digest
                self._dirty = True
        return str(entry["sha256"])

    def version(self, path: Path, st: os.stat_result, kind: str) -> str:
        entry = self._entry(path, st)
        if kind not in entry["versions"]:
            found = read_version(path, kind)  # a failure is not memoised: the user will fix it
            with self._lock:
                entry["versions"][kind] = found
                self._dirty = True
        return str(entry["versions"][kind])

    def probe(self, path: Path, kind: str, require_elf: bool = True,
              arch: str | None = None) -> Probed:
        """Check the file, then hash it and ask its version. With require_elf, its ELF
        header must name `arch` (when given) before it is ever run."""
        st = check_executable(path, require_elf)
        found = elf_arch(path) if require_elf else None
        if found is not None and arch is not None and found != arch:
            raise ProbeError(f"{path} is built for {found}, but the hosts are {arch}: use a "
                             f"{arch} build (e.g. make WHAT=... KUBE_BUILD_PLATFORMS=linux/{arch})")
        return Probed(sha256=self.sha256(path, st), version=self.version(path, st, kind),
                      arch=found)

    def save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            # forget files that are gone, so the memo does not grow forever
            live = {k: v for k, v in self._entries.items() if os.path.exists(k)}
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(live, indent=1, sort_keys=True) + "\n")
            os.replace(tmp, self.file)  # atomic: a concurrent reader sees old or new
            self._dirty = False
