"""Jump hosts in every dialect, and sudo's password kept out of the vars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory import inventory_list, load_inventory
from k8sboot.inventory.bastion import NO_JUMP, JumpSpec, from_ssh_args, parse_destination
from k8sboot.inventory.model import Bastion


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,want", [
    ("bastion", JumpSpec("bastion")),
    ("ops@10.0.0.1", JumpSpec("10.0.0.1", None, "ops")),
    ("ops@10.0.0.1:2222", JumpSpec("10.0.0.1", 2222, "ops")),
    ("[fd00::1]:22", JumpSpec("fd00::1", 22)),
    ("fd00::1", JumpSpec("fd00::1")),
    ("ssh://a@b.example:2200", JumpSpec("b.example", 2200, "a")),
])
def test_destinations(text: str, want: JumpSpec) -> None:
    assert parse_destination(text, "x", "f", 1) == want


@pytest.mark.parametrize("text,words", [
    ("a,b", "chain"), ("@h", "empty user"), ("h:99999", "port"), ("h x", "not a jump host"),
    ("[fd00::1", "unclosed"), ("bad_name!", "IP address or a host name"),
])
def test_bad_destinations(text: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_destination(text, "x", "f", 1)


@pytest.mark.parametrize("args,want", [
    ("-J ops@b:2", JumpSpec("b", 2, "ops")),
    ("-Jops@b", JumpSpec("b", None, "ops")),
    ("-o StrictHostKeyChecking=no -o ProxyJump=b", JumpSpec("b")),
    ("-oProxyJump=ops@b", JumpSpec("b", None, "ops")),
    ("-o 'ProxyJump ops@b'", JumpSpec("b", None, "ops")),
    ("-o ProxyJump=none", NO_JUMP),
    ("-o ProxyCommand=\"ssh -W %h:%p -q -p 2200 -i ~/k ops@b\"", JumpSpec("b", 2200, "ops", "~/k")),
    ("-o ProxyCommand='ssh -o StrictHostKeyChecking=no -W %h:%p -l ops b'", JumpSpec("b", None, "ops")),
    ("-o ServerAliveInterval=5", None),
    ("", None),
])
def test_ansible_ssh_args(args: str, want: JumpSpec | None) -> None:
    assert from_ssh_args(args, "x", "f", 1) == want


@pytest.mark.parametrize("args,words", [
    ("-o ProxyCommand='nc -X 5 -x proxy:1080 %h %p'", "does not run commands"),
    ("-o ProxyCommand='ssh -W %h:%p'", "names no bastion"),
    ("-o ProxyCommand='ssh -J a -W %h:%p b'", "chain"),
    ("-J", "needs a value"),
    ("-o 'ProxyJump=a", "cannot split"),
])
def test_bad_ansible_ssh_args(args: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        from_ssh_args(args, "x", "f", 1)


def test_native_bastion_defaults_host_override_and_opt_out(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "inv.yml", """
defaults: {user: admin, key: keys/id, become: true,
           bastion: {address: 10.0.0.1, user: ops, key: keys/jump}}
hosts:
  cp1: {address: 10.1.0.11, groups: [etcd, control_plane, nodes]}
  n1: {address: 10.1.0.12, groups: [nodes], bastion: ops2@10.0.0.2:2222}
  n2: {address: 10.1.0.13, groups: [nodes], bastion: none}
"""))
    assert inv.hosts["cp1"].bastion == Bastion("10.0.0.1", 22, "ops", str(tmp_path / "keys/jump"))
    # what a jump host leaves unsaid comes from the host: its key
    assert inv.hosts["n1"].bastion == Bastion("10.0.0.2", 2222, "ops2", str(tmp_path / "keys/id"))
    assert inv.hosts["n2"].bastion is None
    assert all("k8sboot_bastion" not in h.vars for h in inv.hosts.values())


def test_native_bastion_bad_keys(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown host 'n1' bastion key 'adress'") as e:
        load_inventory(write(tmp_path, "inv.yml", """
hosts:
  n1: {address: 10.1.0.12, groups: [nodes], bastion: {adress: 10.0.0.1}}
"""))
    assert e.value.file and e.value.file.endswith("inv.yml")


def test_kubespray_bastion_group(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.ini", """
[bastion]
bastion ansible_host=203.0.113.5 ansible_user=ops ansible_port=2222

[kube_control_plane]
cp1 ansible_host=10.1.0.11

[etcd]
cp1

[kube_node]
cp1
n1 ansible_host=10.1.0.12 ansible_ssh_common_args='-o ProxyJump=none'

[k8s_cluster:children]
kube_control_plane
kube_node

[all:vars]
ansible_user=admin
ansible_become=true
ansible_become_password=s3cret
"""))
    assert list(inv.hosts) == ["cp1", "n1"]  # the bastion is no cluster member
    assert inv.groups["all"] == ["cp1", "n1"]
    assert inv.hosts["cp1"].bastion == Bastion("203.0.113.5", 2222, "ops", None)
    assert inv.hosts["n1"].bastion is None
    assert inv.hosts["cp1"].become_password == "s3cret"
    listed = json.dumps(inventory_list(inv))
    assert "s3cret" not in listed and "s3cret" not in repr(inv.hosts["cp1"])
    assert "ansible_become_password" not in inv.vars


def test_two_bastions_in_the_group_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="lists 2 hosts"):
        load_inventory(write(tmp_path, "hosts.ini", """
[bastion]
b1 ansible_host=10.0.0.1
b2 ansible_host=10.0.0.2
[kube_control_plane]
n1 ansible_host=10.1.0.12
[etcd]
n1
"""))


def test_yaml_inventory_proxyjump(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, "hosts.yml", """
all:
  vars:
    ansible_ssh_common_args: -o ProxyJump=ops@203.0.113.5
  children:
    kube_control_plane:
      hosts:
        n1: {ansible_host: 10.1.0.12, ansible_user: admin}
    etcd:
      hosts: {n1: {}}
    kube_node:
      hosts: {n1: {}}
"""))
    assert inv.hosts["n1"].bastion == Bastion("203.0.113.5", 22, "ops", None)
    assert "ansible_ssh_common_args" not in inv.hosts["n1"].vars


def test_ssh_config_fills_what_the_inventory_leaves_out(tmp_path: Path) -> None:
    key = tmp_path / "id_cfg"
    key.write_text("not read here")
    write(tmp_path, "ssh_config", f"""
Host jump
    HostName 203.0.113.9
    User ops
    Port 2200

Host web1
    HostName 10.1.0.21
    User alice
    Port 2222
    IdentityFile {key}
    ProxyJump jump

Host *
    User bob
""")
    inv = load_inventory(write(tmp_path, "inv.yml", """
cluster: {ssh_config: ssh_config}
hosts:
  web1: {address: web1, groups: [etcd, control_plane, nodes]}
  web2: {address: 10.1.0.22, user: root, port: 22, groups: [nodes]}
"""))
    web1, web2 = inv.hosts["web1"], inv.hosts["web2"]
    assert (web1.address, web1.user, web1.port, web1.key) == ("10.1.0.21", "alice", 2222, str(key))
    # the jump host's own entry applies too, as with OpenSSH
    assert web1.bastion == Bastion("203.0.113.9", 2200, "ops", str(key))
    # the inventory wins where both say something; `Host *` fills the rest
    assert (web2.address, web2.user, web2.port, web2.bastion) == ("10.1.0.22", "root", 22, None)


def test_missing_ssh_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope"):
        load_inventory(write(tmp_path, "inv.yml", """
cluster: {ssh_config: nope}
hosts:
  web1: {address: 10.1.0.21, groups: [etcd, control_plane, nodes]}
"""))


def test_become_password_from_the_environment_or_asked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from k8sboot.commands import context

    inv_path = write(tmp_path, "inv.yml", f"""
cluster: {{state_dir: {tmp_path / 'state'}}}
hosts:
  a: {{address: 10.1.0.21, user: admin, become: true, groups: [etcd, control_plane, nodes]}}
  b: {{address: 10.1.0.22, user: admin, become: true, groups: [nodes],
      vars: {{ansible_become_password: own}}}}
""")
    args = argparse.Namespace(inventory=str(inv_path), ask_become_pass=False)
    monkeypatch.setenv("K8SBOOT_BECOME_PASSWORD", "from-env")
    hosts = context.build_context(args).inventory.hosts
    assert (hosts["a"].become_password, hosts["b"].become_password) == ("from-env", "own")

    # -K without a terminal: one clear error, not a prompt nobody can answer
    args.ask_become_pass = True
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(InputError, match="K8SBOOT_BECOME_PASSWORD"):
        context.build_context(args)

    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt: asked.append(prompt) or "typed")
    hosts = context.build_context(args).inventory.hosts
    assert (hosts["a"].become_password, hosts["b"].become_password) == ("typed", "own")
    assert len(asked) == 1
