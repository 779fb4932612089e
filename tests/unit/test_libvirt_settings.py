"""The libvirt provider's settings: read from `cluster.provider` only when it is libvirt's."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory
from k8sboot.providers.libvirt.settings import DEFAULT_NETWORK, LibvirtSettings
from tests.unit.provider_inventories import provider_inventory

REPO = Path(__file__).resolve().parents[2]


def inventory(tmp_path: Path, provider: str) -> Path:
    return provider_inventory(tmp_path, provider, "libvirt")


def test_the_shipped_vm_inventory_is_read():
    settings = LibvirtSettings.from_inventory(load_inventory(REPO / "inventory" / "local-vm.yml"))
    assert settings.network == ipaddress.IPv4Network("192.168.150.0/24")
    assert settings.accelerator == "auto"


def test_settings_are_read_and_bad_ones_named(tmp_path):
    inv = load_inventory(inventory(tmp_path, "{type: libvirt, network: 10.9.0.0/24, accelerator: tcg}"))
    settings = LibvirtSettings.from_inventory(inv)
    assert (settings.network, settings.accelerator) == (ipaddress.IPv4Network("10.9.0.0/24"), "tcg")
    with pytest.raises(InputError, match="cluster.provider.accelerator: 'quantum'"):
        LibvirtSettings.from_inventory(load_inventory(inventory(tmp_path, "{type: libvirt, accelerator: quantum}")))


def test_another_providers_settings_are_not_read_as_libvirts(tmp_path):
    # an lxc cluster with one libvirt host: lxc's network is not the VM network
    inv = load_inventory(inventory(tmp_path, "{type: lxc, network: 10.9.0.0/24}"))
    assert LibvirtSettings.from_inventory(inv).network == DEFAULT_NETWORK
