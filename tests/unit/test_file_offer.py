"""The controller's file offer and the host-side fetch script, run for real on this machine (curl, sh)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8sboot.connection.file_offer import PULL_UNAVAILABLE, FileOffer, pull_steps
from k8sboot.connection.ssh import put_script


@pytest.fixture
def offer() -> Iterator[FileOffer]:
    o = FileOffer()
    yield o
    o.close()


@pytest.fixture
def binary(tmp_path: Path) -> tuple[Path, str]:
    p = tmp_path / "kubelet"
    p.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return p, hashlib.sha256(p.read_bytes()).hexdigest()


def _pull(dest: Path, url: str, size: int, sha256: str) -> subprocess.CompletedProcess[str]:
    script = put_script(str(dest), size, mode="755",
                        fill=lambda tmp: pull_steps(url, tmp, sha256, 30))
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)


def test_offered_file_is_served_whole(offer: FileOffer, binary: tuple[Path, str]) -> None:
    path, sha = binary
    url = offer.url("127.0.0.1", path, sha)
    with urllib.request.urlopen(url, timeout=10) as got:
        assert got.read() == path.read_bytes()
    # the same file keeps its URL; anything else is not served
    assert offer.url("127.0.0.1", path, sha) == url
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.rsplit("/", 1)[0] + "/guess", timeout=10)
    assert e.value.code == 404


def test_closing_does_not_wait_for_a_host_that_stopped_reading(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as f:  # sparse: far more than the socket buffers hold
        f.truncate(512 * 1024 * 1024)
    offer = FileOffer()
    url = offer.url("127.0.0.1", big, "0" * 64)
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    stuck = socket.create_connection((host, int(port)), timeout=10)
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(f"GET /{url.split('/', 3)[3]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert stuck.recv(12).startswith(b"HTTP/1.1 200")  # the server is now blocked sending the body
    closer = threading.Thread(target=offer.close)
    closer.start()
    closer.join(timeout=20)
    stuck.close()
    assert not closer.is_alive(), "close() waited for a fetch that will never finish"


def test_pull_writes_checked_file_atomically(offer: FileOffer, binary: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = binary
    dest = tmp_path / "host" / "usr-local-bin-kubelet"
    r = _pull(dest, offer.url("127.0.0.1", path, sha), path.stat().st_size, sha)
    assert r.returncode == 0, r.stderr
    assert dest.read_bytes() == path.read_bytes()
    assert oct(dest.stat().st_mode & 0o777) == "0o755"
    assert r.stdout.split()[0] == str(path.stat().st_size)  # the stat signature, as an upload prints
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temporary file left


def test_a_proxy_in_the_environment_is_not_used(offer: FileOffer, binary: tuple[Path, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path, sha = binary
    with socket.socket() as s:  # a proxy nobody runs: a fetch through it would fail
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead)
    dest = tmp_path / "kubelet-copy"
    r = _pull(dest, offer.url("127.0.0.1", path, sha), path.stat().st_size, sha)
    assert r.returncode == 0, r.stderr
    assert dest.read_bytes() == path.read_bytes()


def test_wrong_sha256_leaves_dest_alone(offer: FileOffer, binary: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = binary
    dest = tmp_path / "kubelet"
    dest.write_bytes(b"old")
    r = _pull(dest, offer.url("127.0.0.1", path, sha), path.stat().st_size, "0" * 64)
    assert r.returncode not in (0, PULL_UNAVAILABLE)
    assert "wrong sha256" in r.stderr
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]


def test_unreachable_controller_says_unavailable(binary: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = binary
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "kubelet"
    r = _pull(dest, f"http://127.0.0.1:{port}/x", path.stat().st_size, sha)
    assert r.returncode == PULL_UNAVAILABLE, r.stderr
    assert list(tmp_path.iterdir()) == [path]


def test_hostile_names_stay_words(offer: FileOffer, tmp_path: Path) -> None:
    odd = tmp_path / "a b;$(touch pwned)'"
    odd.write_bytes(b"x" * 1000)
    sha = hashlib.sha256(odd.read_bytes()).hexdigest()
    dest = tmp_path / "out dir" / "k;$(touch pwned2)"
    r = _pull(dest, offer.url("127.0.0.1", odd, sha), 1000, sha)
    assert r.returncode == 0, r.stderr
    assert dest.read_bytes() == b"x" * 1000
    assert not Path("pwned").exists() and not Path("pwned2").exists()


def test_a_staged_file_is_taken_without_fetching(binary: tuple[Path, str], tmp_path: Path) -> None:
    path, sha = binary
    staged = tmp_path / "stage" / sha
    staged.parent.mkdir()
    staged.write_bytes(path.read_bytes())
    with socket.socket() as s:  # nothing serves: a fetch would fail, so success means the stage was used
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/x"
    dest = tmp_path / "bin" / "kubelet"
    script = put_script(str(dest), path.stat().st_size, mode="755",
                        fill=lambda tmp: pull_steps(dead, tmp, sha, 30, staged=str(staged)))
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert dest.read_bytes() == path.read_bytes() and not staged.exists()  # taken, not copied
    # nothing staged: the same steps fetch (here: from nowhere, so "unavailable")
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == PULL_UNAVAILABLE, r.stderr


def test_a_staged_file_with_other_content_is_refused(binary: tuple[Path, str], tmp_path: Path) -> None:
    # not in a root-only place (its mode is not stage()'s): checked as a fetched one is, dest stays as it was
    path, sha = binary
    staged = tmp_path / sha
    staged.write_bytes(b"\0" * path.stat().st_size)  # the right size, not the right bytes
    staged.chmod(0o644)
    dest = tmp_path / "kubelet"
    dest.write_bytes(b"old")
    script = put_script(str(dest), path.stat().st_size,
                        fill=lambda tmp: pull_steps("http://127.0.0.1:9/x", tmp, sha, 30, staged=str(staged)))
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode not in (0, PULL_UNAVAILABLE) and "wrong sha256" in r.stderr
    assert dest.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["kubelet"]


def _stage_as_stage_leaves_it(tmp_path: Path, sha: str, content: bytes) -> Path:
    stage = tmp_path / "stage"
    stage.mkdir(mode=0o700)
    stage.chmod(0o700)
    staged = stage / sha
    staged.write_bytes(content)
    staged.chmod(0o600)
    return staged


@pytest.mark.skipif(os.geteuid() != 0, reason="the trusted place is root's")
def test_a_file_in_roots_stage_is_taken_without_hashing_it_again(binary: tuple[Path, str], tmp_path: Path) -> None:
    # only root can write there, and stage() checked the file when it fetched it: the take does not hash
    # (other bytes of the right size get through here, which proves no sha256sum ran)
    path, sha = binary
    staged = _stage_as_stage_leaves_it(tmp_path, sha, b"\1" * path.stat().st_size)
    dest = tmp_path / "kubelet"
    script = put_script(str(dest), path.stat().st_size,
                        fill=lambda tmp: pull_steps("http://127.0.0.1:9/x", tmp, sha, 30, staged=str(staged)))
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert dest.read_bytes() == b"\1" * path.stat().st_size and not staged.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the trusted place is root's")
@pytest.mark.parametrize("spoil", ["dir mode", "file mode", "file is a link", "dir is a link"])
def test_anything_else_in_the_stage_is_hashed_when_taken(binary: tuple[Path, str], tmp_path: Path,
                                                         spoil: str) -> None:
    path, sha = binary
    staged = _stage_as_stage_leaves_it(tmp_path, sha, b"\1" * path.stat().st_size)
    if spoil == "dir mode":
        staged.parent.chmod(0o755)
    elif spoil == "file mode":
        staged.chmod(0o644)
    elif spoil == "file is a link":
        target = tmp_path / "elsewhere"
        staged.rename(target)
        staged.symlink_to(target)
    else:
        real = tmp_path / "real-stage"
        staged.parent.rename(real)
        staged.parent.symlink_to(real)
    dest = tmp_path / "kubelet"
    dest.write_bytes(b"old")
    script = put_script(str(dest), path.stat().st_size,
                        fill=lambda tmp: pull_steps("http://127.0.0.1:9/x", tmp, sha, 30, staged=str(staged)))
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    if spoil == "file is a link":  # not taken at all: fetched instead (from nowhere here)
        assert r.returncode == PULL_UNAVAILABLE, r.stderr
    else:
        assert r.returncode not in (0, PULL_UNAVAILABLE) and "wrong sha256" in r.stderr
    assert dest.read_bytes() == b"old"
