"""Var precedence and connection settings: RawInventory -> Inventory.

For each host, later layers override earlier ones key by key (Ansible's
default `hash_behaviour=replace`):

    native `defaults`
    all:    inline vars, then group_vars/all
    groups: each group's inline vars, then group_vars/<group>, in Ansible's
            order: parents before children (by depth from `all`), then
            `ansible_group_priority`, then name (so siblings go alphabetically)
    host:   inline vars, then native host keys, then host_vars/<host>
    extra:  `-e` values

The connection settings are then read out of the result (`ansible_host` ->
address, `ansible_port` -> port, ...), so they can come from any layer. So is
the jump host (native `bastion:`, Ansible's ProxyJump in `ansible_ssh_*_args`,
or kubespray's `[bastion]` group, whose host is then no cluster member).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from k8sboot import cluster_layout as layout
from k8sboot.errors import InputError
from k8sboot.inventory.cluster import (
    PROVISIONING_PROVIDERS,
    cluster_from_ansible_vars,
    provider_type,
)
from k8sboot.inventory.bastion import NO_JUMP, JumpSpec, from_ssh_args
from k8sboot.inventory.model import ROLE_GROUPS, Bastion, Host, Inventory
from k8sboot.inventory.raw import (
    BASTION_GROUP,
    BASTION_VAR,
    BECOME_PASSWORD_VARS,
    CONNECTION_VARS,
    ROLE_ALIASES,
    SSH_ARGS_VARS,
    RawHost,
    RawInventory,
    settings_as_vars,
)
from k8sboot.inventory.validate import as_bool, as_port
from k8sboot.inventory.values import HOSTNAME
from k8sboot.inventory.ssh_config import load_ssh_config
from k8sboot.inventory.ssh_hosts import apply_ssh_config
from k8sboot.inventory.vars_dirs import group_vars, host_vars
from k8sboot.inventory.yaml_lines import plain


def resolve(raw: RawInventory, path: Path, extra: dict[str, Any]) -> Inventory:
    base = path.parent
    all_vars = {**raw.all_vars, **group_vars(base, "all")}
    group_layers = {g: {**grp.vars, **group_vars(base, g)} for g, grp in raw.groups.items()}
    order = _group_order(raw, group_layers)
    memberships = _memberships(raw)

    resolved: dict[str, dict[str, Any]] = {}
    for name, host in raw.hosts.items():
        layered = {**settings_as_vars(raw.defaults), **all_vars}
        for group in sorted(memberships[name], key=order.__getitem__):
            layered.update(group_layers[group])
        layered.update(host.vars)
        layered.update(settings_as_vars(host.settings))
        layered.update(host_vars(base, name))
        layered.update(extra)
        resolved[name] = plain(layered)

    cluster = plain(raw.cluster) if raw.dialect == "native" else \
        cluster_from_ansible_vars(_first_control_plane_vars(raw, memberships, resolved, all_vars),
                                  raw.file)
    explicit: dict[str, set[str]] = {}  # the connection fields each host's inventory sets
    hosts = {name: _host(raw, host, memberships[name], resolved[name], cluster, base, explicit)
             for name, host in raw.hosts.items()}
    direct = _apply_bastion_group(raw, hosts)
    ssh_config = load_ssh_config(_ssh_config_path(cluster, base, raw.file))
    if ssh_config is not None:
        apply_ssh_config(hosts, ssh_config, explicit, direct)
    # every group is listed, even an empty one (kubespray's calico_rr usually is)
    groups: dict[str, list[str]] = {"all": list(hosts), **{g: [] for g in ROLE_GROUPS},
                                    **{g: [] for g in raw.groups}}
    for host_obj in hosts.values():
        for group in host_obj.groups:
            groups[group].append(host_obj.name)
    top_vars = plain({**all_vars, **extra})
    for secret in BECOME_PASSWORD_VARS:
        top_vars.pop(secret, None)
    return Inventory(path=path.resolve(), cluster=cluster, hosts=hosts, groups=groups,
                     vars=top_vars)


def _host(raw: RawInventory, spec: RawHost, member_of: set[str], host_vars_: dict[str, Any],
          cluster: dict[str, Any], base: Path, explicit: dict[str, set[str]]) -> Host:
    found = {field: _pop_connection(host_vars_, aliases)
             for field, aliases in CONNECTION_VARS.items()}
    explicit[spec.name] = {field for field, value in found.items() if value is not None}
    what, file, line = f"host {spec.name!r}", raw.file, spec.line
    provider = _provider(raw, spec, cluster)
    address = found["address"]
    if address is None and raw.dialect != "native":
        # Ansible connects to the inventory name when there is no ansible_host; we take
        # kubespray's `ip` first, then the name if it is a usable IP or DNS name.
        address = host_vars_.get("ip") or (spec.name if _is_address(spec.name) else None)
    if address is None and provider not in PROVISIONING_PROVIDERS:
        hint = "address: <ip or DNS name>" if raw.dialect == "native" else "ansible_host=<ip>"
        raise InputError(f"{what} has no address: add {hint} (only hosts a provider creates "
                         f"may leave it out)", file=file, line=line)
    host = Host(name=spec.name, address=None if address is None else str(address),
                groups=_group_names(raw, member_of), vars=host_vars_, provider=provider)
    if found["port"] is not None:
        host.port = as_port(found["port"], f"{what} port", file, line)
    if found["user"] is not None:
        host.user = str(found["user"])
    if found["key"] is not None:
        host.key = resolve_key(str(found["key"]), base)
    if found["become"] is not None:
        host.become = as_bool(found["become"], f"{what} become", file, line)
    password = _pop_connection(host_vars_, BECOME_PASSWORD_VARS)
    if password is not None:
        host.become_password = str(password)
    jump = _jump(host_vars_, what, file, line)
    if jump is NO_JUMP:
        host.vars[EXPLICITLY_DIRECT] = True  # a [bastion] group does not apply to it
    elif jump is not None:
        host.bastion = Bastion(jump.address, jump.port or 22, jump.user or host.user,
                               resolve_key(jump.key, base) if jump.key else host.key)
    return host


# set on a host that says `bastion: none` / ProxyJump=none; removed once the bastion is known
EXPLICITLY_DIRECT = "__k8sboot_direct"


def _jump(host_vars_: dict[str, Any], what: str, file: str, line: int | None) -> JumpSpec | None:
    """The host's jump host: native `bastion:` first, else Ansible's ssh args; all leave the vars."""
    native = host_vars_.pop(BASTION_VAR, None)
    args = {name: host_vars_.pop(name) for name in SSH_ARGS_VARS if name in host_vars_}
    if native is not None:
        return native if isinstance(native, JumpSpec) else None
    for name, text in args.items():
        found = from_ssh_args(text, f"{what} {name}", file, line)
        if found is not None:
            return found
    return None


def _ssh_config_path(cluster: dict[str, Any], base: Path, file: str) -> Path | None:
    """`cluster.ssh_config` (relative to the inventory), else None: ~/.ssh/config if there is one."""
    value = cluster.get("ssh_config")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"cluster.ssh_config must be a file path, not {value!r}", file=file)
    return Path(resolve_key(value, base))


def _apply_bastion_group(raw: RawInventory, hosts: dict[str, Host]) -> set[str]:
    """kubespray's `[bastion]` group: its one host is the way in to every other host.

    Returns the hosts told to take no jump host (`bastion: none`, ProxyJump=none).
    """
    group = raw.groups.get(BASTION_GROUP)
    members = [h for h in group.hosts if h in hosts] if group and raw.dialect != "native" else []
    if len(members) > 1:
        raise InputError(f"the {BASTION_GROUP!r} group lists {len(members)} hosts "
                         f"({', '.join(members)}); kubespray's bastion pattern has one",
                         file=raw.file, line=group.line if group else None)
    bastion = hosts.pop(members[0]) if members else None
    if bastion is not None:
        if bastion.address is None:
            raise InputError(f"bastion host {bastion.name!r} has no address: add ansible_host=<ip>",
                             file=raw.file, line=raw.hosts[bastion.name].line)
        if bastion.bastion is not None:
            raise InputError(f"bastion host {bastion.name!r} is itself reached through a jump host; "
                             f"k8sboot follows one", file=raw.file, line=raw.hosts[bastion.name].line)
    direct: set[str] = set()
    for host in hosts.values():
        if host.vars.pop(EXPLICITLY_DIRECT, False):
            direct.add(host.name)
        elif bastion is not None and host.bastion is None:
            host.bastion = Bastion(bastion.address or "", bastion.port, bastion.user, bastion.key)
    return direct


def resolve_key(key: str, base: Path) -> str:
    """`~` expanded; a relative path is taken from the inventory file's directory."""
    expanded = Path(os.path.expanduser(key))
    return os.path.abspath(expanded if expanded.is_absolute() else base / expanded)


def _pop_connection(host_vars_: dict[str, Any], aliases: tuple[str, ...]) -> Any:
    """The first alias set wins; all of them leave the vars (they live on Host fields now)."""
    value = None
    for alias in aliases:
        if alias in host_vars_:
            found = host_vars_.pop(alias)
            value = found if value is None else value
    return value


def _provider(raw: RawInventory, spec: RawHost, cluster: dict[str, Any]) -> str | None:
    """host > defaults > cluster.provider.type; "none" on a host opts out explicitly."""
    if spec.provider is not None:
        return None if spec.provider == "none" else spec.provider
    if raw.defaults.get("provider"):
        return raw.defaults["provider"]
    if "provider" in cluster:
        return provider_type(cluster["provider"], "cluster.provider", raw.file, None)
    return None


def _memberships(raw: RawInventory) -> dict[str, set[str]]:
    """Each host's groups: those listing it, and every ancestor of those."""
    parents: dict[str, set[str]] = {g: set() for g in raw.groups}
    for name, group in raw.groups.items():
        for child in group.children:
            parents.setdefault(child, set()).add(name)
    out: dict[str, set[str]] = {h: set() for h in raw.hosts}
    for name, group in raw.groups.items():
        for host in group.hosts:
            stack = [name]
            while stack:
                current = stack.pop()
                if current not in out[host]:
                    out[host].add(current)
                    stack.extend(parents.get(current, ()))
    return out


def _group_order(raw: RawInventory, layers: dict[str, dict[str, Any]]) -> dict[str, tuple]:
    """Sort key per group: (depth from all, ansible_group_priority, name), as Ansible sorts."""
    depth: dict[str, int] = {}

    def depth_of(name: str, path: tuple[str, ...]) -> int:
        if name in path:
            cycle = " -> ".join(path[path.index(name):] + (name,))
            raise InputError(f"group {name!r} is its own ancestor ({cycle}): remove one of "
                             f"these children links", file=raw.file, line=raw.groups[name].line)
        if name not in depth:
            parents = [p for p, g in raw.groups.items() if name in g.children]
            depth[name] = 1 + max((depth_of(p, path + (name,)) for p in parents), default=0)
        return depth[name]

    order = {}
    for name in raw.groups:
        priority = layers[name].get("ansible_group_priority", 1)
        order[name] = (depth_of(name, ()), priority if isinstance(priority, int) else 1, name)
    return order


def _group_names(raw: RawInventory, member_of: set[str]) -> list[str]:
    """Role groups first (kubespray names mapped), then the inventory's own names."""
    roles = {ROLE_ALIASES.get(g, g) for g in member_of}
    names = [g for g in ROLE_GROUPS if g in roles]
    names += [g for g in raw.groups if g in member_of and g not in names]
    return names


def _first_control_plane_vars(raw: RawInventory, memberships: dict[str, set[str]],
                              resolved: dict[str, dict[str, Any]],
                              all_vars: dict[str, Any]) -> dict[str, Any]:
    """kubespray keeps cluster settings in group_vars/k8s_cluster: read them as a control
    plane host sees them; with no control plane host, the all-level vars."""
    for name in raw.hosts:
        if any(ROLE_ALIASES.get(g, g) == layout.CONTROL_PLANE for g in memberships[name]):
            return resolved[name]
    return all_vars


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return bool(HOSTNAME.fullmatch(name))
