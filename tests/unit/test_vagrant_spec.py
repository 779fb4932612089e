"""What the Vagrantfile is told: settings, names, sizes and addresses from the inventory."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory
from k8sboot.inventory.model import Host
from k8sboot.machine import Machine
from k8sboot.providers.addresses import allocate_addresses
from k8sboot.providers.vagrant.settings import (
    VagrantSettings,
    domain_name,
    management_network_name,
    network_name,
    vagrant_hosts,
)
from k8sboot.providers.vagrant.spec import build_spec

REPO = Path(__file__).resolve().parents[2]
NET = ipaddress.IPv4Network("192.168.56.0/24")

INVENTORY = """\
cluster:
  name: demo
  provider: {type: vagrant, driver: qemu, network: 10.20.0.0/24,
             management_network: 10.21.0.0/24}
defaults: {provider: vagrant, become: true}
hosts:
  cp1: {groups: [etcd, control_plane, nodes], address: 10.20.0.50, cpus: 4, memory: 4096}
  wk1: {groups: [nodes], vars: {node_name: worker-1}}
  wk2: {groups: [nodes], disk: 20}
  bare: {groups: [nodes], address: 10.0.0.9, provider: none}
"""


def load(tmp_path: Path, text: str = INVENTORY):
    path = tmp_path / "inv.yml"
    path.write_text(text)
    return load_inventory(path, [])


def hosts(*specs: tuple[str, str | None]) -> list[Host]:
    return [Host(name=n, address=a, provider="vagrant") for n, a in specs]


def test_free_addresses_start_at_11_and_skip_the_ones_taken():
    out = allocate_addresses(hosts(("a", None), ("b", "192.168.56.11"), ("c", None)), NET, {})
    assert out == {"a": "192.168.56.12", "b": "192.168.56.11", "c": "192.168.56.13"}


def test_a_recorded_address_is_kept():
    out = allocate_addresses(hosts(("a", None), ("b", None)), NET,
                             {"b": Machine("b", address="192.168.56.40")})
    assert out == {"a": "192.168.56.11", "b": "192.168.56.40"}


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.56.0", "192.168.56.1",
                                     "192.168.56.255", "cp1.example.com"])
def test_addresses_outside_the_network_or_reserved_are_refused(address):
    with pytest.raises(InputError):
        allocate_addresses(hosts(("a", address)), NET, {})


def test_two_hosts_on_one_address_are_refused():
    with pytest.raises(InputError, match="share one address"):
        allocate_addresses(hosts(("a", "192.168.56.20"), ("b", "192.168.56.20")), NET, {})


def test_a_full_network_is_reported():
    tiny = ipaddress.IPv4Network("192.168.56.0/28")  # .11 to .14 are allocatable
    with pytest.raises(InputError, match="no free address"):
        allocate_addresses(hosts(*[(f"h{i}", None) for i in range(5)]), tiny, {})


def test_the_spec_has_one_machine_per_vagrant_host_with_sizes(tmp_path):
    inv = load(tmp_path)
    spec = build_spec(inv, {}, console_dir=tmp_path / "wd")
    machines = {m["name"]: m for m in spec["machines"]}
    assert list(machines) == ["cp1", "wk1", "wk2"]  # `bare` has no provider
    assert machines["cp1"] == {"name": "cp1", "hostname": "cp1", "cpus": 4, "memory": 4096,
                               "disk": 10, "address": "10.20.0.50",
                               "console_log": str(tmp_path / "wd" / "cp1-console.log")}
    assert machines["wk1"]["hostname"] == "worker-1"
    assert machines["wk1"]["address"] == "10.20.0.11"
    assert (machines["wk2"]["cpus"], machines["wk2"]["memory"], machines["wk2"]["disk"]) == \
        (2, 2048, 20)


def test_the_spec_carries_the_cluster_settings_and_names(tmp_path):
    spec = build_spec(load(tmp_path), {})
    assert spec["driver"] == "qemu"
    assert spec["box"] == "k8sboot/bookworm"
    assert spec["domain_prefix"] == "k8sboot-demo-"
    assert spec["network"] == {"name": "k8sboot-demo-private", "netmask": "255.255.255.0"}
    assert spec["management_network"] == {"name": "k8sboot-demo-mgmt", "address": "10.21.0.0/24"}
    assert "console_log" not in spec["machines"][0]
    assert "kernel" not in spec
    json.dumps(spec)  # the Vagrantfile reads JSON


def test_names_carry_the_cluster(tmp_path):
    inv = load(tmp_path)
    assert domain_name(inv, "cp1") == "k8sboot-demo-cp1"
    assert network_name(inv) == "k8sboot-demo-private"
    assert management_network_name(inv) == "k8sboot-demo-mgmt"
    assert [h.name for h in vagrant_hosts(inv)] == ["cp1", "wk1", "wk2"]


def test_defaults_when_the_cluster_provider_is_just_a_name(tmp_path):
    inv = load(tmp_path, "cluster: {name: d, provider: vagrant}\n"
                         "hosts: {cp1: {groups: [etcd, control_plane, nodes], become: true}}\n")
    s = VagrantSettings.from_inventory(inv)
    assert (s.box, s.driver, str(s.network), str(s.management_network)) == \
        ("k8sboot/bookworm", "auto", "192.168.56.0/24", "192.168.121.0/24")


@pytest.mark.parametrize("setting, message", [
    ("driver: xen", "driver"),
    ("network: 10.0.0.0/30", "too small"),
    ("network: nonsense", "network"),
    ("network: 10.9.0.0/16, management_network: 10.9.1.0/24", "overlaps"),
    ("boot_timeout: soon", "boot_timeout"),
    ("colour: blue", "unknown vagrant setting"),
])
def test_bad_settings_are_input_errors(tmp_path, setting, message):
    inv = load(tmp_path, f"cluster: {{name: d, provider: {{type: vagrant, {setting}}}}}\n"
                         "hosts: {cp1: {groups: [etcd, control_plane, nodes]}}\n")
    with pytest.raises(InputError, match=message):
        VagrantSettings.from_inventory(inv)


def test_a_size_that_is_not_a_number_is_an_input_error(tmp_path):
    inv = load(tmp_path, "cluster: {name: d}\nhosts:\n  cp1: {groups: [etcd, control_plane, nodes],"
                         " provider: vagrant, memory: lots}\n")
    with pytest.raises(InputError, match="memory"):
        build_spec(inv, {})


def test_the_module_prints_the_spec_for_the_vagrantfile(tmp_path):
    env = {**os.environ, "K8SBOOT_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "k8sboot.providers.vagrant.spec", "-i",
                           str(REPO / "inventory" / "vagrant.yml")], capture_output=True,
                          text=True, env=env, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)
    assert spec["cluster"] == "vagrant"
    assert [m["name"] for m in spec["machines"]] == ["cp1"]


def test_the_module_reports_a_bad_inventory_on_stderr(tmp_path):
    done = subprocess.run([sys.executable, "-m", "k8sboot.providers.vagrant.spec", "-i",
                           str(tmp_path / "missing.yml")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 2
    assert "not found" in done.stderr and done.stdout == ""
