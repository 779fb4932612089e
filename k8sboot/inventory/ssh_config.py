"""What an OpenSSH client config (~/.ssh/config, or `ssh_config: FILE`) says about a host.

Only HostName, User, Port, IdentityFile and ProxyJump are read; the inventory
wins over them where both say something (the caller's rule). Parsing and
matching are paramiko's `SSHConfig` (Host patterns, `!negation`, Match, the
first value obtained for an option wins, IdentityFile accumulates), with one
addition: `Include` is followed, which paramiko would silently ignore.
"""

from __future__ import annotations

import glob
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from k8sboot.errors import InputError

if TYPE_CHECKING:  # paramiko loads slowly: imported only when there is a config to read
    import paramiko

# OpenSSH's own limit on nested Include
MAX_INCLUDE_DEPTH = 16

_INCLUDE = re.compile(r"\s*include(?:\s*=\s*|\s+)(.*)$", re.IGNORECASE)
_BLOCK = re.compile(r"\s*(?:host|match)(?:\s*=\s*|\s+)", re.IGNORECASE)


@dataclass(frozen=True)
class SshConfig:
    """A parsed client config and the file it came from (for messages)."""

    path: Path
    parsed: paramiko.SSHConfig


@dataclass(frozen=True)
class SshConfigEntry:
    """What a config says explicitly for one host name; None / () where it says nothing.

    `hostname` is set only when the config changes the name; `proxy_jump` is the
    single jump host as written after token expansion ("admin@bastion:2222",
    "bastion", or "none", which means: no jump host).
    """

    hostname: str | None
    user: str | None
    port: int | None
    identity_files: tuple[str, ...]
    proxy_jump: str | None


def load_ssh_config(path: Path | None) -> SshConfig | None:
    """Parse `path`, or ~/.ssh/config when path is None (None when that file does not exist).

    Raises InputError naming the file when an explicit path does not exist, or
    the file (or a file it includes) cannot be read or parsed.
    """
    if path is None:
        path = Path("~/.ssh/config").expanduser()
        if not path.exists():
            return None
    else:
        path = Path(path).expanduser()
        if not path.exists():
            raise InputError(f"SSH config {path} does not exist")
    import paramiko

    text = "\n".join(_read_with_includes(path, path, 0)) + "\n"
    try:
        parsed = paramiko.SSHConfig.from_text(text)
    except paramiko.ConfigParseError as e:
        raise InputError(f"not a valid SSH client config: {e}", file=str(path)) from None
    return SshConfig(path, parsed)


def _read_with_includes(path: Path, top: Path, depth: int) -> list[str]:
    """The lines of `path` with each Include replaced by the lines of the files it names.

    After an Include inside a Host/Match block that block's header is repeated,
    so the lines after the Include stay under it as they do in OpenSSH. (One
    difference remains: Host blocks inside a file included from a Host block
    apply whatever the enclosing block matched.)
    """
    if depth > MAX_INCLUDE_DEPTH:
        raise InputError(f"Include nested deeper than {MAX_INCLUDE_DEPTH} levels (a loop?) at {path}",
                         file=str(top))
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise InputError(f"SSH config {path} cannot be read: {reason}",
                         file=None if path == top else str(top)) from None
    lines: list[str] = []
    header: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        include = _INCLUDE.match(line)
        if include is None:
            if _BLOCK.match(line):
                header = line
            lines.append(line)
            continue
        try:
            patterns = shlex.split(include.group(1), comments=True)
        except ValueError as e:
            raise InputError(f"Include: {e}", file=str(path), line=number) from None
        for pattern in patterns:
            # as OpenSSH: relative names are under ~/.ssh; a pattern matching nothing is no error
            full = Path(pattern).expanduser()
            if not full.is_absolute():
                full = Path("~/.ssh").expanduser() / full
            for found in sorted(glob.glob(str(full))):
                if Path(found).is_file():
                    lines.extend(_read_with_includes(Path(found), top, depth + 1))
        if header is not None:
            lines.append(header)
    return lines


def lookup(config: SshConfig, name: str) -> SshConfigEntry:
    """What `config` says explicitly about the host `name` (first matching value wins).

    Tokens are expanded by paramiko where it does so (%h in HostName; ~, %d,
    %h, %u, %r in IdentityFile; %h, %p, %r in ProxyJump). Raises InputError
    naming the file for a Port that is no port number or a ProxyJump with more
    than one jump host (a comma-separated chain is not supported).
    """
    import paramiko

    where = str(config.path)
    try:
        found = config.parsed.lookup(name)
    except (paramiko.SSHException, ImportError, OSError) as e:
        # a failed CanonicalizeHostname, or `Match exec` without the invoke package
        raise InputError(f"looking up {name!r}: {e or type(e).__name__}", file=where) from None

    hostname = found.get("hostname")
    port_text = found.get("port")
    port: int | None = None
    if port_text is not None:
        port = int(port_text) if port_text.strip().isdigit() else None
        if port is None or not 0 < port < 65536:
            raise InputError(f"host {name}: Port {port_text!r} is not a port number (1-65535)",
                             file=where)
    proxy_jump = found.get("proxyjump")
    if proxy_jump is not None and "," in proxy_jump:
        raise InputError(
            f"host {name}: ProxyJump {proxy_jump!r}: more than one jump host is not supported",
            file=where)
    # a list at run time (IdentityFile accumulates), whatever the stubs say
    identity: object = found.get("identityfile")
    return SshConfigEntry(
        # paramiko fills in the name itself when the config gives no HostName
        hostname=hostname if hostname and hostname != name else None,
        user=found.get("user"),
        port=port,
        identity_files=(identity,) if isinstance(identity, str)
        else tuple(str(f) for f in identity) if isinstance(identity, list) else (),
        proxy_jump=proxy_jump,
    )
