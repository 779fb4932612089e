"""The provider's refusals, before any machine is made: each one says what to do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import load_inventory
from k8sboot.providers.vagrant.provider import VagrantProvider
from k8sboot.state import ClusterState

vagrant = VagrantProvider()

BOX_LIST = "1700000000,,box-name,{name}\\n1700000000,,box-provider,libvirt\\n1700000000,,box-version,0\\n"


def inventory(tmp_path: Path, become: bool = True, box: str = "k8sboot/bookworm"):
    path = tmp_path / "inv.yml"
    path.write_text(f"cluster: {{name: t, provider: {{type: vagrant, box: {box}, driver: qemu}}}}\n"
                    f"defaults: {{provider: vagrant, become: {str(become).lower()}}}\n"
                    "hosts: {cp1: {groups: [etcd, control_plane, nodes]}}\n")
    return load_inventory(path, [])


@pytest.fixture
def fake_vagrant(tmp_path, monkeypatch):
    """A `vagrant` that knows boxes (from $FAKE_BOXES) and records every other call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "vagrant"
    script.write_text('#!/bin/sh\nif [ "$1 $2" = "box list" ]; then printf "$FAKE_BOXES"; exit 0; fi\n'
                      f'echo "$@" >> {tmp_path}/calls\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_BOXES", "")
    return tmp_path / "calls"


def test_hosts_without_become_are_refused(tmp_path, fake_vagrant):
    with pytest.raises(InputError, match="become: true"):
        vagrant.provision(inventory(tmp_path, become=False), ClusterState(tmp_path / "s"), print)
    assert not fake_vagrant.exists()


def test_a_missing_vagrant_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(InputError, match="apt-get install vagrant vagrant-libvirt"):
        vagrant.provision(inventory(tmp_path), ClusterState(tmp_path / "s"), print)


def test_a_missing_k8sboot_box_says_how_to_build_it(tmp_path, fake_vagrant):
    with pytest.raises(InputError, match=r"k8sboot image build --format vagrant-libvirt"):
        vagrant.provision(inventory(tmp_path), ClusterState(tmp_path / "s"), print)
    assert not fake_vagrant.exists()  # no `vagrant up` was tried


def test_a_missing_box_of_ones_own_says_vagrant_box_add(tmp_path, fake_vagrant, monkeypatch):
    monkeypatch.setenv("FAKE_BOXES", BOX_LIST.format(name="k8sboot/bookworm"))
    with pytest.raises(InputError, match="vagrant box add --name me/mine"):
        vagrant.provision(inventory(tmp_path, box="me/mine"), ClusterState(tmp_path / "s"), print)


def test_no_vagrant_hosts_nothing_to_do(tmp_path):
    path = tmp_path / "inv.yml"
    path.write_text("hosts: {cp1: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}}\n")
    inv = load_inventory(path, [])
    assert vagrant.provision(inv, ClusterState(tmp_path / "s"), print) == {}
    vagrant.destroy(inv, ClusterState(tmp_path / "s"), print)  # nothing recorded: a no-op
    assert not (tmp_path / "s").exists()
