"""Settings of the LXC provider: what `cluster.provider` says, with defaults.

    cluster:
      provider: {type: lxc, network: 10.125.0.0/24, path: /var/lib/k8sboot/lxc}
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from k8sboot.errors import InputError
from k8sboot.inventory.model import Inventory
from k8sboot.providers.settings_input import network_setting, provider_mapping

PROVIDER = "lxc"
# apart from the libvirt provider's 192.168.150.0/24 and Kubernetes' default pod and
# service ranges (10.244.0.0/16, 10.96.0.0/12)
DEFAULT_NETWORK = ipaddress.IPv4Network("10.125.0.0/24")
DEFAULT_PATH = Path("/var/lib/k8sboot/lxc")


@dataclass(frozen=True)
class LxcSettings:
    network: ipaddress.IPv4Network = DEFAULT_NETWORK
    path: Path = DEFAULT_PATH  # containers live in <path>/<cluster>/, templates in <path>/templates
    ssh_timeout: float = 120.0

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> LxcSettings:
        raw = provider_mapping(inventory, PROVIDER)
        if raw is None:
            return cls()
        network = network_setting(raw, cls.network)
        path = Path(str(raw.get("path", cls.path))).expanduser()
        if not path.is_absolute():
            raise InputError(f"cluster.provider.path: {path} must be an absolute path")
        try:
            timeout = float(raw.get("ssh_timeout", cls.ssh_timeout))
        except (TypeError, ValueError):
            raise InputError("cluster.provider.ssh_timeout must be a number of seconds") from None
        return cls(network=network, path=path, ssh_timeout=timeout)
