"""file_sha256s: the one-command checksum probe, run by a real local shell."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from k8sboot.connection.digests import file_sha256s
from k8sboot.connection.result import CommandResult


class LocalShell:
    """The part of SSHConnection file_sha256s uses, with bash on this machine as the host."""

    name = "local"

    def __init__(self) -> None:
        self.checksums: dict[str, tuple[str, str]] = {}
        self.commands: list[str] = []

    def run(self, cmd: str, *, become: bool | None = None, timeout: float | None = None) -> CommandResult:
        self.commands.append(cmd)
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=timeout, check=False)
        return CommandResult(cmd, r.returncode, r.stdout, r.stderr)


def test_missing_files_are_none_and_present_ones_hashed_then_remembered(tmp_path: Path):
    a, b = tmp_path / "kube apiserver", tmp_path / "kubelet"  # a space: quoting holds
    a.write_bytes(b"build 1")
    conn = LocalShell()
    got = file_sha256s(conn, [str(a), str(b)])  # type: ignore[arg-type]
    assert got == {str(a): hashlib.sha256(b"build 1").hexdigest(), str(b): None}
    assert len(conn.commands) == 1  # one round trip for every file
    assert str(a) in conn.checksums

    # unchanged: not hashed again (the memo answers); the probe does not call sha256sum for it
    got = file_sha256s(conn, [str(a)])  # type: ignore[arg-type]
    assert got[str(a)] == hashlib.sha256(b"build 1").hexdigest()

    # replaced (new inode, new size): hashed again
    a.unlink()
    a.write_bytes(b"build 22")
    assert file_sha256s(conn, [str(a)])[str(a)] == hashlib.sha256(b"build 22").hexdigest()  # type: ignore[arg-type]


def test_a_stale_memo_with_a_forged_signature_is_not_trusted_when_the_file_changed(tmp_path: Path):
    f = tmp_path / "etcd"
    f.write_bytes(b"x")
    conn = LocalShell()
    conn.checksums[str(f)] = ("1 2 3 4", "0" * 64)  # recorded for another file state
    assert file_sha256s(conn, [str(f)])[str(f)] == hashlib.sha256(b"x").hexdigest()  # type: ignore[arg-type]
