"""Reading `vagrant ssh-config`: how Vagrant itself reaches each machine.

The output is OpenSSH client configuration, one ``Host <machine>`` block per
machine::

    Host cp1
      HostName 192.168.121.53
      User vagrant
      Port 22
      IdentityFile /root/.cache/k8sboot/vagrant/id_ed25519
      IdentitiesOnly yes
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from k8sboot.errors import RunError


@dataclass(frozen=True)
class SshConfig:
    host: str  # the machine's name in the Vagrantfile
    address: str
    port: int
    user: str
    identity_files: tuple[str, ...]

    @property
    def key(self) -> str | None:
        """The first key Vagrant would offer (its private_key_path order)."""
        return self.identity_files[0] if self.identity_files else None


_LINE = re.compile(r"^\s*([^\s=]+)\s*(?:=|\s)\s*(.*?)\s*$")


def _split(line: str) -> tuple[str, str]:
    """`Key value`, `Key=value` or `Key "quoted value"` -> (lower-case key, value)."""
    match = _LINE.match(line)
    if not match:
        return line.strip().lower(), ""
    key, rest = match.groups()
    try:
        parts = shlex.split(rest)
    except ValueError:  # an unbalanced quote: take the text as it is
        parts = [rest]
    return key.lower(), " ".join(parts)


def parse_ssh_config(text: str) -> dict[str, SshConfig]:
    """Every `Host` block of the text, by name. Blocks without a HostName are errors."""
    blocks: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        key, value = _split(raw)
        if key == "host":
            current = blocks.setdefault(value, {})
            continue
        if current is None:
            continue  # options before the first Host line apply to no machine of ours
        current.setdefault(key, []).append(value)
    out: dict[str, SshConfig] = {}
    for name, opts in blocks.items():
        if not opts.get("hostname"):
            raise RunError(f"vagrant ssh-config: no HostName for machine {name!r}")
        try:
            port = int(opts.get("port", ["22"])[0])
        except ValueError:
            raise RunError(f"vagrant ssh-config: bad Port for machine {name!r}: "
                           f"{opts['port'][0]!r}") from None
        out[name] = SshConfig(host=name, address=opts["hostname"][0], port=port,
                              user=opts.get("user", ["vagrant"])[0],
                              identity_files=tuple(opts.get("identityfile", [])))
    return out
