"""ansible.builtin.command and ansible.builtin.shell, with creates / removes / chdir.

As in Ansible, both report `changed` unless the task's `changed_when` says
otherwise, and are skipped in check mode (they cannot predict their effect).
`command` does not interpret shell operators; `shell` does.
"""

from __future__ import annotations

import shlex
from typing import Any

from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec
from k8sboot.errors import InputError


def _guard(ctx: ModuleContext, args: dict[str, Any]) -> str | None:
    """Return why the command is skipped (creates/removes), or None to run it."""
    creates, removes = args.get("creates"), args.get("removes")
    if not creates and not removes:
        return None
    tests = []
    if creates:
        tests.append(f"[ -e {shlex.quote(str(creates))} ] && echo creates")
    if removes:
        tests.append(f"[ -e {shlex.quote(str(removes))} ] || echo removes")
    r = ctx.conn.run("; ".join(tests) + "; true", become=ctx.become)
    if "creates" in r.stdout:
        return f"skipped, since {creates} exists"
    if "removes" in r.stdout:
        return f"skipped, since {removes} does not exist"
    return None


def _run(ctx: ModuleContext, args: dict[str, Any], use_shell: bool) -> ModuleResult:
    cmd = args.get("cmd") or args.get("argv")
    if isinstance(cmd, list):
        cmd = shlex.join(str(c) for c in cmd)
    if not cmd:
        raise InputError("command/shell needs a command (`cmd` or free form)")
    cmd = str(cmd)
    if not use_shell:
        # command: no shell operators, as in Ansible
        cmd = shlex.join(shlex.split(cmd))
    if args.get("chdir"):
        cmd = f"cd {shlex.quote(str(args['chdir']))} && {cmd}"
    reason = _guard(ctx, args)
    if reason:
        return ModuleResult(changed=False, msg=reason, rc=0, cmd=cmd)
    if ctx.check:
        return ModuleResult(skipped=True, msg="skipped in check mode", cmd=cmd)
    r = ctx.conn.run(cmd, become=ctx.become)
    return ModuleResult(changed=True, failed=r.rc != 0, rc=r.rc, stdout=r.stdout.rstrip("\n"),
                        stderr=r.stderr.rstrip("\n"), cmd=cmd,
                        msg="" if r.rc == 0 else "timed out: the command was stopped" if r.timed_out
                        else f"non-zero return code {r.rc}")


_ARGS = frozenset({"cmd", "creates", "removes", "chdir"})
COMMAND = ModuleSpec("command", lambda c, a: _run(c, a, False), _ARGS | {"argv"})
# Ansible's shell has no argv (an argument list is command's)
SHELL = ModuleSpec("shell", lambda c, a: _run(c, a, True), _ARGS)
