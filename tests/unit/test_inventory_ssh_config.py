"""Reading OpenSSH client configs: k8sboot.inventory.ssh_config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.inventory.ssh_config import SshConfig, SshConfigEntry, load_ssh_config, lookup

NOTHING = SshConfigEntry(hostname=None, user=None, port=None, identity_files=(), proxy_jump=None)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    return tmp_path / "home"


def config(home: Path, text: str, name: str = "config") -> SshConfig:
    path = home / ".ssh" / name
    path.write_text(textwrap.dedent(text))
    loaded = load_ssh_config(path)
    assert loaded is not None
    return loaded


def test_host_patterns_wildcards_and_defaults(home: Path) -> None:
    c = config(home, """
        Host cp1 cp2
            HostName 10.0.0.%h
            User admin
        Host worker-* !worker-9
            HostName %h.lab.example
            Port 2222
        Host *
            User fallback
            Port 22
            IdentityFile ~/.ssh/lab_key
    """)
    assert lookup(c, "cp1") == SshConfigEntry(
        hostname="10.0.0.cp1", user="admin", port=22,
        identity_files=(f"{home}/.ssh/lab_key",), proxy_jump=None)
    assert lookup(c, "worker-1") == SshConfigEntry(
        hostname="worker-1.lab.example", user="fallback", port=2222,
        identity_files=(f"{home}/.ssh/lab_key",), proxy_jump=None)
    # negated: only Host * applies
    assert lookup(c, "worker-9") == SshConfigEntry(
        hostname=None, user="fallback", port=22,
        identity_files=(f"{home}/.ssh/lab_key",), proxy_jump=None)


def test_first_match_wins_but_identity_files_accumulate(home: Path) -> None:
    c = config(home, """
        Host cp1
            User first
            IdentityFile ~/.ssh/cp1_key
        Host cp*
            User second
            Port 2200
            IdentityFile ~/.ssh/cp_key
        Host cp1
            Port 2300
    """)
    entry = lookup(c, "cp1")
    assert entry.user == "first"
    assert entry.port == 2200
    assert entry.identity_files == (f"{home}/.ssh/cp1_key", f"{home}/.ssh/cp_key")


def test_identity_file_tokens(home: Path) -> None:
    c = config(home, """
        Host node1
            HostName 192.0.2.1
            User ops
            IdentityFile %d/.ssh/keys/%h-%r
            IdentityFile /abs/id_%h
    """)
    assert lookup(c, "node1").identity_files == (
        f"{home}/.ssh/keys/192.0.2.1-ops", "/abs/id_192.0.2.1")


def test_unmatched_or_unchanged_names_give_nothing(home: Path) -> None:
    c = config(home, """
        Host same
            HostName same
        Host other
            User x
    """)
    assert lookup(c, "same") == NOTHING
    assert lookup(c, "unrelated") == NOTHING


@pytest.mark.parametrize("jump", ["bastion", "admin@bastion:2222", "none"])
def test_proxy_jump_forms_are_kept_as_written(home: Path, jump: str) -> None:
    c = config(home, f"""
        Host cp1
            ProxyJump {jump}
    """)
    assert lookup(c, "cp1").proxy_jump == jump


def test_proxy_jump_none_for_one_host_beats_a_default(home: Path) -> None:
    c = config(home, """
        Host bastion
            ProxyJump none
        Host *
            ProxyJump admin@bastion
    """)
    assert lookup(c, "bastion").proxy_jump == "none"
    assert lookup(c, "cp1").proxy_jump == "admin@bastion"


def test_proxy_jump_chain_is_refused(home: Path) -> None:
    c = config(home, """
        Host cp1
            ProxyJump outer,inner:2222
    """)
    with pytest.raises(InputError) as e:
        lookup(c, "cp1")
    assert str(e.value) == (f"{home}/.ssh/config: host cp1: ProxyJump 'outer,inner:2222': "
                            "more than one jump host is not supported")


@pytest.mark.parametrize("port", ["ssh", "0", "70000", "22x"])
def test_bad_port(home: Path, port: str) -> None:
    c = config(home, f"""
        Host cp1
            Port {port}
    """)
    with pytest.raises(InputError, match=rf"^{home}/.ssh/config: host cp1: Port '{port}' is not a port number"):
        lookup(c, "cp1")


def test_default_file_is_optional(home: Path) -> None:
    assert load_ssh_config(None) is None
    (home / ".ssh" / "config").write_text("Host cp1\n  User admin\n")
    found = load_ssh_config(None)
    assert found is not None and found.path == home / ".ssh" / "config"
    assert lookup(found, "cp1").user == "admin"


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=rf"^SSH config {tmp_path}/nope does not exist$"):
        load_ssh_config(tmp_path / "nope")


def test_unparsable_file_names_it_without_traceback(home: Path) -> None:
    path = home / ".ssh" / "config"
    path.write_text('Host "unterminated\n  User x\n')
    with pytest.raises(InputError) as e:
        load_ssh_config(path)
    assert str(e.value).startswith(f"{path}: not a valid SSH client config: ")
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_include_is_followed(home: Path) -> None:
    (home / ".ssh" / "conf.d").mkdir()
    (home / ".ssh" / "conf.d" / "10-lab").write_text("Host cp1\n  HostName 10.1.1.1\n")
    (home / ".ssh" / "conf.d" / "20-lab").write_text("Host cp1\n  HostName ignored\n  User lab\n")
    (home / ".ssh" / "extra").write_text("Port 2022\n")
    c = config(home, """
        Include conf.d/*
        Include does-not-exist
        Host cp*
            Include ~/.ssh/extra
            User after-include
    """)
    assert lookup(c, "cp1") == SshConfigEntry(
        hostname="10.1.1.1", user="lab", port=2022, identity_files=(), proxy_jump=None)
    # the line after the Include inside `Host cp*` is still under it
    assert lookup(c, "cp2").user == "after-include"
    assert lookup(c, "other") == NOTHING


def test_include_loop_is_an_input_error(home: Path) -> None:
    c = home / ".ssh" / "config"
    c.write_text("Include config\n")
    with pytest.raises(InputError, match="Include nested deeper than 16 levels"):
        load_ssh_config(c)
