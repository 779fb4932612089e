"""PkiStore: the PKI directory on disk, recording every file it writes or keeps."""

from __future__ import annotations

from pathlib import Path

from k8sboot.pki.files import PRIVATE_MODE, PUBLIC_MODE, ensure_dir, fix_mode, write_atomic
from k8sboot.pki.layout import PkiLayout
from k8sboot.pki.result import PkiResult


class PkiStore:
    def __init__(self, root: Path) -> None:
        self.layout = PkiLayout(root)
        self.result = PkiResult()

    def prepare(self) -> None:
        for directory in self.layout.directories():
            ensure_dir(directory)

    def save(self, path: Path, data: bytes, *, private: bool, reason: str | None = None) -> None:
        """Write `data` unless the file already holds exactly that (keeps reruns no-ops)."""
        mode = PRIVATE_MODE if private else PUBLIC_MODE
        if path.exists():
            if path.read_bytes() == data:
                self.keep(path, private=private)
                return
            write_atomic(path, data, mode)
            self.result.reissued.append(path)
            self.result.reasons[path] = reason or "content changed"
            return
        write_atomic(path, data, mode)
        self.result.written.append(path)

    def keep(self, path: Path, *, private: bool) -> None:
        # A key someone made world-readable is tightened, but not rewritten.
        fix_mode(path, PRIVATE_MODE if private else PUBLIC_MODE)
        self.result.reused.append(path)

    def warn(self, message: str) -> None:
        self.result.warnings.append(message)
