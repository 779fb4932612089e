"""machines.json: the files earlier releases wrote are read as typed Machine records and
written back byte for byte; what the records do not describe is kept as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k8sboot.machine import LibvirtExtra, Machine, VagrantExtra
from k8sboot.state import ClusterState

LIBVIRT = {
    "address": "192.168.150.11", "port": 22, "user": "root", "key": "/s/id_ed25519",
    "provider": "libvirt", "domain": "k8sboot-lab-cp1", "disk": "/p/lab/cp1.qcow2",
    "seed": "/p/lab/cp1-seed.img", "console_log": "/p/lab/cp1-console.log",
    "network": "k8sboot-lab", "uri": "qemu:///system",
}
VAGRANT = {
    "address": "192.168.56.11", "port": 22, "user": "vagrant", "key": "/c/id_ed25519",
    "provider": "vagrant", "domain": "k8sboot-v-cp1", "machine_id": "0b5c-uuid",
    "management_address": "192.168.121.53", "management_port": 22,
    "network": "k8sboot-v-private", "management_network": "k8sboot-v-mgmt",
    "uri": "qemu:///system", "storage_pool": "default", "console_log": "/s/cp1-console.log",
    "workdir": "/s/vagrant",
}


def write(tmp_path: Path, records: dict) -> ClusterState:
    state = ClusterState(tmp_path / "state").ensure()
    # as the earlier releases wrote it
    state.machines_file.write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    return state


def test_a_libvirt_record_is_typed():
    m = Machine.from_record("cp1", LIBVIRT)
    assert (m.name, m.address, m.port, m.user, m.key, m.provider) == \
        ("cp1", "192.168.150.11", 22, "root", "/s/id_ed25519", "libvirt")
    assert m.extra == LibvirtExtra(domain="k8sboot-lab-cp1", disk="/p/lab/cp1.qcow2",
                                   seed="/p/lab/cp1-seed.img",
                                   console_log="/p/lab/cp1-console.log",
                                   network="k8sboot-lab", uri="qemu:///system")
    assert m.unknown == {}
    assert m.to_record() == LIBVIRT


def test_a_vagrant_record_is_typed():
    m = Machine.from_record("cp1", VAGRANT)
    assert isinstance(m.extra, VagrantExtra)
    assert m.extra.management_address == "192.168.121.53" and m.extra.management_port == 22
    assert m.unknown == {}
    assert m.to_record() == VAGRANT


@pytest.mark.parametrize("records", [
    {"cp1": LIBVIRT, "wk1": {**LIBVIRT, "address": "192.168.150.12"}},
    {"cp1": VAGRANT},
    {"cp1": LIBVIRT, "v1": VAGRANT},
    {},
    {"cp1": {}},  # nothing recorded but the name
    {"cp1": {"address": "10.0.0.1"}},  # no provider
    {"cp1": {**LIBVIRT, "later": {"a": [1, 2]}}},  # a key of a later version
    {"cp1": {**VAGRANT, "machine_id": None, "console_log": None}},  # explicit nulls
    {"cp1": {**LIBVIRT, "domain": 5, "provider": "libvirt"}},  # a value of another type
    {"cp1": {**LIBVIRT, "provider": 7}},  # an unknown provider: its keys are kept as they are
    {"cp1": {**VAGRANT, "provider": "libvirt"}},  # keys of another provider's record
])
def test_old_files_are_read_and_written_back_unchanged(tmp_path, records):
    state = write(tmp_path, records)
    before = state.machines_file.read_bytes()
    machines = state.machines()
    assert set(machines) == set(records)
    assert all(isinstance(m, Machine) and m.name == n for n, m in machines.items())
    state.save_machines(machines)
    assert state.machines_file.read_bytes() == before
    assert state.machines() == machines


def test_records_are_read_by_key_as_before(tmp_path):
    machines = write(tmp_path, {"cp1": LIBVIRT}).machines()
    m = machines["cp1"]
    assert m["address"] == "192.168.150.11" and m["port"] == 22 and m["domain"] == "k8sboot-lab-cp1"
    assert m.get("management_port") is None and m.get("port", 2222) == 22
    with pytest.raises(KeyError):
        m["nothing"]


def test_a_machine_made_now_is_written_as_before(tmp_path):
    state = ClusterState(tmp_path / "state")
    made = Machine(name="cp1", address="192.168.150.11", port=22, user="root",
                   key="/s/id_ed25519", provider="libvirt",
                   extra=LibvirtExtra(domain="k8sboot-lab-cp1", disk="/p/lab/cp1.qcow2",
                                      seed="/p/lab/cp1-seed.img",
                                      console_log="/p/lab/cp1-console.log",
                                      network="k8sboot-lab", uri="qemu:///system"))
    state.save_machines({"cp1": made})
    assert json.loads(state.machines_file.read_text()) == {"cp1": LIBVIRT}
    assert state.machines() == {"cp1": made}
