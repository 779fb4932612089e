"""The files the roles copy from the controller, copied into DIR/files and the vars pointed there.

ansible-playbook reads a `copy` task's src on the machine it runs on, so the
exported vars name files inside DIR (absolute paths): the PKI files each host
receives (DIR/files/pki/, laid out as in the state directory's pki/) and the
image archives (DIR/files/images/, under their own names: the node role
copies each to /var/lib/k8sboot/images/<its name>, so the name must not
change, or `k8sboot up` would see another file).

The binaries are not copied (hundreds of MB): k8sboot_binaries keeps the
absolute paths k8sboot resolved them to (the inventory's, or k8sboot's
download cache), which must exist where ansible-playbook runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from k8sboot.errors import InputError
from k8sboot.pki.files import PRIVATE_MODE, PUBLIC_MODE

PKI = "pki"
IMAGES = "images"


class ExportedFiles:
    """Copies each controller file once, however many hosts receive it."""

    def __init__(self, files_dir: Path, pki_dir: Path):
        self.files_dir = files_dir
        self.pki_dir = pki_dir
        self._copied: dict[str, Path] = {}  # controller path -> its copy
        self._modes: dict[Path, int] = {}

    @property
    def count(self) -> int:
        return len(self._copied)

    def pki_files(self, by_group: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
        """k8sboot_pki_files with each src copied into DIR/files/pki/."""
        out: dict[str, list[dict[str, str]]] = {}
        for group, entries in by_group.items():
            out[group] = []
            for entry in entries:
                src = Path(entry["src"])
                try:
                    rel = src.relative_to(self.pki_dir)
                except ValueError:
                    raise InputError(f"internal: PKI file {src} is outside the PKI directory") from None
                # the key, a kubeconfig or the encryption config stays 0600 here as on the hosts
                private = int(entry["mode"], 8) & 0o077 == 0
                copy = self._copy(src, self.files_dir / PKI / rel, PRIVATE_MODE if private else PUBLIC_MODE)
                out[group].append({**entry, "src": str(copy)})
        return out

    def image_archives(self, archives: list[dict[str, str]]) -> list[dict[str, str]]:
        """k8sboot_image_archives with each archive copied into DIR/files/images/ under its own name."""
        out = []
        for archive in archives:
            src = Path(archive["src"])
            target = self.files_dir / IMAGES / src.name
            taken = next((s for s, c in self._copied.items() if c == target and s != str(src)), None)
            if taken is not None:
                raise InputError(f"image archives {taken} and {src} have the same file name: the nodes keep "
                                 f"both as /var/lib/k8sboot/images/{src.name}; rename one")
            out.append({**archive, "src": str(self._copy(src, target, PUBLIC_MODE))})
        return out

    def _mkdirs(self, directory: Path) -> None:
        # 0700 at every level: DIR/files/pki holds the cluster's CA keys
        for d in [*reversed(directory.relative_to(self.files_dir).parents), directory.relative_to(self.files_dir)]:
            (self.files_dir / d).mkdir(exist_ok=True, mode=0o700)

    def _copy(self, src: Path, target: Path, mode: int) -> Path:
        done = self._copied.get(str(src))
        if done is None:
            if not src.is_file():
                raise InputError("does not exist (k8sboot made or named it just now: was it removed?)",
                                 file=str(src))
            self._mkdirs(target.parent)
            target.touch(mode=0o600)  # never readable by others, not even while it is written
            shutil.copyfile(src, target)
            self._copied[str(src)] = done = target
        # the strictest mode any host's entry asks for
        self._modes[done] = mode if done not in self._modes else min(self._modes[done], mode)
        done.chmod(self._modes[done])
        return done


def rewrite_file_vars(host_vars: dict[str, Any], files: ExportedFiles) -> dict[str, Any]:
    """The host's vars with the PKI files' and image archives' src inside DIR."""
    out = dict(host_vars)
    out["k8sboot_pki_files"] = files.pki_files(host_vars["k8sboot_pki_files"])
    out["k8sboot_image_archives"] = files.image_archives(host_vars["k8sboot_image_archives"])
    return out
