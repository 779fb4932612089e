"""connection/host_look.py: one command's view of paths (a real local shell and stat) and units."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from k8sboot.connection.host_look import PathFacts, look_at, look_script, parse_look
from k8sboot.connection.result import CommandResult


class LocalShell:
    name = "local"

    def __init__(self) -> None:
        self.calls = 0

    def run(self, cmd: str, *, become: bool | None = None, timeout: float | None = None) -> CommandResult:
        self.calls += 1
        p = subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=timeout)
        return CommandResult(cmd, p.returncode, p.stdout.decode(), p.stderr.decode())


def facts_of(path: Path) -> PathFacts:
    st_ = path.lstat()
    user = pwd.getpwuid(st_.st_uid).pw_name
    import grp

    group = grp.getgrgid(st_.st_gid).gr_name
    return PathFacts("file", format(st_.st_mode & 0o7777, "o"), user, group)


def test_every_kind_of_path_in_one_command(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").write_text("")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "file")
    os.mkfifo(tmp_path / "fifo")
    odd = tmp_path / "a b|c'd\"$(e)"
    odd.write_text("y")
    os.chmod(odd, 0o600)
    paths = [str(tmp_path / n) for n in ("file", "empty", "dir", "link", "fifo", "missing")] + [str(odd)]
    shell = LocalShell()
    look = look_at(shell, paths, [], become=False)
    assert shell.calls == 1
    kinds = {Path(p).name: look.paths[p].kind for p in paths}
    assert kinds == {"file": "file", "empty": "file", "dir": "directory", "link": "link", "fifo": "other",
                     "missing": "absent", odd.name: "file"}
    got = look.paths[str(odd)]
    want = facts_of(odd)
    assert (got.mode, got.owner, got.group) == (want.mode, want.owner, want.group) == ("600", want.owner, want.group)
    size, inode = got.signature.split()[:2]  # type: ignore[union-attr]
    assert (int(size), int(inode)) == (1, odd.stat().st_ino)


def test_a_name_with_a_line_break_is_left_to_its_module(tmp_path):
    weird = tmp_path / "a\nb"
    weird.write_text("x")
    look = look_at(LocalShell(), [str(weird)], [], become=False)
    assert look.paths == {}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_characters="/\x7f",
                                      blacklist_categories=("Cs",)), min_size=1, max_size=20),
                min_size=1, max_size=4, unique=True))
def test_any_name_reads_back_as_itself(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("names")
    present = []
    for i, name in enumerate(names):
        if name in (".", ".."):
            continue
        if i % 2 == 0:
            (root / name).write_text(name)
            present.append(name)
    paths = [str(root / n) for n in names if n not in (".", "..")]
    look = look_at(LocalShell(), paths, [], become=False)
    assert {Path(p).name: f.kind for p, f in look.paths.items()} == {
        Path(p).name: ("file" if Path(p).name in present else "absent") for p in paths}


SHOWN = ("N units\nId=kubelet.service\nActiveState=active\nUnitFileState=enabled\nLoadState=loaded\n"
         "NeedDaemonReload=yes\n\n"
         "Id=nosuch.service\nActiveState=inactive\nUnitFileState=\nLoadState=not-found\nNeedDaemonReload=no\n\n"
         "Id=real.service\nActiveState=active\nUnitFileState=enabled\nLoadState=loaded\nNeedDaemonReload=no\n"
         "N units 0\nN files\nkubelet.service  enabled enabled\nreal.service     enabled -\nN files end\n")


def test_units_come_back_in_the_order_asked_and_an_alias_is_left_to_its_module():
    # UnitFileState comes from `systemctl is-enabled` (the disk), not from systemctl show
    look = parse_look(SHOWN, [], ["kubelet", "nosuch.service", "alias"], "N")
    assert look.units == {
        "kubelet": {"ActiveState": "active", "UnitFileState": "enabled", "LoadState": "loaded",
                    "NeedDaemonReload": "yes"},
        "nosuch.service": {"ActiveState": "inactive", "UnitFileState": "", "LoadState": "not-found",
                           "NeedDaemonReload": "no"},
    }


def test_no_unit_is_trusted_when_systemctl_failed_or_answered_for_fewer():
    assert parse_look(SHOWN.replace("N units 0", "N units 1"), [], ["kubelet", "nosuch", "real"], "N").units == {}
    assert parse_look(SHOWN, [], ["kubelet", "nosuch"], "N").units == {}


def test_the_disk_says_whether_a_unit_is_enabled():
    stale = SHOWN.replace("real.service     enabled", "real.service     disabled")
    assert parse_look(stale, [], ["kubelet", "nosuch", "real"], "N").units["real"]["UnitFileState"] == "disabled"
    # the listing cut short (no end mark): no unit is trusted
    cut = SHOWN.replace("N files end\n", "")
    assert parse_look(cut, [], ["kubelet", "nosuch", "real"], "N").units == {}


def test_names_list_unit_files_cannot_take_are_asked_one_by_one():
    units = ["kubelet", "getty@tty1", "a\\x2db", "real.socket"]
    script = look_script([], units, "N")
    assert "list-unit-files --no-legend --no-pager -- kubelet.service real.socket 2>" in script
    assert "is-enabled -- getty@tty1 2>" in script and "is-enabled -- 'a\\x2db' 2>" in script
    shown = ("N units\n" + "\n\n".join(
        f"Id={u if '.' in u else u + '.service'}\nActiveState=active\nUnitFileState=enabled\nLoadState=loaded\n"
        "NeedDaemonReload=no" for u in units)
        + "\nN units 0\nN files\nkubelet.service enabled enabled\nN files end\n"
        "N enabled 1 enabled\nN enabled 2 static\n")
    look = parse_look(shown, [], units, "N")
    assert {u: p["UnitFileState"] for u, p in look.units.items()} == {
        "kubelet": "enabled", "getty@tty1": "enabled", "a\\x2db": "static", "real.socket": ""}
