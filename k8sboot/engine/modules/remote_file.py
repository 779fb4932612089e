"""Shared by template and copy: compare a remote file by checksum, write it if different."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8sboot.connection.file_digest import sha256_command
from k8sboot.connection.ssh import STAT_SIGNATURE
from k8sboot.engine.host_probes import Wants
from k8sboot.engine.modules.base import (
    ModuleContext,
    ModuleResult,
    ProbeFailed,
    normalize_mode,
    redacted_diff,
)


@dataclass(frozen=True)
class RemoteStat:
    exists: bool
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    sha256: str | None = None


def stat_command(path: str, memo: tuple[str, str] | None) -> str:
    """Existence, mode, ownership and checksum in one command.

    The checksum is computed on the host only when the file's signature differs
    from the one recorded when k8sboot last wrote or hashed it (`memo`): hashing
    a 100 MB binary on every rerun is most of a no-op run's time otherwise.
    """
    q = shlex.quote(path)
    known = shlex.quote(memo[0]) if memo else "''"
    return (f"if [ -f {q} ]; then stat -c '%a %U %G' {q} && sig=$(stat -c '{STAT_SIGNATURE}' {q}) && "
            f"echo \"$sig\" && if [ \"$sig\" = {known} ]; then echo MEMO; else {sha256_command(path)}; fi; "
            "else echo MISSING; fi")


def stat_remote(ctx: ModuleContext, path: str) -> RemoteStat:
    memo = ctx.conn.checksums.get(path)
    looked = ctx.looked_path(path)
    if looked is not None and looked.kind != "link":  # a link: `[ -f ]` follows it, so ask
        if looked.kind != "file":
            return RemoteStat(False)
        if memo and looked.signature == memo[0]:
            return RemoteStat(True, looked.mode, looked.owner, looked.group, memo[1])
    r = ctx.conn.run(stat_command(path, memo), become=ctx.become)
    lines = r.stdout.split("\n")
    if r.ok and lines and lines[0].strip() == "MISSING":
        return RemoteStat(False)
    if not r.ok or len(lines) < 3:
        # not "absent": a probe that failed (permission, timeout) says nothing of the file
        raise ProbeFailed(f"cannot inspect {path}: {r.stderr_tail(3) or f'exit code {r.rc}'}")
    mode, owner, group = lines[0].split()
    signature = lines[1].strip()
    if lines[2].strip() == "MEMO" and memo:
        return RemoteStat(True, mode, owner, group, memo[1])
    digest = lines[2].split()[0]
    ctx.conn.checksums[path] = (signature, digest)
    return RemoteStat(True, mode, owner, group, digest)


def dest_probes(args: dict[str, Any]) -> Wants:
    """What ensure_file will look at for a task with `dest` (template, copy)."""
    return Wants(paths=[str(args["dest"])])


def ensure_file(
    ctx: ModuleContext,
    dest: str,
    content: bytes | Path,
    sha256: str,
    mode: object = None,
    owner: str | None = None,
    group: str | None = None,
    text_for_diff: str | None = None,
    force: bool = True,
    public: bool = False,
) -> ModuleResult:
    """Write dest when absent or different; `force=False` (Ansible's `force: no`) leaves an existing file's content.

    `public`: content nobody needs to keep secret (the user's binaries), which
    the host may then fetch over plain HTTP, checked against `sha256`.
    """
    want_mode = normalize_mode(mode)
    try:
        st = stat_remote(ctx, dest)
    except ProbeFailed as e:
        return ModuleResult(failed=True, msg=str(e))
    reasons = []
    if not st.exists:
        reasons.append("created")
    elif st.sha256 != sha256 and force:
        reasons.append("content")
    if want_mode and st.mode != want_mode:
        reasons.append("mode")
    if (owner and st.owner != owner) or (group and st.group != group):
        reasons.append("owner")
    if not reasons:
        return ModuleResult(changed=False, msg=f"{dest} up to date")
    diff = None
    if ctx.diff and text_for_diff is not None and {"content", "created"} & set(reasons):
        before = ""
        if st.exists:
            raw = ctx.conn.read(dest, become=ctx.become)
            before = raw.decode(errors="replace") if raw else ""
        diff = redacted_diff(before, text_for_diff, dest, want_mode or st.mode)
    if ctx.check:
        return ModuleResult(changed=True, msg=f"{dest} would change ({', '.join(reasons)})", diff=diff)
    chown = f"{owner or ''}{':' + group if group else ''}" or None
    q = shlex.quote(dest)
    if set(reasons) <= {"mode", "owner"}:
        cmds = []
        if want_mode:
            cmds.append(f"chmod {want_mode} {q}")
        if chown:
            cmds.append(f"chown {shlex.quote(chown)} {q}")
        # chmod/chown change the ctime: print the new signature as put does
        cmds.append(f"stat -c {shlex.quote(STAT_SIGNATURE)} {q}")
        r = ctx.conn.run(" && ".join(cmds), become=ctx.become)
    else:
        # a new file without a mode gets 0644, as Ansible's default umask gives
        r = ctx.conn.put(dest, content, mode=want_mode or (st.mode if st.exists else "644"),
                         owner=chown, become=ctx.become, sha256=sha256 if public else None)
    if not r.ok:
        return ModuleResult(failed=True, msg=f"writing {dest} failed: {r.stderr_tail(3)}", rc=r.rc,
                            stdout=r.stdout, stderr=r.stderr, cmd=f"write {dest}")
    signature = r.stdout.strip().splitlines()
    if signature:
        ctx.conn.checksums[dest] = (signature[-1], sha256)
    return ModuleResult(changed=True, msg=f"{dest} {', '.join(reasons)}", diff=diff)
