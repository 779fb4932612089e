"""sha256_command: the same 64 hex digits as hashlib, with or without the openssl command."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from k8sboot.connection.file_digest import sha256_command


def run(script: str, path_env: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"PATH": path_env} if path_env is not None else {})}
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("name", ["plain", "-looks like an option", "back\\slash", "line\nbreak"])
def test_the_digest_is_hashlibs_whatever_the_name(tmp_path: Path, name: str) -> None:
    f = tmp_path / name
    f.write_bytes(os.urandom(300_000))
    r = run(sha256_command(str(f)))
    assert r.returncode == 0, r.stderr
    assert r.stdout == hashlib.sha256(f.read_bytes()).hexdigest() + "\n"


def test_without_openssl_sha256sum_gives_the_same(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(os.urandom(100_000))
    only = tmp_path / "path"
    only.mkdir()
    for tool in ("sha256sum", "printf"):
        found = shutil.which(tool)
        if found:
            (only / tool).symlink_to(found)
    r = run(sha256_command(str(f)), path_env=str(only))
    assert r.returncode == 0, r.stderr
    assert r.stdout == hashlib.sha256(f.read_bytes()).hexdigest() + "\n"


def test_an_unreadable_file_fails_with_nothing_on_stdout(tmp_path: Path) -> None:
    r = run(sha256_command(str(tmp_path / "absent")))
    assert r.returncode != 0 and r.stdout == ""
