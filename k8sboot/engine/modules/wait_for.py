"""ansible.builtin.wait_for: a port or path, polled on the host itself in one round trip."""

from __future__ import annotations

import shlex
from typing import Any

from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec
from k8sboot.errors import InputError


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    timeout = float(args.get("timeout", 300))
    delay = float(args.get("delay", 0))
    sleep = float(args.get("sleep", 0.5))
    state = str(args.get("state", "started"))
    host = str(args.get("host", "127.0.0.1"))
    if "port" in args:
        probe = f"(exec 3<>/dev/tcp/{host}/{int(args['port'])}) 2>/dev/null"
        what = f"port {host}:{args['port']}"
    elif "path" in args:
        probe = f"[ -e {shlex.quote(str(args['path']))} ]"
        what = f"path {args['path']}"
    else:
        raise InputError("wait_for needs `port` or `path`")
    if state in ("stopped", "absent"):
        probe = f"! {probe}"
    elif state not in ("started", "present"):
        raise InputError(f"wait_for: state {state!r} is not supported")
    if ctx.check:
        return ModuleResult(skipped=True, msg="skipped in check mode")
    # bash for /dev/tcp; the loop runs on the host so waiting costs no round trips
    script = (
        f"sleep {delay}; end=$(( $(date +%s) + {int(timeout)} )); "
        f"until {probe}; do [ $(date +%s) -ge $end ] && exit 3; sleep {sleep}; done"
    )
    r = ctx.conn.run(f"bash -c {shlex.quote(script)}", become=False, timeout=timeout + delay + 30)
    if r.rc == 3:
        return ModuleResult(failed=True, msg=f"timeout after {timeout:g}s waiting for {what} to be {state}",
                            rc=r.rc, cmd=what)
    return ModuleResult(changed=False, failed=not r.ok, msg=f"{what} {state}", rc=r.rc, stderr=r.stderr)


SPEC = ModuleSpec("wait_for", run, frozenset({"host", "port", "path", "timeout", "delay", "state", "sleep"}))
