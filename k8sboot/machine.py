"""A machine a provider made, as recorded in the cluster state's machines.json.

On disk each machine is one JSON object (unchanged since the first release)::

    "cp1": {"address": "192.168.150.11", "port": 22, "user": "root", "key": "...",
            "provider": "libvirt", "domain": "k8sboot-lab-cp1", "disk": "...", ...}

In memory it is a `Machine`: the connection fields every provider records, and
the provider's own details as a small typed record (`LibvirtExtra`,
`VagrantExtra`, `LxcExtra`). ClusterState converts at the file's boundary (`from_record`,
`to_record`); whatever a record holds that these types do not describe (a key
of a later version, a value of another type, an explicit null) is kept in
`unknown` and written back as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LibvirtExtra:
    """What the libvirt provider needs to find a VM's parts again (destroy)."""

    domain: str | None = None
    disk: str | None = None  # the qcow2 overlay
    seed: str | None = None
    console_log: str | None = None
    network: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class VagrantExtra:
    """Where Vagrant keeps a machine and how Vagrant itself reaches it."""

    domain: str | None = None
    machine_id: str | None = None  # Vagrant's id: the libvirt domain's UUID
    management_address: str | None = None
    management_port: int | None = None
    network: str | None = None
    management_network: str | None = None
    uri: str | None = None
    storage_pool: str | None = None
    console_log: str | None = None
    workdir: str | None = None


@dataclass(frozen=True)
class LxcExtra:
    """Where a system container lives (LXC's -P and -n) and the bridge it is on."""

    container: str | None = None
    lxcpath: str | None = None
    bridge: str | None = None


Extra = LibvirtExtra | VagrantExtra | LxcExtra
_EXTRAS: dict[str, type[Extra]] = {
    "libvirt": LibvirtExtra, "vagrant": VagrantExtra, "lxc": LxcExtra}
_BASE = ("address", "port", "user", "key", "provider")
_INTS = frozenset({"port", "management_port"})  # every other typed field is a string


def _fits(key: str, value: Any) -> bool:
    if key in _INTS:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


@dataclass(frozen=True)
class Machine:
    name: str
    address: str | None = None
    port: int | None = None
    user: str | None = None
    key: str | None = None  # the private key's path, as recorded
    provider: str | None = None
    extra: Extra | None = None
    unknown: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_record(cls, name: str, record: Mapping[str, Any]) -> Machine:
        """One machines.json entry (checked by ClusterState.machines) as a Machine."""
        provider = record.get("provider")
        extra_cls = _EXTRAS.get(provider) if isinstance(provider, str) else None
        extra_keys = {f.name for f in dataclasses.fields(extra_cls)} if extra_cls else set()
        base: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, value in record.items():
            if key in _BASE and _fits(key, value):
                base[key] = value
            elif key in extra_keys and _fits(key, value):
                extra[key] = value
            else:
                unknown[key] = value
        return cls(name=name, **base, extra=extra_cls(**extra) if extra_cls and extra else None,
                   unknown=unknown)

    def to_record(self) -> dict[str, Any]:
        """The machines.json entry: the fields that are set, then what was kept as it was."""
        out: dict[str, Any] = {k: v for k in _BASE if (v := getattr(self, k)) is not None}
        if self.extra is not None:
            out.update({k: v for k, v in dataclasses.asdict(self.extra).items() if v is not None})
        out.update(self.unknown)
        return out

    # Read-only access by record key, for readers written against the JSON records
    # (apply_machines, `k8sboot provision`'s summary); new code reads the attributes.
    def __getitem__(self, key: str) -> Any:
        return self.to_record()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_record().get(key, default)


Machines = dict[str, Machine]
