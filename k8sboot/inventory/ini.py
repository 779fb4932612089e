"""A reader for Ansible's INI inventory syntax, keeping the line of everything.

    [group]            host lines: `name key=value ...` (shell-style quoting, # comments)
    [group:vars]       `key=value` lines
    [group:children]   one group name per line

Lines before the first section are hosts of the implicit `ungrouped` group.
Values are read as Python literals when they are one (`22` -> 22, `True` ->
True) and as strings otherwise, which is what Ansible does.
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from k8sboot.errors import InputError

# used with fullmatch: `$` would also accept a name that ends in a newline
_SECTION = re.compile(r"\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?")
_KINDS = ("hosts", "vars", "children")
_INLINE_COMMENT = re.compile(r"\s+[#;].*$")


@dataclass
class HostLine:
    line: int
    name: str
    vars: dict[str, Any]


@dataclass
class Section:
    name: str
    kind: str  # "hosts", "vars" or "children"
    line: int
    hosts: list[HostLine] = field(default_factory=list)
    vars: list[tuple[int, str, Any]] = field(default_factory=list)
    children: list[tuple[int, str]] = field(default_factory=list)


def looks_like_ini(text: str) -> bool:
    """True when the first meaningful line is an INI section header."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        return bool(_SECTION.fullmatch(line)) or ("=" in line and ":" not in line.split("=", 1)[0])
    return False


def parse_ini(text: str, file: str) -> list[Section]:
    sections = [Section("ungrouped", "hosts", 0)]
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            sections.append(_section(line, file, number))
            continue
        section = sections[-1]
        if section.kind == "hosts":
            section.hosts.append(_host_line(line, file, number))
        elif section.kind == "vars":
            key, value = _var_line(line, section.name, file, number)
            section.vars.append((number, key, value))
        else:
            child = _INLINE_COMMENT.sub("", line)
            if not _SECTION.fullmatch(f"[{child}]"):
                raise InputError(f"[{section.name}:children] lists group names, one per line; "
                                 f"{child!r} is not a group name", file=file, line=number)
            section.children.append((number, child))
    return sections


def parse_value(text: str) -> Any:
    """A Python literal when the text is one, else the text itself (as Ansible reads INI)."""
    try:
        value = ast.literal_eval(text)
        repr(value)  # an integer past Python's digit limit cannot even be printed
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        # TypeError: an unhashable set member or dict key, e.g. {[1]: 2}
        return text
    return value


def _ascii_digits(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit()


def _section(line: str, file: str, number: int) -> Section:
    match = _SECTION.fullmatch(line)
    if not match:
        raise InputError(f"invalid section header {line!r}: use [group], [group:vars] or "
                         f"[group:children]", file=file, line=number)
    name, kind = match.group(1), match.group(2) or "hosts"
    if kind not in _KINDS:
        raise InputError(f"section [{name}:{kind}] has unknown type '{kind}': use "
                         f"[{name}], [{name}:vars] or [{name}:children]", file=file, line=number)
    return Section(name, kind, number)


def _host_line(line: str, file: str, number: int) -> HostLine:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InputError(f"cannot read host line: {exc}", file=file, line=number) from None
    if not tokens:
        raise InputError(f"expected a host name, got {line!r}", file=file, line=number)
    name, host_vars = tokens[0], {}
    if "[" in name:
        raise InputError(f"host ranges like {name!r} are not supported: list the hosts one "
                         f"per line", file=file, line=number)
    if name.count(":") == 1 and _ascii_digits(name.split(":")[1]):
        # Ansible's `host:2222` shorthand for the SSH port
        name, port = name.split(":")
        host_vars["ansible_port"] = int(port)
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise InputError(f"expected key=value after the host name, got {token!r}",
                             file=file, line=number)
        host_vars[key] = parse_value(value)
    return HostLine(number, name, host_vars)


def _var_line(line: str, group: str, file: str, number: int) -> tuple[str, Any]:
    key, sep, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or " " in key:
        raise InputError(f"[{group}:vars] expects key=value lines, got {line!r}",
                         file=file, line=number)
    if value[:1] not in ("'", '"'):
        value = _INLINE_COMMENT.sub("", value)  # a trailing `# comment` is not part of the value
    return key, parse_value(value)
