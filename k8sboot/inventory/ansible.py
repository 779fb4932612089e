"""Ansible inventories (INI and YAML), as kubespray users already have them.

Groups and vars are taken as Ansible defines them; `resolve.py` later maps
kubespray's group names onto the role groups (kube_control_plane ->
control_plane, kube_node -> nodes, etcd -> etcd) and the `ansible_*` connection
vars onto address/port/user/key/become.
"""

from __future__ import annotations

from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.ini import parse_ini
from k8sboot.inventory.raw import RawInventory
from k8sboot.inventory.validate import check_keys, require_mapping, suggest
from k8sboot.inventory.yaml_lines import line_of

GROUP_KEYS = ("hosts", "children", "vars")
_IMPLICIT = ("all", "ungrouped")


def parse_ansible_ini(text: str, file: str) -> RawInventory:
    raw = RawInventory(file=file, dialect="ansible-ini")
    declared: set[str] = set()  # groups that have a hosts or children section, or are a child
    vars_sections: list[tuple[str, int]] = []
    for section in parse_ini(text, file):
        name = section.name
        if section.kind == "hosts":
            if name == "ungrouped" and not section.hosts:
                continue  # the implicit section before the first header
            declared.add(name)
            if name not in _IMPLICIT:
                raw.group(name, section.line)  # an empty group is still a group
            for entry in section.hosts:
                raw.add_host(entry.name, entry.line, entry.vars)
                _member(raw, name, entry.name, section.line)
        elif section.kind == "children":
            declared.add(name)
            for line, child in section.children:
                declared.add(child)
                _child(raw, name, child, line)
        else:
            vars_sections.append((name, section.line))
            for line, key, value in section.vars:
                raw.add_group_vars(name, line, {key: value})
    for name, line in vars_sections:
        if name not in declared and name != "all":
            raise InputError(
                f"[{name}:vars] sets vars for a group that has no hosts or children"
                f"{suggest(name, declared | {'all'})}", file=file, line=line)
    return raw


def parse_ansible_yaml(doc: Any, file: str) -> RawInventory:
    """`all: {hosts: {name: vars}, children: {group: {hosts, children, vars}}, vars: {...}}`"""
    top = require_mapping(doc, "the inventory", file, 1)
    raw = RawInventory(file=file, dialect="ansible-yaml")
    for name, node in top.items():
        _yaml_group(raw, str(name), node, line_of(top, name), None)
    return raw


def _yaml_group(raw: RawInventory, name: str, node: Any, line: int | None,
                parent: str | None) -> None:
    file = raw.file
    node = require_mapping(node, f"group {name!r}", file, line)
    check_keys(node, GROUP_KEYS, f"group {name!r}", file)
    if parent is not None:
        _child(raw, parent, name, line)
    elif name not in _IMPLICIT:
        raw.group(name, line)
    hosts = require_mapping(node.get("hosts"), f"group {name!r} hosts (host name: vars)", file,
                            line_of(node, "hosts"))
    for host, host_vars in hosts.items():
        host_line = line_of(hosts, host)
        host_vars = require_mapping(host_vars, f"vars of host {host!r}", file, host_line)
        raw.add_host(str(host), host_line, host_vars)
        _member(raw, name, str(host), line)
    group_vars = require_mapping(node.get("vars"), f"group {name!r} vars", file,
                                 line_of(node, "vars"))
    raw.add_group_vars(name, line_of(node, "vars") or line, group_vars)
    children = require_mapping(node.get("children"), f"group {name!r} children", file,
                               line_of(node, "children"))
    for child, child_node in children.items():
        _yaml_group(raw, str(child), child_node, line_of(children, child), name)


def _member(raw: RawInventory, group: str, host: str, line: int | None) -> None:
    if group == "all":
        return  # every host is in all
    members = raw.group(group, line).hosts
    if host not in members:
        members.append(host)


def _child(raw: RawInventory, parent: str, child: str, line: int | None) -> None:
    if child == "all":
        raise InputError(f"group 'all' cannot be a child of {parent!r}", file=raw.file, line=line)
    raw.group(child, line)
    if parent == "all":
        return  # a child of all is just a top-level group
    children = raw.group(parent, line).children
    if child not in children:
        children.append(child)
