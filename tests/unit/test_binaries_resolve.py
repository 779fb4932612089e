"""Resolving cluster.binaries: sources, downloads, checks, versions, the memo, the error."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from k8sboot.binaries import probe, resolve_binaries
from k8sboot.binaries.components import ALL, REQUIRED, components_for_groups, remote_path
from k8sboot.errors import InputError

KUBE_BIN = Path.home() / ".cache" / "k8sboot" / "kubernetes" / "bin"
OUTPUT = {"etcd": "etcd Version: {v}", "etcdctl": "etcdctl version: {v}",
          "kubectl": "Client Version: {v}"}


def fake_binary(directory: Path, name: str, version: str | None = None,
                counter: Path | None = None, output: str | None = None) -> Path:
    """A script answering its version query like the real component; each run appends
    a line to counter, so a test can prove it was not run."""
    directory.mkdir(parents=True, exist_ok=True)
    version = version or ("3.4.23" if name.startswith("etcd") else "v1.20.2")
    line = output if output is not None else OUTPUT.get(name, "Kubernetes {v}").format(v=version)
    count = f'echo "$0 $*" >> "{counter}"\n' if counter else ""
    path = directory / name
    path.write_text(f"#!/bin/sh\n{count}echo '{line}'\n")
    path.chmod(0o755)
    return path


def fake_dir(directory: Path, counter: Path | None = None, names=ALL) -> Path:
    for name in names:
        fake_binary(directory, name, counter=counter)
    return directory


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve(settings, tmp_path: Path, base_dir: Path | None = None, **kw):
    return resolve_binaries(settings, tmp_path / "cache", base_dir, require_elf=False, **kw)


def error_of(settings, tmp_path: Path, **kw) -> str:
    with pytest.raises(InputError) as e:
        resolve(settings, tmp_path, **kw)
    assert e.value.exit_code == 2
    return str(e.value)


def test_components_groups_and_remote_paths() -> None:
    assert components_for_groups(["nodes"]) == ["kubelet", "kube-proxy"]
    assert components_for_groups(["etcd", "control_plane"]) == [
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcdctl", "kubectl"]
    assert remote_path("kubelet") == "/usr/local/bin/kubelet"


def test_dir_with_per_component_overrides(tmp_path: Path) -> None:
    build = fake_dir(tmp_path / "inv" / "out" / "bin")
    other = tmp_path / "other"
    fake_binary(other, "kube-proxy", "v1.20.9")
    etcd = fake_binary(tmp_path / "inv" / "etcd-dir", "etcd", "3.4.99")
    settings = {"dir": "out/bin",  # relative: from the inventory's directory
                "etcd": {"path": "etcd-dir/etcd"},
                "kube-proxy": {"dir": str(other)}}
    got = resolve(settings, tmp_path, base_dir=tmp_path / "inv")
    assert list(got) == list(ALL)
    assert got["etcd"].path == etcd and got["etcd"].version == "3.4.99"
    assert got["etcd"].source == f"path:{etcd}"
    assert got["kube-proxy"].path == other / "kube-proxy" and got["kube-proxy"].version == "v1.20.9"
    assert got["kube-proxy"].source == f"dir:{other}"
    assert got["kubelet"].path == build / "kubelet" and got["kubelet"].source == f"dir:{build}"
    assert got["kubelet"].version == "v1.20.2"
    assert got["etcdctl"].version == "3.4.23" and got["kubectl"].version == "v1.20.2"
    assert got["kubelet"].sha256 == sha(build / "kubelet")
    assert got["kubelet"].remote_path == "/usr/local/bin/kubelet"


def test_optional_components_are_skipped_when_absent_from_dir(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin", names=REQUIRED)
    got = resolve({"dir": str(tmp_path / "bin")}, tmp_path)
    assert list(got) == list(REQUIRED)


def test_optional_component_named_explicitly_must_exist(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin", names=REQUIRED)
    msg = error_of({"dir": str(tmp_path / "bin"), "kubectl": {"path": "/nope/kubectl"}}, tmp_path)
    assert "kubectl: cluster.binaries.kubectl.path = /nope/kubectl: no such file" in msg


def test_url_with_good_sha256_is_downloaded_once(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    remote = fake_binary(tmp_path / "remote", "kubelet", "v1.20.3")
    digest = sha(remote)
    settings = {"dir": str(tmp_path / "bin"),
                "kubelet": {"url": remote.as_uri(), "sha256": digest.upper()}}
    got = resolve(settings, tmp_path)["kubelet"]
    assert got.path == tmp_path / "cache" / "downloads" / digest
    assert (got.sha256, got.version, got.source) == (digest, "v1.20.3", f"url:{remote.as_uri()}")
    assert os.access(got.path, os.X_OK)
    remote.unlink()  # the cache answers now: nothing is fetched again
    assert resolve(settings, tmp_path)["kubelet"].path == got.path


def test_url_with_bad_sha256_is_refused_and_not_cached(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    remote = fake_binary(tmp_path / "remote", "kubelet")
    wrong = "0" * 64
    msg = error_of({"dir": str(tmp_path / "bin"),
                    "kubelet": {"url": remote.as_uri(), "sha256": wrong}}, tmp_path)
    assert f"kubelet: cluster.binaries.kubelet.url = {remote.as_uri()}: sha256 mismatch" in msg
    assert f"expected {wrong}, got {sha(remote)}" in msg
    assert not (tmp_path / "cache" / "downloads" / wrong).exists()
    assert list((tmp_path / "cache" / "downloads").iterdir()) == []  # no partial file left


def test_url_needs_sha256_and_a_known_scheme(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    msg = error_of({"dir": str(tmp_path / "bin"),
                    "kubelet": {"url": "https://example.invalid/kubelet"},
                    "kube-proxy": {"url": "ftp://x/kube-proxy", "sha256": "a" * 64}}, tmp_path)
    assert "kubelet: cluster.binaries.kubelet.url needs cluster.binaries.kubelet.sha256" in msg
    assert "kube-proxy: cluster.binaries.kube-proxy.url = ftp://x/kube-proxy: only http://" in msg


def test_missing_url_target_is_reported(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    url = (tmp_path / "gone").as_uri()
    msg = error_of({"dir": str(tmp_path / "bin"), "kubelet": {"url": url, "sha256": "b" * 64}},
                   tmp_path)
    assert f"kubelet: cluster.binaries.kubelet.url = {url}: download failed" in msg


def test_sha256_pins_a_local_file_too(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    kubelet = tmp_path / "bin" / "kubelet"
    ok = {"dir": str(tmp_path / "bin"), "kubelet": {"path": str(kubelet), "sha256": sha(kubelet)}}
    assert resolve(ok, tmp_path)["kubelet"].sha256 == sha(kubelet)
    ok["kubelet"]["sha256"] = "c" * 64
    assert "kubelet: cluster.binaries.kubelet.path" in error_of(ok, tmp_path)


def test_missing_file_names_component_setting_and_path(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin", names=[c for c in ALL if c != "kube-scheduler"])
    msg = error_of({"dir": "bin"}, tmp_path, base_dir=tmp_path)
    assert (f"kube-scheduler: cluster.binaries.dir = bin ({tmp_path}/bin/kube-scheduler): "
            f"no such file") in msg


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    bin_dir = fake_dir(tmp_path / "bin")
    (bin_dir / "kube-scheduler").chmod(0o644)
    fake_binary(bin_dir, "kube-proxy", output="kube-proxy: unknown flag")
    settings = {
        "dir": str(bin_dir),
        "etcd": {"path": str(tmp_path / "nope" / "etcd")},
        "kubelet": {"url": (tmp_path / "k").as_uri(), "sha256": "short"},
        "kube-apiserver": {"path": "/x", "url": "file:///y"},
        "kubeadm": {"path": "/usr/bin/kubeadm"},
    }
    msg = error_of(settings, tmp_path)
    assert msg.startswith("cluster.binaries: 6 problem(s), no host was touched:")
    for expected in [
        "kubeadm: unknown key cluster.binaries.kubeadm",
        f"etcd: cluster.binaries.etcd.path = {tmp_path}/nope/etcd: no such file",
        "kube-apiserver: cluster.binaries.kube-apiserver needs exactly one of path, url or dir",
        "kube-scheduler: cluster.binaries.dir",
        "not executable",
        "kubelet: cluster.binaries.kubelet.sha256 is not 64 hex digits",
        "kube-proxy: cluster.binaries.dir",
        "cannot read its version",
    ]:
        assert expected in msg, expected
    # in component order, one per line
    lines = msg.splitlines()[1:]
    assert [ln.split(":")[0].strip(" -") for ln in lines] == [
        "kubeadm", "etcd", "kube-apiserver", "kube-scheduler", "kubelet", "kube-proxy"]


def test_no_settings_at_all(tmp_path: Path) -> None:
    msg = error_of(None, tmp_path)
    assert f"{len(REQUIRED)} problem(s)" in msg
    assert "etcd: no binary given: set cluster.binaries.dir" in msg


def test_settings_shape_errors(tmp_path: Path) -> None:
    assert "must be a mapping" in error_of(["x"], tmp_path)
    msg = error_of({"dir": 3, "etcd": "/usr/bin/etcd", "kubelet": {"path": "/a", "mode": 1}},
                   tmp_path)
    assert "cluster.binaries.dir must be a non-empty path string" in msg
    assert "etcd: cluster.binaries.etcd must be a mapping" in msg
    assert "kubelet: unknown key cluster.binaries.kubelet.mode" in msg


def test_non_elf_refused_by_default(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    with pytest.raises(InputError) as e:
        resolve_binaries({"dir": str(tmp_path / "bin")}, tmp_path / "cache", None)
    assert "etcd: cluster.binaries.dir" in str(e.value)
    assert "not an ELF executable" in str(e.value)


def test_version_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = fake_dir(tmp_path / "bin")
    (bin_dir / "kubelet").write_text("#!/bin/sh\nexec sleep 5\n")
    monkeypatch.setattr(probe, "VERSION_TIMEOUT", 0.3)
    msg = error_of({"dir": str(bin_dir)}, tmp_path)
    assert f"kubelet: cluster.binaries.dir = {bin_dir} ({bin_dir}/kubelet): `{bin_dir}/kubelet " \
           "--version` did not finish within 0.3 s" in msg


def test_rerun_neither_runs_nor_hashes_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = tmp_path / "runs.log"
    bin_dir = fake_dir(tmp_path / "bin", counter)
    settings = {"dir": str(bin_dir)}
    first = resolve(settings, tmp_path)
    assert len(counter.read_text().splitlines()) == len(ALL)

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(probe, "sha256_file", no_hashing)
    assert resolve(settings, tmp_path) == first
    assert len(counter.read_text().splitlines()) == len(ALL)  # not run again
    monkeypatch.undo()

    # a changed file is probed again (and only that one)
    fake_binary(bin_dir, "kubelet", "v1.20.4", counter)
    again = resolve(settings, tmp_path)
    assert again["kubelet"].version == "v1.20.4"
    assert again["kubelet"].sha256 != first["kubelet"].sha256
    runs = counter.read_text().splitlines()
    assert len(runs) == len(ALL) + 1 and runs[-1].endswith("kubelet --version")


def test_components_limits_the_work(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin", names=["kubelet", "kube-proxy"])
    got = resolve({"dir": str(tmp_path / "bin")}, tmp_path, components=["kubelet", "kube-proxy"])
    assert list(got) == ["kubelet", "kube-proxy"]


@pytest.mark.skipif(not os.access("/usr/bin/etcd", os.X_OK), reason="Debian's etcd not installed")
def test_real_etcd(tmp_path: Path) -> None:
    fake_dir(tmp_path / "bin")
    settings = {"dir": str(tmp_path / "bin"), "etcd": {"path": "/usr/bin/etcd"}}
    if os.access("/usr/bin/etcdctl", os.X_OK):
        settings["etcdctl"] = {"path": "/usr/bin/etcdctl"}
    got = resolve(settings, tmp_path)
    assert got["etcd"].version.startswith("3.")
    assert got["etcd"].sha256 == sha(Path("/usr/bin/etcd"))
    if "etcdctl" in settings:
        assert got["etcdctl"].version == got["etcd"].version


@pytest.mark.skipif(not (KUBE_BIN / "kube-apiserver").exists() or not os.access("/usr/bin/etcd", os.X_OK),
                    reason="no Kubernetes build in ~/.cache/k8sboot/kubernetes/bin")
def test_real_binaries_elf_checked(tmp_path: Path) -> None:
    settings = {"dir": str(KUBE_BIN), "etcd": {"path": "/usr/bin/etcd"},
                "etcdctl": {"path": "/usr/bin/etcdctl"}}
    got = resolve_binaries(settings, tmp_path / "cache", None)
    assert {b.version for c, b in got.items() if c.startswith("kube")} == {"v1.20.2"}


def test_list_command_prints_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    from k8sboot.commands import binaries as command

    monkeypatch.setenv("K8SBOOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    bin_dir = fake_dir(tmp_path / "bin")
    shutil.copy("/bin/true", bin_dir / "probe-elf")  # not a component: ignored
    inv = tmp_path / "inv.yml"
    inv.write_text("cluster:\n  name: t\n  binaries: {dir: bin}\n"
                   "hosts:\n  cp1: {address: 10.0.0.1, groups: [etcd, control_plane, nodes]}\n")
    monkeypatch.setattr(command, "resolve_binaries",
                        lambda s, c, b: resolve_binaries(s, c, b, require_elf=False))
    args = argparse.Namespace(binaries_command="list", inventory=str(inv), extra_vars=None)
    assert command.run(args) == 0
    out = capsys.readouterr().out
    assert "kube-apiserver" in out and "v1.20.2" in out and f"dir:{bin_dir}" in out
    assert sha(bin_dir / "kubelet")[:12] in out
    assert "Kubernetes v1.20.2" in out
    assert (tmp_path / "xdg" / "k8sboot" / "binaries-probe.json").exists()
