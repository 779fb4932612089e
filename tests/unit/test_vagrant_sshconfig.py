"""Parsing `vagrant ssh-config`: one Host block per machine, OpenSSH syntax."""

from __future__ import annotations

import pytest

from k8sboot.errors import RunError
from k8sboot.providers.vagrant.sshconfig import parse_ssh_config

# what Vagrant 2.3 prints for two vagrant-libvirt machines (our box's own key)
TWO_MACHINES = """\
Host cp1
  HostName 192.168.121.53
  User vagrant
  Port 22
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  PasswordAuthentication no
  IdentityFile /root/.cache/k8sboot/vagrant/id_ed25519
  IdentitiesOnly yes
  LogLevel FATAL
  PubkeyAcceptedKeyTypes +ssh-rsa
  HostKeyAlgorithms +ssh-rsa

Host wk1
  HostName 192.168.121.54
  User vagrant
  Port 22
  IdentityFile /root/.cache/k8sboot/vagrant/id_ed25519
"""


def test_every_machine_with_its_address_port_user_and_key():
    cfg = parse_ssh_config(TWO_MACHINES)
    assert sorted(cfg) == ["cp1", "wk1"]
    cp1 = cfg["cp1"]
    assert (cp1.address, cp1.port, cp1.user) == ("192.168.121.53", 22, "vagrant")
    assert cp1.key == "/root/.cache/k8sboot/vagrant/id_ed25519"
    assert cfg["wk1"].address == "192.168.121.54"


def test_quoted_paths_equals_signs_and_case_of_keywords():
    text = ('Host "cp 1"\n  hostname=10.0.0.5\n  PORT 2222\n'
            '  IdentityFile "/home/me/my keys/private_key"\n')
    cfg = parse_ssh_config(text)["cp 1"]
    assert (cfg.address, cfg.port) == ("10.0.0.5", 2222)
    assert cfg.key == "/home/me/my keys/private_key"


def test_first_identity_file_wins_and_all_are_kept():
    text = ("Host cp1\n  HostName 10.0.0.5\n  IdentityFile /m/.vagrant/machines/cp1/libvirt/private_key\n"
            "  IdentityFile /opt/vagrant/insecure_private_key\n")
    cfg = parse_ssh_config(text)["cp1"]
    assert cfg.key.endswith("/machines/cp1/libvirt/private_key")
    assert len(cfg.identity_files) == 2


def test_defaults_when_vagrant_leaves_port_user_or_key_out():
    cfg = parse_ssh_config("Host cp1\n  HostName 10.0.0.5\n")["cp1"]
    assert (cfg.port, cfg.user, cfg.key) == (22, "vagrant", None)


def test_comments_blank_lines_and_options_before_any_host_are_ignored():
    text = "# made by vagrant\nLogLevel FATAL\n\nHost cp1\n  # note\n  HostName 10.0.0.5\n"
    assert list(parse_ssh_config(text)) == ["cp1"]


def test_no_output_means_no_machines():
    assert parse_ssh_config("") == {}


def test_a_block_without_hostname_is_an_error():
    with pytest.raises(RunError, match="no HostName for machine 'cp1'"):
        parse_ssh_config("Host cp1\n  User vagrant\n")


def test_a_bad_port_is_an_error():
    with pytest.raises(RunError, match="bad Port"):
        parse_ssh_config("Host cp1\n  HostName 10.0.0.5\n  Port ssh\n")
