"""ansible.builtin.stat: what is at a path (not following a link, as Ansible's default), read-only.

A role that asks "is this file there?" with a command (`systemctl cat`, `test -e`)
costs each host a round trip and a process per run; a stat is answered from the
role's one look at the host (host_look.py).
"""

from __future__ import annotations

from typing import Any

from k8sboot.connection.host_look import PathFacts, look_at
from k8sboot.engine.host_probes import Wants
from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec, module_bool
from k8sboot.errors import InputError, RunError


def probes(args: dict[str, Any]) -> Wants:
    return Wants(paths=[str(args["path"])])


def stat_fields(path: str, facts: PathFacts) -> dict[str, Any]:
    """The registered `stat`, with Ansible's field names (the ones a look can answer)."""
    if facts.kind == "absent":
        return {"exists": False}
    size = (facts.signature or "").split(" ", 1)[0]
    return {
        "exists": True,
        "path": path,
        "isreg": facts.kind == "file",
        "isdir": facts.kind == "directory",
        "islnk": facts.kind == "link",
        "mode": (facts.mode or "").rjust(4, "0"),
        "pw_name": facts.owner,
        "gr_name": facts.group,
        "size": int(size) if size.isdigit() else None,
    }


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    path = str(args["path"])
    if not path.startswith("/"):
        raise InputError(f"stat: path {path!r} must be absolute")
    if module_bool(args, "follow"):
        raise InputError("stat: follow: true is not supported (the look does not follow links)")
    for extra in ("get_checksum", "get_mime", "get_attributes"):
        # Ansible's defaults are true; here only what the look answers: say so rather than leave it out
        if extra in args and module_bool(args, extra):
            raise InputError(f"stat: {extra}: true is not supported; set it to false")
    facts = ctx.looked_path(path)
    if facts is None:
        try:
            look = look_at(ctx.conn, [path], [], become=ctx.become,
                           timeout=max(1.0, min(60.0, ctx.conn.remaining())))
        except RunError as e:
            return ModuleResult(failed=True, msg=str(e))
        facts = look.paths.get(path)
    if facts is None:
        # neither listed nor absent: stat could not read it (a directory above it that we may not enter)
        return ModuleResult(failed=True, msg=f"cannot stat {path}: permission denied or unreadable name")
    # read-only: the same in check mode
    return ModuleResult(changed=False, data={"stat": stat_fields(path, facts)})


SPEC = ModuleSpec(
    "stat", run, frozenset({"path", "follow", "get_checksum", "get_mime", "get_attributes"}),
    required=frozenset({"path"}), probes=probes,
)
