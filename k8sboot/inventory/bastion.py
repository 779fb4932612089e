"""Jump hosts as each dialect writes them, read into one `Bastion` per host.

    native:  bastion: {address: 203.0.113.5, port: 22, user: ops, key: ~/.ssh/bastion}
             bastion: ops@203.0.113.5:2222          (the same, as ssh -J writes it)
             bastion: none                          (on a host: reach it directly)
    Ansible: ansible_ssh_common_args='-o ProxyJump=ops@203.0.113.5'   (or -J ops@203.0.113.5)
             ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -p 22 ops@203.0.113.5 -i key"'
             [bastion] group with one host: kubespray's pattern; every other host goes through it

A jump host's user and key default to the host's own (one admin account and one
key is the common set-up); ssh_config and the agent fill in the rest as for any host.
Only one hop: a chain (`-J a,b`) is refused rather than half followed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.validate import as_port, check_keys, short
from k8sboot.inventory.values import as_address, single_line

NATIVE_KEYS = ("address", "port", "user", "key")
# what an Ansible user may write in ansible_ssh_*_args that k8sboot deliberately does not
# follow: host keys are always checked (k8sboot's known_hosts), as the issue demands
IGNORED_OPTIONS = ("stricthostkeychecking", "userknownhostsfile", "globalknownhostsfile")


@dataclass(frozen=True)
class JumpSpec:
    """A jump host as written: what is not said is filled from the host it serves."""

    address: str
    port: int | None = None
    user: str | None = None
    key: str | None = None


NO_JUMP = JumpSpec("")  # written explicitly: "reach this host directly"


def parse_destination(text: str, what: str, file: str, line: int | None) -> JumpSpec:
    """`[user@]host[:port]` (an IPv6 address in brackets), as ssh -J takes it."""
    spec = text.strip()
    if not spec or any(c.isspace() for c in spec):
        raise InputError(f"{what}: {short(text)} is not a jump host: write [user@]host[:port]",
                         file=file, line=line)
    if "," in spec:
        raise InputError(f"{what}: {spec!r} is a chain of jump hosts; k8sboot follows one "
                         f"(put the last hop in the inventory and reach it through the first "
                         f"yourself)", file=file, line=line)
    spec = spec.removeprefix("ssh://")
    user = None
    if "@" in spec:
        user, spec = spec.rsplit("@", 1)
        if not user:
            raise InputError(f"{what}: empty user in {text!r}", file=file, line=line)
    port: int | None = None
    if spec.startswith("["):
        end = spec.find("]")
        if end < 0:
            raise InputError(f"{what}: unclosed '[' in {text!r}", file=file, line=line)
        address, rest = spec[1:end], spec[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise InputError(f"{what}: {text!r} is not [user@]host[:port]", file=file, line=line)
            port = as_port(rest[1:], f"{what} port", file, line)
    elif spec.count(":") == 1:
        address, port_text = spec.split(":")
        port = as_port(port_text, f"{what} port", file, line)
    else:
        address = spec  # a bare IPv6 address has several colons and no port
    as_address(address, f"{what} address", file, line)
    return JumpSpec(address, port, user)


def from_native(value: Any, what: str, file: str, line: int | None) -> JumpSpec | None:
    """The native `bastion:` value of a host or of `defaults`."""
    if value is None:
        return None
    if isinstance(value, str):
        return NO_JUMP if value.strip().lower() == "none" else \
            parse_destination(value, what, file, line)
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a mapping like {{address: 203.0.113.5, user: ops}} or "
                         f"'user@host:port', not {short(value)}", file=file, line=line)
    check_keys(value, NATIVE_KEYS, what, file)
    address = value.get("address")
    if not isinstance(address, str) or not address:
        raise InputError(f"{what} needs an address", file=file, line=line)
    as_address(address, f"{what} address", file, line)
    port = as_port(value["port"], f"{what} port", file, line) if value.get("port") is not None else None
    out: dict[str, str] = {}
    for key in ("user", "key"):
        if value.get(key) is not None:
            if not isinstance(value[key], str):
                raise InputError(f"{what} {key} must be a string, not {short(value[key])}", file=file,
                                 line=line)
            single_line(value[key], f"{what} {key}", file, line)
            out[key] = value[key]
    return JumpSpec(address, port, out.get("user"), out.get("key"))


def from_ssh_args(text: Any, what: str, file: str, line: int | None) -> JumpSpec | None:
    """The jump host in `ansible_ssh_common_args` / `ansible_ssh_extra_args`, if any."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string of ssh options, not {short(text)}", file=file, line=line)
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise InputError(f"{what}: cannot split {text!r} into ssh options: {e}", file=file, line=line) from None
    found: JumpSpec | None = None
    i = 0
    while i < len(words):
        word = words[i]
        if word == "-J" or word.startswith("-J"):
            value, i = _option_value(words, i, "-J", what, file, line)
            found = parse_destination(value, what, file, line)
        elif word == "-o" or word.startswith("-o"):
            value, i = _option_value(words, i, "-o", what, file, line)
            name, _, setting = value.replace("=", " ", 1).partition(" ")
            key = name.strip().lower()
            setting = setting.strip()
            if key == "proxyjump":
                found = NO_JUMP if setting.lower() == "none" else \
                    parse_destination(setting, what, file, line)
            elif key == "proxycommand":
                found = NO_JUMP if setting.lower() == "none" else \
                    _from_proxy_command(setting, what, file, line)
        else:
            i += 1
    return found


def _option_value(words: list[str], i: int, flag: str, what: str, file: str,
                  line: int | None) -> tuple[str, int]:
    """`-J x` or `-Jx`: the value, and the index after it."""
    if words[i] != flag:
        return words[i][len(flag):], i + 1
    if i + 1 >= len(words):
        raise InputError(f"{what}: {flag} needs a value", file=file, line=line)
    return words[i + 1], i + 2


def _from_proxy_command(command: str, what: str, file: str, line: int | None) -> JumpSpec:
    """`ssh -W %h:%p [-p PORT] [-i KEY] [-l USER] [-o ...] [user@]HOST`: kubespray's bastion form."""
    try:
        words = shlex.split(command)
    except ValueError as e:
        raise InputError(f"{what}: cannot read the ProxyCommand {command!r}: {e}", file=file, line=line) \
            from None
    if not words or words[0].rsplit("/", 1)[-1] != "ssh" or "-W" not in words:
        raise InputError(f"{what}: k8sboot reads a ProxyCommand only in the form 'ssh -W %h:%p "
                         f"[user@]bastion' (it does not run commands); use -o ProxyJump=... instead",
                         file=file, line=line)
    port: int | None = None
    user = key = target = None
    i = 1
    while i < len(words):
        word = words[i]
        if word in ("-W", "-p", "-i", "-l", "-o", "-F", "-J") and i + 1 < len(words):
            value = words[i + 1]
            if word == "-p":
                port = as_port(value, f"{what} ProxyCommand port", file, line)
            elif word == "-i":
                key = value
            elif word == "-l":
                user = value
            elif word == "-J":
                raise InputError(f"{what}: a ProxyCommand that jumps again is a chain of jump hosts; "
                                 f"k8sboot follows one", file=file, line=line)
            i += 2
        elif word.startswith("-"):
            i += 1  # -q, -4, -A, -T ...: flags without a value that change nothing here
        else:
            target = word
            i += 1
    if target is None:
        raise InputError(f"{what}: the ProxyCommand names no bastion host", file=file, line=line)
    spec = parse_destination(target, what, file, line)
    return JumpSpec(spec.address, port or spec.port, user or spec.user, key)
