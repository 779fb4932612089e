"""The native inventory format: one YAML file with cluster, defaults, hosts and vars.

    cluster:    {name: lab, pod_cidr: ..., provider: ...}   free-form cluster settings
    defaults:   {user, port, key, become, provider, bastion} connection defaults
    hosts:      {cp1: {address, port, user, key, become, groups, vars, provider,
                       cpus, memory, disk, bastion}}             (bastion: see bastion.py)
    vars:       {}                                           the `all` level vars
    group_vars: {nodes: {...}}                               vars per role group
"""

from __future__ import annotations

from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.bastion import from_native
from k8sboot.inventory.cluster import check_cluster, provider_type
from k8sboot.inventory.model import ROLE_GROUPS
from k8sboot.inventory.raw import CONNECTION_VARS, ROLE_ALIASES, RawInventory
from k8sboot.inventory.validate import (
    as_bool,
    as_port,
    check_keys,
    require_mapping,
    short,
    suggest,
)
from k8sboot.inventory.values import as_address, check_vars, single_line
from k8sboot.inventory.yaml_lines import line_of

TOP_KEYS = ("cluster", "defaults", "hosts", "vars", "group_vars")
DEFAULT_KEYS = ("user", "port", "key", "become", "provider", "bastion")
HOST_KEYS = ("address", "port", "user", "key", "become", "groups", "vars", "provider",
             "cpus", "memory", "disk", "bastion")
SIZE_KEYS = ("cpus", "memory", "disk")  # sizes for provisioned VMs; providers read them from vars


def parse_native(doc: Any, file: str) -> RawInventory:
    """Turn a loaded native YAML document into a RawInventory, checking its shape."""
    top = require_mapping(doc, "the inventory", file, 1)
    check_keys(top, TOP_KEYS, "top-level", file)
    raw = RawInventory(file=file, dialect="native")
    raw.cluster = check_cluster(top.get("cluster"), file, line_of(top, "cluster"))
    defaults = require_mapping(top.get("defaults"), "defaults", file, line_of(top, "defaults"))
    check_keys(defaults, DEFAULT_KEYS, "defaults", file)
    raw.defaults = _connection(defaults, "defaults", file)
    if defaults.get("bastion") is not None:
        raw.defaults["bastion"] = from_native(defaults["bastion"], "defaults.bastion", file,
                                              line_of(defaults, "bastion"))
    if "provider" in defaults:
        raw.defaults["provider"] = provider_type(defaults["provider"], "defaults.provider",
                                                 file, line_of(defaults, "provider"))
    hosts = require_mapping(top.get("hosts"), "hosts", file, line_of(top, "hosts"))
    if not hosts:
        raise InputError("no hosts: add at least one under 'hosts:'", file=file,
                         line=line_of(top, "hosts"))
    for name, spec in hosts.items():
        _parse_host(raw, str(name), spec, line_of(hosts, name))
    top_vars = require_mapping(top.get("vars"), "vars", file, line_of(top, "vars"))
    check_vars(top_vars, "vars", file, line_of(top, "vars"))
    raw.all_vars = dict(top_vars)
    group_vars = require_mapping(top.get("group_vars"), "group_vars", file,
                                 line_of(top, "group_vars"))
    for group, gvars in group_vars.items():
        line = line_of(group_vars, group)
        gvars = require_mapping(gvars, f"group_vars.{group}", file, line)
        if group != "all":  # all: the same level as top-level vars
            _check_group_name(group, f"group_vars group {group!r}", file, line)
        raw.add_group_vars(group, line, gvars)
    return raw


def _parse_host(raw: RawInventory, name: str, spec: Any, line: int | None) -> None:
    file = raw.file
    spec = require_mapping(spec, f"host {name!r}", file, line)
    check_keys(spec, HOST_KEYS, f"host {name!r}", file)
    host_vars = dict(require_mapping(spec.get("vars"), f"host {name!r} vars", file,
                                     line_of(spec, "vars")))
    for size in SIZE_KEYS:
        if size in spec:
            host_vars[size] = spec[size]
    host = raw.add_host(name, line, host_vars)
    host.settings = _connection(spec, f"host {name!r}", file)
    if spec.get("bastion") is not None:
        host.settings["bastion"] = from_native(spec["bastion"], f"host {name!r} bastion", file,
                                               line_of(spec, "bastion"))
    if "provider" in spec:
        # "none" (not None) records an explicit opt-out of a defaults/cluster provider
        host.provider = provider_type(spec["provider"], f"host {name!r} provider", file,
                                      line_of(spec, "provider")) or "none"
    groups = spec.get("groups", [])
    if not isinstance(groups, list):
        raise InputError(
            f"host {name!r} groups must be a list like [etcd, control_plane, nodes], "
            f"not {short(groups)}", file=file, line=line_of(spec, "groups"))
    for index, group in enumerate(groups):
        where = line_of(groups, index)
        _check_group_name(group, f"group {group!r} for host {name!r}", file, where)
        members = raw.group(group, where).hosts
        if name not in members:
            members.append(name)


def _connection(spec: dict[str, Any], what: str, file: str) -> dict[str, Any]:
    """Pick and check the connection settings out of a host or `defaults` mapping."""
    out: dict[str, Any] = {}
    for key in CONNECTION_VARS:
        if key not in spec or spec[key] is None:
            continue
        value, line = spec[key], line_of(spec, key)
        if key == "port":
            value = as_port(value, f"{what} port", file, line)
        elif key == "become":
            value = as_bool(value, f"{what} become", file, line)
        elif key in ("address", "user", "key") and not isinstance(value, str):
            raise InputError(f"{what} {key} must be a string, not {short(value)}", file=file,
                             line=line)
        elif key == "address":
            as_address(value, f"{what} address", file, line)
        else:
            single_line(value, f"{what} {key}", file, line)
        out[key] = value
    return out


def _check_group_name(group: Any, what: str, file: str, line: int | None) -> None:
    if group in ROLE_GROUPS:
        return
    # a list or mapping where a name belongs is unhashable: no alias lookup for it
    alias = ROLE_ALIASES.get(group) if isinstance(group, str) else None
    hint = (f"; did you mean '{alias}'?" if alias
            else suggest(group, ROLE_GROUPS))
    raise InputError(f"unknown {what}{hint} (native inventories use only "
                     f"{', '.join(ROLE_GROUPS)})", file=file, line=line)
