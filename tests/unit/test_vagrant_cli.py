"""Running vagrant: its environment, and its failures as one k8sboot error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from k8sboot.errors import InputError, RunError
from k8sboot.providers.vagrant.cli import Vagrant, error_tail, find_vagrant, log_line


def fake_vagrant(bin_dir: Path, script: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "vagrant"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def vagrant(tmp_path, monkeypatch) -> Vagrant:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    return Vagrant(workdir=tmp_path / "state" / "vagrant", vagrantfile=Path("/x/Vagrantfile"),
                   spec=tmp_path / "state" / "vagrant" / "spec.json")


def test_the_environment_points_vagrant_at_the_cluster(vagrant):
    env = vagrant.env()
    assert env["VAGRANT_CWD"] == str(vagrant.workdir)
    assert env["VAGRANT_VAGRANTFILE"] == "/x/Vagrantfile"
    assert env["VAGRANT_DOTFILE_PATH"] == str(vagrant.workdir / ".vagrant")
    assert env["K8SBOOT_VAGRANT_SPEC"] == str(vagrant.spec)
    assert env["VAGRANT_CHECKPOINT_DISABLE"] == env["VAGRANT_BOX_UPDATE_CHECK_DISABLE"] == "1"


def test_output_is_streamed_and_returned(vagrant, tmp_path):
    fake_vagrant(tmp_path / "bin", 'echo "==> cp1: Creating image"; echo "$VAGRANT_CWD" >&2\n')
    lines: list[str] = []
    out = vagrant.run(["up"], lines.append)
    assert out == "==> cp1: Creating image\n"
    assert lines == ["vagrant: ==> cp1: Creating image"]
    assert vagrant.workdir.is_dir()


def test_a_failure_carries_the_tail_of_vagrants_stderr(vagrant, tmp_path):
    fake_vagrant(tmp_path / "bin", 'echo "==> cp1: Creating domain"\n'
                 'for i in $(seq 1 40); do echo "noise $i" >&2; done\n'
                 'echo "Error while creating domain: Call to virDomainCreateWithFlags failed" >&2\n'
                 'exit 1\n')
    with pytest.raises(RunError) as info:
        vagrant.run(["up", "--parallel"], what="vagrant up")
    message = str(info.value)
    assert message.startswith("vagrant up failed (exit 1); Vagrant said:")
    assert "virDomainCreateWithFlags failed\n(all of its output: " in message
    assert "noise 40" in message and "noise 10" not in message  # only the tail


def test_a_lot_of_stderr_does_not_stall(vagrant, tmp_path):
    fake_vagrant(tmp_path / "bin", 'head -c 300000 /dev/zero | tr "\\0" x >&2; echo done\n')
    assert vagrant.run(["status"]) == "done\n"


def test_a_missing_vagrant_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InputError, match="apt-get install vagrant vagrant-libvirt"):
        find_vagrant()


def test_error_tail_prefers_stderr_and_drops_blank_lines():
    assert error_tail("a\n\nb\n", "out") == "a\nb"
    assert error_tail("", "only stdout\n") == "only stdout"
    assert error_tail("", "") == "(no output)"


def test_progress_meters_and_colour_codes_are_not_logged():
    assert log_line("\x1b[KProgress: 42%\r") is None
    assert log_line("   \n") is None
    assert log_line("\x1b[0;32m==> cp1: Starting domain.\x1b[0m\n") == "==> cp1: Starting domain."


def test_a_ruby_backtrace_is_reduced_to_its_message():
    stderr = ("/usr/lib/ruby/vendor_ruby/fog/libvirt/requests/compute/vm_action.rb:7:in `create': "
              "Call to virDomainCreateWithFlags failed: Network not found (Libvirt::Error)\n"
              "\tfrom /usr/lib/ruby/vendor_ruby/fog/libvirt/models/compute/server.rb:76:in `start'\n"
              "\tfrom /usr/share/rubygems-integration/all/gems/vagrant-2.3.4/lib/vagrant/action/"
              "warden.rb:48:in `call'\n")
    assert error_tail(stderr, "") == \
        "Call to virDomainCreateWithFlags failed: Network not found (Libvirt::Error)"


def test_the_whole_output_is_kept_in_the_workdir(vagrant, tmp_path):
    fake_vagrant(tmp_path / "bin", 'echo progress; echo "it broke" >&2; exit 3\n')
    with pytest.raises(RunError, match="it broke") as info:
        vagrant.run(["halt", "cp1"])
    log = vagrant.workdir / "vagrant-halt.log"
    assert str(log) in str(info.value)
    assert log.read_text() == "$ vagrant halt cp1\nprogress\n\n--- stderr\nit broke\n"
