"""ansible.builtin.file: state directory / file / link / absent / touch, mode, owner."""

from __future__ import annotations

import shlex
from typing import Any

from k8sboot.engine.host_probes import Wants
from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec, normalize_mode
from k8sboot.errors import InputError

STATES = {"directory", "file", "link", "absent", "touch"}


def kind_command(path: str) -> str:
    """What is there now: kind, mode, owner, group, link target -- one command."""
    q = shlex.quote(path)
    return (f"if [ -L {q} ]; then echo link $(stat -c '%a %U %G' {q}) $(readlink {q}); "
            f"elif [ -d {q} ]; then echo directory $(stat -c '%a %U %G' {q}); "
            f"elif [ -e {q} ]; then echo file $(stat -c '%a %U %G' {q}); else echo absent; fi")


def probes(args: dict[str, Any]) -> Wants:
    return Wants(paths=[str(args["path"])])


def _looked(ctx: ModuleContext, path: str) -> list[str] | None:
    """kind, mode, owner, group as kind_command prints them, from the role's look; None for a link
    (its target is not in the look) or a path the look could not read."""
    facts = ctx.looked_path(path)
    if facts is None or facts.kind == "link":
        return None
    if facts.kind == "absent":
        return ["absent"]
    kind = "directory" if facts.kind == "directory" else "file"
    return [kind, facts.mode or "", facts.owner or "", facts.group or ""]


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    path = str(args["path"])
    state = str(args.get("state", "file"))
    if state not in STATES:
        raise InputError(f"file: state {state!r} is not one of {', '.join(sorted(STATES))}")
    q = shlex.quote(path)
    mode = normalize_mode(args.get("mode"))
    owner, group = args.get("owner"), args.get("group")
    chown = f"{owner or ''}{':' + group if group else ''}"

    parts = _looked(ctx, path)
    if parts is None:
        r = ctx.conn.run(kind_command(path), become=ctx.become)
        parts = r.stdout.split()
        if not r.ok or not parts or parts[0] not in ("link", "directory", "file", "absent"):
            # not "absent": the probe itself failed (permission, timeout), the path's state is unknown
            return ModuleResult(failed=True, msg=f"cannot inspect {path}: {r.stderr_tail(3) or f'exit code {r.rc}'}",
                                rc=r.rc, stderr=r.stderr)
    kind = parts[0]
    cur_mode, cur_owner, cur_group = (parts[1:4] + [None, None, None])[:3] if kind != "absent" else (None,) * 3
    target = parts[4] if kind == "link" and len(parts) > 4 else None

    cmds: list[str] = []
    if state == "absent":
        if kind != "absent":
            cmds.append(f"rm -rf {q}")
    elif state == "directory":
        if kind != "directory":
            if kind != "absent":
                return ModuleResult(failed=True, msg=f"{path} exists and is a {kind}, not a directory")
            cmds.append(f"mkdir -p {q}")
    elif state == "link":
        src = args.get("src")
        if not src:
            raise InputError("file: state=link needs src")
        if kind != "link" or target != str(src):
            cmds.append(f"ln -sfn {shlex.quote(str(src))} {q}")
    elif state == "touch":
        cmds.append(f"touch {q}")
    elif state == "file" and kind == "absent":
        return ModuleResult(failed=True, msg=f"{path} does not exist (state=file does not create files; use touch)")

    if state in ("directory", "file", "touch"):
        if mode and (cmds or cur_mode != mode):
            cmds.append(f"chmod {mode} {q}")
        if chown and (cmds or (owner and cur_owner != owner) or (group and cur_group != group)):
            cmds.append(f"chown {shlex.quote(chown)} {q}")
    if not cmds:
        return ModuleResult(changed=False, msg=f"{path} is {state}")
    if ctx.check:
        return ModuleResult(changed=True, msg=f"{path} would be made {state}")
    r = ctx.conn.run(" && ".join(cmds), become=ctx.become)
    if not r.ok:
        return ModuleResult(failed=True, msg=f"file {path}: {r.stderr_tail()}", rc=r.rc,
                            stdout=r.stdout, stderr=r.stderr, cmd=r.cmd)
    return ModuleResult(changed=True, msg=f"{path} {state}")


SPEC = ModuleSpec("file", run, frozenset({"path", "state", "mode", "owner", "group", "src", "recurse"}),
                  frozenset({"path"}), probes=probes)
