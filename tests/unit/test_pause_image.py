"""The pause image and the docker-save writer: layout, reproducibility, a real import."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from k8sboot.errors import InputError
from k8sboot.container_images import build_pause_image, build_static_image
from k8sboot.container_images import pause as pause_mod
from k8sboot.container_images.archive import host_architecture, is_dynamic_elf, split_tag

HAVE_GCC = shutil.which("gcc") is not None
BUSYBOX = Path("/bin/busybox")


def members(tar_path: Path) -> dict[str, bytes]:
    with tarfile.open(tar_path) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                for m in tar.getmembers()}


def read_image(tar_path: Path) -> tuple[dict, dict, dict[str, tarfile.TarInfo], dict[str, bytes]]:
    """(manifest entry, config, layer members, layer contents) of a one-layer docker-save tar."""
    files = members(tar_path)
    [manifest] = json.loads(files["manifest.json"])
    config_bytes = files[manifest["Config"]]
    config = json.loads(config_bytes)
    [layer_name] = manifest["Layers"]
    layer = files[layer_name]
    assert manifest["Config"] == hashlib.sha256(config_bytes).hexdigest() + ".json"
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(layer).hexdigest()]
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        infos = {m.name: m for m in tar.getmembers()}
        data = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    return manifest, config, infos, data


def test_docker_save_layout(tmp_path: Path) -> None:
    tool = tmp_path / "tool"
    tool.write_bytes(b"#!/bin/sh\necho hi\n")
    tool.chmod(0o755)
    out = build_static_image(tmp_path / "img.tar", "example.org/web:1.0",
                             {"/bin/tool": tool, "/www/index.html": b"<h1>ok</h1>\n"},
                             ["/bin/tool"], cmd=["-v"])
    with tarfile.open(out) as tar:
        names = [m.name for m in tar.getmembers()]
    assert names == sorted(names)
    manifest, config, infos, data = read_image(out)
    layer_id = manifest["Layers"][0].split("/")[0]
    assert manifest["RepoTags"] == ["example.org/web:1.0"]
    assert json.loads(members(out)["repositories"]) == {"example.org/web": {"1.0": layer_id}}
    assert members(out)[f"{layer_id}/VERSION"] == b"1.0"
    assert config["architecture"] == host_architecture() and config["os"] == "linux"
    assert config["config"]["Entrypoint"] == ["/bin/tool"] and config["config"]["Cmd"] == ["-v"]
    assert sorted(infos) == ["bin", "bin/tool", "www", "www/index.html"]
    assert infos["bin"].isdir() and infos["bin/tool"].mode == 0o755
    assert infos["www/index.html"].mode == 0o644
    assert {(i.mtime, i.uid, i.gid) for i in infos.values()} == {(0, 0, 0)}
    assert data["www/index.html"] == b"<h1>ok</h1>\n"


def test_output_is_reproducible_and_not_rewritten(tmp_path: Path) -> None:
    files = {"/a": b"x", "/d/b": b"y"}
    one = build_static_image(tmp_path / "1.tar", "t:1", files, ["/a"])
    two = build_static_image(tmp_path / "2.tar", "t:1", dict(reversed(files.items())), ["/a"])
    assert one.read_bytes() == two.read_bytes()
    os.utime(one, (1, 1))
    build_static_image(one, "t:1", files, ["/a"])
    assert one.stat().st_mtime == 1  # identical content: the file was left alone


def test_tags_and_bad_paths(tmp_path: Path) -> None:
    assert split_tag("registry.k8s.io/pause:3.6") == ("registry.k8s.io/pause", "3.6")
    assert split_tag("localhost:5000/web") == ("localhost:5000/web", "latest")
    with pytest.raises(InputError):
        build_static_image(tmp_path / "x.tar", "t", {"/../etc/passwd": b""}, ["/x"])


@pytest.mark.skipif(not os.path.exists("/bin/ls"), reason="no /bin/ls")
def test_dynamic_binaries_are_refused(tmp_path: Path) -> None:
    assert is_dynamic_elf(Path("/bin/ls"))
    with pytest.raises(InputError, match="dynamically linked"):
        build_static_image(tmp_path / "x.tar", "t", {"/ls": Path("/bin/ls")}, ["/ls"])


@pytest.mark.skipif(not HAVE_GCC, reason="gcc not installed")
def test_pause_image_from_gcc(tmp_path: Path) -> None:
    started = time.monotonic()
    out = build_pause_image(tmp_path / "pause.tar", cache_dir=tmp_path / "cache")
    took = time.monotonic() - started
    manifest, config, infos, data = read_image(out)
    assert manifest["RepoTags"] == ["registry.k8s.io/pause:3.6"]
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert list(infos) == ["pause"] and infos["pause"].mode == 0o755
    [cached] = (tmp_path / "cache" / "images").glob("pause-*.tar")
    assert cached.read_bytes() == out.read_bytes()
    # a rerun comes from the cache, byte for byte
    again = build_pause_image(tmp_path / "again.tar", cache_dir=tmp_path / "cache")
    assert again.read_bytes() == out.read_bytes()
    print(f"pause image built in {took:.2f} s")

    # the program itself: static, sleeps, exits 0 on SIGTERM
    binary = tmp_path / "pause"
    binary.write_bytes(data["pause"])
    binary.chmod(0o755)
    assert not is_dynamic_elf(binary)
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = subprocess.Popen([str(binary)])
        time.sleep(0.2)
        assert proc.poll() is None
        proc.send_signal(sig)
        assert proc.wait(timeout=5) == 0


@pytest.mark.skipif(not HAVE_GCC, reason="gcc not installed")
def test_pause_image_is_stable_across_clean_builds(tmp_path: Path) -> None:
    a = build_pause_image(tmp_path / "a.tar", cache_dir=tmp_path / "c1")
    b = build_pause_image(tmp_path / "b.tar", cache_dir=tmp_path / "c2")
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.skipif(not BUSYBOX.exists() or is_dynamic_elf(BUSYBOX),
                    reason="no static busybox (busybox-static)")
def test_busybox_fallback_without_gcc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pause_mod, "_gcc_identity", lambda: None)
    out = build_pause_image(tmp_path / "pause.tar", tag="registry.k8s.io/pause:3.6",
                            cache_dir=tmp_path / "cache")
    _, config, _, data = read_image(out)
    assert config["config"]["Entrypoint"] == ["/bin/busybox", "sleep", "infinity"]
    assert data["bin/busybox"] == BUSYBOX.read_bytes()


def test_no_way_to_build_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pause_mod, "_gcc_identity", lambda: None)
    with pytest.raises(pause_mod.PauseImageError, match="install busybox-static"):
        build_pause_image(tmp_path / "p.tar", busybox=tmp_path / "none", cache_dir=tmp_path)


# -- the real thing: containerd imports it --------------------------------------------------

CONTAINERD = shutil.which("containerd") or "/usr/bin/containerd"
CTR = shutil.which("ctr") or "/usr/bin/ctr"


@pytest.fixture
def private_containerd():
    """A containerd of our own (CRI plugin off), stopped by its PID afterwards."""
    import tempfile

    # a short directory: the socket path must fit in 108 bytes
    root = Path(tempfile.mkdtemp(prefix="k8sb-ctrd-", dir="/tmp"))
    sock = root / "sock"
    config = root / "config.toml"
    config.write_text('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
    log = open(root / "containerd.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([CONTAINERD, "--config", str(config), "--root", str(root / "root"),
                             "--state", str(root / "state"), "--address", str(sock)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"containerd exited: {(root / 'containerd.log').read_text()[-2000:]}")
            if sock.exists() and subprocess.run([CTR, "--address", str(sock), "version"],
                                                check=False, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        yield sock
    finally:
        proc.terminate()  # by PID: only the daemon this fixture started
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        subprocess.run(["umount", "-R", str(root / "root")], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(not (os.access(CONTAINERD, os.X_OK) and os.access(CTR, os.X_OK)),
                    reason="containerd/ctr not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="containerd needs root")
def test_containerd_imports_the_pause_image(tmp_path: Path, private_containerd: Path) -> None:
    out = build_pause_image(tmp_path / "pause.tar", cache_dir=tmp_path / "cache")
    ctr = [CTR, "--address", str(private_containerd), "-n", "k8s.io", "images"]
    imported = subprocess.run([*ctr, "import", str(out)], check=False, capture_output=True,
                              text=True, timeout=60)
    assert imported.returncode == 0, imported.stderr
    listed = subprocess.run([*ctr, "ls", "-q"], check=False, capture_output=True, text=True,
                            timeout=30)
    assert "registry.k8s.io/pause:3.6" in listed.stdout.split()
