"""The connection keeper's socket, its messages, and who may use it (a real keeper process, no SSH)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from k8sboot.connection.keeper_wire import (
    KeeperGone,
    LineReader,
    private_dir,
    send_frame,
    send_line,
    socket_path,
)
from k8sboot.connection.kept import KeeperClient
from k8sboot.errors import InputError
from k8sboot.inventory.cluster import check_cluster

REPO = Path(__file__).resolve().parents[2]


def test_lines_and_frames_arrive_whole_however_the_bytes_are_cut():
    payload = b"\x00\n" * 40_000
    c, d = socket.socketpair()
    wire = bytearray()

    def write() -> None:
        send_line(c, {"op": "run", "cmd": "echo 'a\nb'"})
        send_frame(c, payload)
        send_frame(c, b"")
        c.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=write)
    writer.start()
    while chunk := d.recv(65536):
        wire += chunk
    writer.join()
    c.close()
    d.close()
    a, b = socket.socketpair()
    with a, b:
        def dribble() -> None:
            for i in range(0, len(wire), 7):  # 7 bytes per segment
                a.sendall(wire[i : i + 7])
            a.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=dribble)
        sender.start()
        reader = LineReader(b)
        assert reader.line() == {"op": "run", "cmd": "echo 'a\nb'"}
        assert reader.frame() == payload
        assert reader.frame() == b""
        with pytest.raises(KeeperGone):
            reader.frame()
        sender.join()


def test_a_message_that_is_not_an_object_is_refused():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"[1, 2]\n")
        with pytest.raises(TypeError):
            LineReader(b).line()


def test_the_socket_directory_must_be_ours_alone(tmp_path):
    mine = private_dir(tmp_path / "mine")
    assert mine is not None and (os.stat(mine).st_mode & 0o777) == 0o700
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o755)
    os.chmod(open_dir, 0o755)
    assert private_dir(open_dir) is None
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert private_dir(link) is None
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    if os.geteuid() == 0:
        os.chown(theirs, 65534, 65534)
        assert private_dir(theirs) is None


def test_one_socket_per_cluster_and_short_enough_to_bind(tmp_path):
    deep = tmp_path / ("x" * 150) / "clusters" / "demo"
    d = Path("/tmp/k8sboot-test")
    first, again, other = socket_path(deep, d), socket_path(deep, d), socket_path(tmp_path / "other", d)
    assert first == again != other
    assert len(str(first)) < 100


def test_ssh_persist_is_seconds_and_zero_turns_the_keeper_off(tmp_path):
    assert check_cluster({"ssh_persist": 0}, "inv.yml", 1)["ssh_persist"] == 0
    assert check_cluster({"ssh_persist": 90}, "inv.yml", 1)["ssh_persist"] == 90
    for bad in (-1, True, "60s"):
        with pytest.raises(InputError, match="cluster.ssh_persist must be a number of seconds"):
            check_cluster({"ssh_persist": bad}, "inv.yml", 1)
    assert KeeperClient.for_cluster(tmp_path, 0) is None


def test_no_keeper_when_the_runtime_directory_is_not_private(tmp_path, monkeypatch):
    shared = tmp_path / "run"
    (shared / "k8sboot").mkdir(parents=True)
    os.chmod(shared / "k8sboot", 0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
    assert KeeperClient.for_cluster(tmp_path / "c", 60) is None


def _keeper(path: Path, idle: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "k8sboot.connection.keeper", str(path), idle], cwd=REPO)
    deadline = time.monotonic() + 10
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the keeper did not start"
        time.sleep(0.01)
    return proc


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
def test_the_keeper_answers_only_its_own_user():
    d = Path(tempfile.mkdtemp(prefix="k8sboot-keeper-test-", dir="/tmp"))  # pytest's own is closed to others
    path = d / "k.sock"
    proc = _keeper(path, "30")
    try:
        assert (path.stat().st_mode & 0o777) == 0o600  # born private
        # open the doors, so only the keeper's own check stands between another user and it
        os.chmod(d, 0o755)
        os.chmod(path, 0o666)
        stranger = (
            "import os, socket, sys\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)\n"
            "try:\n"
            "    s.sendall(b'{\"op\":\"stop\"}\\n'); got = s.recv(100)\n"
            "except (ConnectionResetError, BrokenPipeError):  # closed before or after we spoke\n"
            "    got = b''\n"
            "print(repr(got))\n")
        out = subprocess.run([sys.executable, "-c", stranger, str(path)], capture_output=True, text=True,
                             timeout=30, cwd="/", check=False)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "b''"  # closed (or reset) without a word
        assert proc.poll() is None  # and not stopped
        KeeperClient(path, 30).stop()  # we are answered
        proc.wait(10)
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(d)


def test_an_idle_keeper_leaves_and_takes_its_socket_along(tmp_path):
    path = tmp_path / "k.sock"
    proc = _keeper(path, "0.2")
    try:
        assert proc.wait(10) == 0
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_keeper_is_told_absolute_paths_as_it_runs_in_the_root_directory(tmp_path, monkeypatch):
    from k8sboot.connection.kept import KeptConnection
    from k8sboot.connection.known_hosts import KnownHosts

    monkeypatch.chdir(tmp_path)
    conn = KeptConnection("n1", "10.0.0.1", 22, "root", "keys/id_ed25519", False, KnownHosts(Path("state/kh")),
                          5.0, keeper=KeeperClient(tmp_path / "k.sock", 60))
    spec = conn._spec()
    assert spec["key"] == str(tmp_path / "keys/id_ed25519")
    assert spec["known_hosts"] == str(tmp_path / "state/kh")
