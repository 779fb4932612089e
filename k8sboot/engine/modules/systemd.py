"""ansible.builtin.systemd: daemon_reload, enabled, state started/stopped/restarted/reloaded.

One `systemctl show` round trip decides; a second applies only what differs.
"""

from __future__ import annotations

import shlex
from typing import Any

from k8sboot.connection.host_look import UNIT_PROPERTIES, enabled_command
from k8sboot.connection.result import key_values
from k8sboot.engine.host_probes import Wants
from k8sboot.engine.modules.base import (
    ModuleContext,
    ModuleResult,
    ModuleSpec,
    ProbeFailed,
    module_bool,
)
from k8sboot.errors import InputError

STATES = {"started", "stopped", "restarted", "reloaded"}


def show_command(unit: str) -> str:
    # UnitFileState from the disk (enabled_command): after `enable --no-reload` systemd's is stale
    return (f"systemctl show -p {','.join(UNIT_PROPERTIES)} {shlex.quote(unit)} && "
            f"echo \"UnitFileState=$({enabled_command(unit)})\"")


def probes(args: dict[str, Any]) -> Wants:
    name = args.get("name")
    return Wants(units=[str(name)] if name else [])


def _show(ctx: ModuleContext, unit: str, reloaded: bool) -> dict[str, str]:
    # after a daemon-reload the unit's state is asked afresh: the reload may have changed it
    looked = None if reloaded else ctx.looked_unit(unit)
    if looked is not None:
        return looked
    r = ctx.conn.run(show_command(unit), become=ctx.become)
    state = key_values(r.stdout)
    if not r.ok or "ActiveState" not in state:
        # not "inactive": systemd could not be asked (no bus, permission, timeout)
        raise ProbeFailed(f"cannot read the state of {unit}: {r.stderr_tail(3) or f'exit code {r.rc}'}")
    return state


def run(ctx: ModuleContext, args: dict[str, Any]) -> ModuleResult:
    name = args.get("name")
    state = args.get("state")
    enabled = args.get("enabled")
    reload_ = module_bool(args, "daemon_reload")
    no_block = module_bool(args, "no_block")
    if state is not None and state not in STATES:
        raise InputError(f"systemd: state {state!r} is not one of {', '.join(sorted(STATES))}")
    pre: list[str] = []
    if reload_:
        # Ansible reloads before anything else and does not count it as a change
        pre.append("systemctl daemon-reload")
    if not name:
        if not pre:
            raise InputError("systemd needs `name` (or daemon_reload: true)")
        if ctx.check:
            return ModuleResult(changed=False, msg="daemon-reload (skipped in check mode)")
        r = ctx.conn.run(pre[0], become=ctx.become)
        return ModuleResult(failed=not r.ok, rc=r.rc, stderr=r.stderr, cmd=r.cmd)

    unit = str(name)
    if pre and not ctx.check:
        r = ctx.conn.run(pre[0], become=ctx.become)
        if not r.ok:
            return ModuleResult(failed=True, msg=f"daemon-reload failed: {r.stderr_tail(3)}", rc=r.rc,
                                stderr=r.stderr, cmd=r.cmd)
    try:
        cur = _show(ctx, unit, reloaded=bool(pre) and not ctx.check)
    except ProbeFailed as e:
        return ModuleResult(failed=True, msg=str(e))
    if cur.get("LoadState") == "not-found" and state not in (None, "stopped"):
        if ctx.check:
            # an earlier task would have installed it: what a real run would do is start it
            return ModuleResult(changed=True, msg=f"would start {unit} (its unit is not installed yet)")
        return ModuleResult(failed=True, msg=f"unit {unit} not found on {ctx.host.name}")
    flag = " --no-block" if no_block else ""
    q = shlex.quote(unit)
    actions: list[str] = []
    if enabled is not None:
        want = module_bool(args, "enabled")
        is_enabled = cur.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "alias")
        # `enable` reloads all of systemd (every generator runs again: 0.2-0.4 s of a container's
        # CPU, six times per node on a first run) only to learn of a symlink that matters at the
        # next boot; a unit whose own file changed since systemd loaded it still gets that reload
        no_reload = "" if cur.get("NeedDaemonReload") == "yes" else " --no-reload"
        if want and not is_enabled:
            actions.append(f"systemctl enable{no_reload} {q}")
        elif not want and cur.get("UnitFileState") == "enabled":
            actions.append(f"systemctl disable{no_reload} {q}")
    active = cur.get("ActiveState") in ("active", "activating", "reloading")
    if state == "started" and not active:
        actions.append(f"systemctl start{flag} {q}")
    elif state == "stopped" and active:
        actions.append(f"systemctl stop{flag} {q}")
    elif state == "restarted":
        actions.append(f"systemctl restart{flag} {q}")
    elif state == "reloaded":
        actions.append(f"systemctl {'reload' if active else 'start'}{flag} {q}")
    if not actions:
        return ModuleResult(changed=False, msg=f"{unit}: {cur.get('ActiveState')}, {cur.get('UnitFileState')}",
                            data={"status": cur})
    if ctx.check:
        return ModuleResult(changed=True, msg="would run: " + "; ".join(actions), data={"status": cur})
    cmd = " && ".join(actions)
    r = ctx.conn.run(cmd, become=ctx.become)
    if not r.ok:
        journal = ctx.conn.run(f"journalctl -u {q} -n 20 --no-pager 2>/dev/null", become=ctx.become)
        return ModuleResult(failed=True, msg=f"{unit}: {r.stderr_tail(3)}", rc=r.rc, stdout=journal.stdout,
                            stderr=r.stderr, cmd=cmd)
    return ModuleResult(changed=True, msg=cmd, rc=0, cmd=cmd)


SPEC = ModuleSpec("systemd", run, frozenset({"name", "state", "enabled", "daemon_reload", "no_block", "masked",
                                              "scope"}), probes=probes)
