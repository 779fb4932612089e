"""What an OpenSSH client config says about the inventory's hosts, where the inventory says nothing.

For each host reached as it is (not one a provider makes), the name ssh would
be given (its address, else its inventory name) is looked up in `ssh_config`
(a cluster setting) or ~/.ssh/config: HostName, User, Port, IdentityFile and
ProxyJump fill in what the inventory left out, as `ssh <that name>` would.
The jump host's own name is looked up too, as OpenSSH does.
"""

from __future__ import annotations

from pathlib import Path

from k8sboot.inventory.bastion import parse_destination
from k8sboot.inventory.model import Bastion, Host
from k8sboot.inventory.ssh_config import SshConfig, lookup

# the connection fields the inventory itself set, per host (the inventory wins over the config)
Explicit = dict[str, set[str]]


def apply_ssh_config(hosts: dict[str, Host], config: SshConfig, explicit: Explicit,
                     direct: set[str]) -> None:
    """Fill each host's unset connection fields from `config`; `direct`: hosts told to use no jump."""
    for host in hosts.values():
        if host.provider is not None:
            continue  # its provider records how it is reached
        said = explicit.get(host.name, set())
        name = host.address or host.name
        entry = lookup(config, name)
        if entry.hostname:
            host.address = entry.hostname
        if entry.user and "user" not in said:
            host.user = entry.user
        if entry.port and "port" not in said:
            host.port = entry.port
        if entry.identity_files and "key" not in said:
            existing = [f for f in entry.identity_files if Path(f).expanduser().exists()]
            if existing:
                host.key = str(Path(existing[0]).expanduser())
        if entry.proxy_jump and host.bastion is None and host.name not in direct \
                and entry.proxy_jump.strip().lower() != "none":
            host.bastion = _jump_host(config, entry.proxy_jump, host)


def _jump_host(config: SshConfig, text: str, host: Host) -> Bastion:
    spec = parse_destination(text, f"host {host.name!r}: ProxyJump", str(config.path), None)
    jump = lookup(config, spec.address)
    keys = [f for f in jump.identity_files if Path(f).expanduser().exists()]
    return Bastion(
        address=jump.hostname or spec.address,
        port=spec.port or jump.port or 22,
        user=spec.user or jump.user or host.user,
        key=str(Path(keys[0]).expanduser()) if keys else host.key,
    )
