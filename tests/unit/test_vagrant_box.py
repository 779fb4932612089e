"""The Vagrant box's pieces that need no Vagrant: id, metadata, its Vagrantfile, the user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from k8sboot.vm_image.vagrant_box import (
    BOOT_ROOT,
    box_id,
    box_vagrantfile,
    metadata,
    parse_box_list,
)
from k8sboot.vm_image.vagrant_rootfs import SUDOERS, add_vagrant_user

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBlahBlahBlah k8sboot-vagrant"


def test_the_box_id_follows_the_recipe_and_the_key_not_the_comment():
    base = box_id("d760084fe00e4b26", KEY)
    assert base == box_id("d760084fe00e4b26", KEY.replace("k8sboot-vagrant", "other"))
    assert base != box_id("0000000000000000", KEY)
    assert base != box_id("d760084fe00e4b26", KEY.replace("Blah", "Bleh"))
    assert len(base) == 16


def test_metadata_is_what_vagrant_libvirt_reads():
    assert metadata(6) == {"provider": "libvirt", "format": "qcow2", "virtual_size": 6}


def test_the_box_vagrantfile_boots_the_kernel_directly_with_our_key():
    text = box_vagrantfile("abc", Path("/root/.cache/k8sboot/vagrant/id_ed25519"),
                           BOOT_ROOT / "abc")
    assert 'boot_dir = "/var/lib/libvirt/images/k8sboot/boxes/abc"' in text
    assert 'libvirt.kernel = File.join(boot_dir, "vmlinuz")' in text
    assert 'libvirt.cmd_line = "root=/dev/vda rw console=ttyS0"' in text
    assert 'config.ssh.private_key_path = ["/root/.cache/k8sboot/vagrant/id_ed25519"]' in text
    assert "config.ssh.insert_key = false" in text
    assert "config.vm.guest = :debian" in text  # no detection round trips
    assert 'synced_folder ".", "/vagrant", disabled: true' in text


def test_box_list_machine_readable():
    text = ("1700000000,,ui,info,k8sboot/bookworm (libvirt\\, 0)\n"
            "1700000000,,box-name,k8sboot/bookworm\n"
            "1700000000,,box-provider,libvirt\n"
            "1700000000,,box-version,0\n"
            "1700000000,,box-name,debian/bookworm64\n"
            "1700000000,,box-provider,virtualbox\n"
            "1700000000,,box-version,12.20231009.1\n")
    assert parse_box_list(text) == [("k8sboot/bookworm", "libvirt", "0"),
                                    ("debian/bookworm64", "virtualbox", "12.20231009.1")]
    assert parse_box_list("") == []


def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                     "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
                                     "someone:x:1000:1000::/home/someone:/bin/sh\n")
    (root / "etc/group").write_text("root:x:0:\nsudo:x:27:\nsomeone:x:1000:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\n")
    return root


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="sets file owners (root only)")


@needs_root
def test_the_vagrant_user_gets_a_free_id_its_key_and_sudo(tmp_path):
    root = rootfs(tmp_path)
    uid, gid = add_vagrant_user(root, KEY)
    assert (uid, gid) == (1001, 1001)  # 1000 is taken
    assert "vagrant:x:1001:1001:Vagrant:/home/vagrant:/bin/bash" in (root / "etc/passwd").read_text()
    assert "vagrant:x:1001:" in (root / "etc/group").read_text()
    assert "vagrant:*:" in (root / "etc/shadow").read_text()  # no password, not locked
    assert "vagrant:*::" in (root / "etc/gshadow").read_text()
    keys = root / "home/vagrant/.ssh/authorized_keys"
    assert keys.read_text() == KEY + "\n"
    assert (keys.stat().st_uid, keys.stat().st_mode & 0o777) == (1001, 0o600)
    assert (root / "home/vagrant/.ssh").stat().st_mode & 0o777 == 0o700
    sudoers = root / "etc/sudoers.d/vagrant"
    assert sudoers.read_text() == SUDOERS and "NOPASSWD: ALL" in SUDOERS
    assert sudoers.stat().st_mode & 0o777 == 0o440


@needs_root
def test_adding_the_user_twice_changes_nothing_but_the_key(tmp_path):
    root = rootfs(tmp_path)
    add_vagrant_user(root, KEY)
    passwd = (root / "etc/passwd").read_text()
    assert add_vagrant_user(root, "ssh-ed25519 OTHER") == (1001, 1001)
    assert (root / "etc/passwd").read_text() == passwd
    assert (root / "home/vagrant/.ssh/authorized_keys").read_text() == "ssh-ed25519 OTHER\n"


@needs_root
def test_files_are_replaced_not_edited_in_place(tmp_path):
    """The rootfs may share inodes with the cached base image: never write through them."""
    root = rootfs(tmp_path)
    original = tmp_path / "passwd-original"
    os.link(root / "etc/passwd", original)
    before = original.read_text()
    add_vagrant_user(root, KEY)
    assert original.read_text() == before
