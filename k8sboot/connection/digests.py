"""The sha256 of several files on a host in one command, hashing only what changed since last time.

Hashing the ~450 MB of Kubernetes binaries on every host of every run would
make a no-op `up` seconds slower; a file whose stat signature (size, mtime,
inode, ...) matches the one recorded with its digest (the connection's
checksum memo, kept between runs by the pool) is not read again.
"""

from __future__ import annotations

import shlex

from k8sboot.connection.file_digest import sha256_command
from k8sboot.connection.ssh import STAT_SIGNATURE, SSHConnection
from k8sboot.errors import RunError


def sha256s_script(conn: SSHConnection, paths: list[str], tag: str = "") -> str:
    """Shell lines that print, for each path, `<tag><i> MEMO|MISSING|SIG ..|SUM ..`: what read_sha256s reads.

    tag: a prefix, so the lines can ride along another script's output (connect's facts)."""
    parts = []
    for i, path in enumerate(paths):
        q = shlex.quote(path)
        memo = conn.checksums.get(path)
        known = shlex.quote(memo[0]) if memo else "''"
        parts.append(f"if [ -f {q} ]; then sig=$(stat -c '{STAT_SIGNATURE}' {q}) && "
                     f"if [ \"$sig\" = {known} ]; then echo \"{tag}{i} MEMO\"; "
                     f"else echo \"{tag}{i} SIG $sig\" && echo \"{tag}{i} SUM $({sha256_command(path)})\"; fi; "
                     f"else echo \"{tag}{i} MISSING\"; fi")
    return "".join(f"{part}\n" for part in parts)


def read_sha256s(conn: SSHConnection, paths: list[str], output: str, tag: str = "") -> dict[str, str | None]:
    """path -> sha256 (None: no such regular file) from sha256s_script's lines in `output`;
    what was hashed anew goes into the connection's memo."""
    out: dict[str, str | None] = {}
    signatures: dict[int, str] = {}
    for line in output.splitlines():
        if not line.startswith(tag):
            continue
        index, _, rest = line[len(tag):].partition(" ")
        if not index.isdigit() or int(index) >= len(paths):
            continue
        i, path = int(index), paths[int(index)]
        if rest == "MISSING":
            out[path] = None
        elif rest == "MEMO" and path in conn.checksums:
            out[path] = conn.checksums[path][1]
        elif rest.startswith("SIG "):
            signatures[i] = rest[4:]
        elif rest.startswith("SUM ") and i in signatures and rest[4:].strip():
            digest = rest[4:].split()[0]
            out[path] = digest
            conn.checksums[path] = (signatures[i], digest)
    missing = [p for p in paths if p not in out]
    if missing:
        raise RunError(f"{conn.name}: no checksum read for {', '.join(missing)}")
    return out


def file_sha256s(conn: SSHConnection, paths: list[str], timeout: float = 120) -> dict[str, str | None]:
    """path -> sha256 of each file (None: no such regular file), in one command."""
    if not paths:
        return {}
    r = conn.run(sha256s_script(conn, paths), become=True, timeout=timeout)
    if not r.ok:
        raise RunError(f"{conn.name}: cannot read the checksums of {', '.join(paths)}: "
                       f"{r.stderr_tail(3) or f'exit code {r.rc}'}")
    return read_sha256s(conn, paths, r.stdout)
