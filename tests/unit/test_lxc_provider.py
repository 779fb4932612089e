"""The LXC provider's pure parts: settings, names, the container configuration, the
machine record. Its real test is tests/e2e/test_default_cluster.py."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory
from k8sboot.machine import LxcExtra, Machine
from k8sboot.providers import provider_for
from k8sboot.providers.lxc.config import Nic, container_config, network_file
from k8sboot.providers.lxc.names import bridge_name, container_name, lxc_path, mac_of, veth_name
from k8sboot.providers.lxc.rootfs import SYSCTLS, install_cgroup_fix, write_sysctl_files
from k8sboot.providers.lxc.settings import DEFAULT_NETWORK, LxcSettings
from tests.unit.provider_inventories import provider_inventory

REPO = Path(__file__).resolve().parents[2]


def inventory(tmp_path: Path, provider: str) -> Path:
    return provider_inventory(tmp_path, provider, "lxc")


def test_the_shipped_default_cluster_is_one_container_with_the_default_settings():
    inv = load_inventory(REPO / "inventory" / "local.yml")
    assert [h.provider for h in inv.hosts.values()] == ["lxc"]
    settings = LxcSettings.from_inventory(inv)
    assert settings.network == DEFAULT_NETWORK
    assert provider_for("lxc").name == "lxc"


def test_settings_are_read_and_bad_ones_named(tmp_path):
    inv = load_inventory(inventory(tmp_path, "{type: lxc, network: 10.9.0.0/24, path: /srv/c}"))
    settings = LxcSettings.from_inventory(inv)
    assert (settings.network, settings.path) == (ipaddress.IPv4Network("10.9.0.0/24"), Path("/srv/c"))
    for bad, words in (("{type: lxc, network: 10.9.0.0/30}", "too small"),
                       ("{type: lxc, network: nonsense}", "cluster.provider.network"),
                       ("{type: lxc, path: relative/dir}", "absolute")):
        with pytest.raises(InputError, match=words):
            LxcSettings.from_inventory(load_inventory(inventory(tmp_path, bad)))


def test_another_providers_settings_are_not_taken_for_lxc(tmp_path):
    inv = load_inventory(inventory(tmp_path, "{type: libvirt, network: 192.168.150.0/24}"))
    assert LxcSettings.from_inventory(inv) == LxcSettings()


def test_names_fit_linux_interface_names_and_keep_clusters_apart(tmp_path):
    inv = load_inventory(inventory(tmp_path, "lxc"))
    host = inv.hosts["a"]
    assert container_name(inv, host) == "k8sboot-demo-a"
    assert len(bridge_name(inv)) <= 15
    assert lxc_path(LxcSettings(), inv) == Path("/var/lib/k8sboot/lxc/demo")
    one, other = veth_name(Path("/x"), "c1"), veth_name(Path("/y"), "c1")
    assert one != other and len(one) <= 15
    assert mac_of("10.125.0.11") == "02:6b:3a:7d:00:0b"


def test_the_configuration_carries_the_kubelet_fixes(tmp_path):
    sysctls = write_sysctl_files(tmp_path / "sysctl")
    assert {rel: p.read_text().strip() for rel, p in sysctls.items()} == SYSCTLS
    text = container_config("c1", tmp_path / "rootfs",
                            [Nic("k8sc0123456789", "02:6b:3a:7d:00:0b", tmp_path / "up.sh")],
                            sysctls, tmp_path)
    assert "lxc.apparmor.profile = unconfined" in text
    assert "lxc.mount.entry = /dev/kmsg dev/kmsg" in text
    assert f"lxc.mount.entry = {sysctls['vm/overcommit_memory']} proc/sys/vm/overcommit_memory" in text
    assert "lxc.net.0.veth.pair = k8sc0123456789" in text
    assert f"lxc.net.0.script.up = {tmp_path / 'up.sh'}" in text
    assert "lxc.signal.halt = SIGRTMIN+3" in text  # lxc-stop is a clean systemd shutdown
    assert "Gateway=10.125.0.1" in network_file("eth0", "10.125.0.11", 24, "10.125.0.1")
    assert "Gateway" not in network_file("eth1", "10.124.0.2", 24, None)


def test_the_cgroup_fix_is_enabled_at_sysinit(tmp_path):
    install_cgroup_fix(tmp_path)
    link = tmp_path / "etc/systemd/system/sysinit.target.wants/k8sboot-lab-cgroups.service"
    assert link.is_symlink()
    assert (tmp_path / "usr/local/sbin/k8sboot-lab-cgroups").stat().st_mode & 0o111


def test_a_container_record_round_trips_through_machines_json():
    m = Machine("a", address="10.125.0.11", port=22, user="root", key="/k", provider="lxc",
                extra=LxcExtra(container="k8sboot-demo-a", lxcpath="/var/lib/k8sboot/lxc/demo",
                               bridge="k8sx12345678"))
    record = m.to_record()
    assert record["container"] == "k8sboot-demo-a"
    assert Machine.from_record("a", record) == m
