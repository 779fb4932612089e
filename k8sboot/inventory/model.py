"""The resolved inventory: hosts with their connection settings, groups and vars.

Every dialect (native YAML, Ansible INI/YAML) loads into these types; nothing
downstream knows which file format a host came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8sboot import cluster_layout as layout

ROLE_GROUPS = layout.ROLE_GROUPS


@dataclass(frozen=True)
class Bastion:
    """A jump host the controller reaches first; the host is reached through it (direct-tcpip)."""

    address: str
    port: int = 22
    user: str = "root"
    key: str | None = None  # path to the private key, ~ expanded; None: agent / default keys

    def describe(self) -> str:
        return f"{self.user}@{self.address}:{self.port}"


@dataclass
class Host:
    name: str
    address: str | None
    port: int = 22
    user: str = "root"
    key: str | None = None  # path to the private key, ~ expanded
    become: bool = False
    groups: list[str] = field(default_factory=list)
    # every var that applies to this host, precedence already resolved:
    # vars (all) < group vars < host vars < extra vars (-e)
    vars: dict[str, Any] = field(default_factory=dict)
    provider: str | None = None  # "lxc", "libvirt", "vagrant" or None (a machine reached as it is)
    bastion: Bastion | None = None  # reached through this jump host, else directly
    # sudo's password for become; never shown (repr), never in vars (so never listed or logged)
    become_password: str | None = field(default=None, repr=False, compare=False)

    def in_group(self, group: str) -> bool:
        return group in self.groups

    @property
    def node_name(self) -> str:
        """The Kubernetes node name: the inventory name unless `node_name` overrides it."""
        return str(self.vars.get("node_name") or self.name)


@dataclass
class Inventory:
    path: Path | None
    cluster: dict[str, Any]  # cluster-wide settings (name, CIDRs, binaries, provider, ...)
    hosts: dict[str, Host]  # in file order
    groups: dict[str, list[str]]  # group -> host names, role groups always present
    vars: dict[str, Any] = field(default_factory=dict)  # the `all` level vars
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.cluster.get("name", "k8sboot"))

    def hosts_in(self, group: str) -> list[Host]:
        return [self.hosts[n] for n in self.groups.get(group, [])]

