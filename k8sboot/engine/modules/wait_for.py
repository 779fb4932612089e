"""ansible.builtin.wait_for: a port or path, polled on the host itself in one round trip."""

from __future__ import annotations

import shlex
from typing import Any

from k8sboot.engine.modules.base import ModuleContext, ModuleResult, ModuleSpec
from k8sboot.errors import InputError


def _seconds(args: dict[str, Any], key: str, default: float) -> float:
    try:
        value = float(args.get(key, default))
    except (TypeError, ValueError):
        raise InputError(f"wait_for: {key} {args.get(key)!r} is not a number of seconds") from None
    if not 0 <= value < 86400:
        raise InputError(f"wait_for: {key} {value:g} is out of range")
    return value


def _port(value: Any) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise InputError(f"wait_for: port {value!r} is not a port number")
    return int(text)


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    timeout = _seconds(args, "timeout", 300)
    delay = _seconds(args, "delay", 0)
    sleep = _seconds(args, "sleep", 0.5)
    state = str(args.get("state", "started"))
    host = str(args.get("host", "127.0.0.1"))
    if "port" in args:
        port = _port(args["port"])
        # bash opens /dev/tcp/HOST/PORT itself: the whole path is one quoted word
        probe = f"(exec 3<>{shlex.quote(f'/dev/tcp/{host}/{port}')}) 2>/dev/null"
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
        f"sleep {delay:g}; end=$(( $(date +%s) + {int(timeout)} )); "
        f"until {probe}; do [ $(date +%s) -ge $end ] && exit 3; sleep {sleep:g}; done"
    )
    r = ctx.conn.run(f"bash -c {shlex.quote(script)}", become=False, timeout=timeout + delay + 30)
    if r.rc == 3:
        return ModuleResult(failed=True, msg=f"timeout after {timeout:g}s waiting for {what} to be {state}",
                            rc=r.rc, cmd=what)
    return ModuleResult(changed=False, failed=not r.ok, msg=f"{what} {state}", rc=r.rc, stderr=r.stderr)


SPEC = ModuleSpec("wait_for", run, frozenset({"host", "port", "path", "timeout", "delay", "state", "sleep"}))
