"""Building components from a Kubernetes tree: the checks, the make call, the reflect2 fix.

A fake tree and a fake `make` stand in for the 6-minute real build; the fake make
records the environment it saw, which is the recipe under test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from k8sboot.binaries import build_from_source
from k8sboot.binaries.build import BuildError
from k8sboot.binaries.reflect2 import VENDORED, swap_reflect2
from k8sboot.errors import InputError

FAKE_MAKE = """#!/bin/sh
# stands in for Kubernetes' Makefile: WHAT=cmd/a cmd/b -> _output/bin/a, _output/bin/b
echo "+++ [0101] Building go targets for linux/amd64:"
[ -n "$FAIL" ] && { echo "go build: boom" ; exit 2; }
what="${1#WHAT=}"
mkdir -p _output/bin
for t in $what; do
  c="${t#cmd/}"
  printf '%s\\n' "GOPATH=$GOPATH" "CGO_ENABLED=$CGO_ENABLED" "PWD=$(pwd)" > "_output/bin/$c"
  echo "    $t"
done
"""


def tool(bin_dir: Path, name: str, body: str = "#!/bin/sh\nexit 0\n") -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / name).write_text(body)
    (bin_dir / name).chmod(0o755)


def fake_tree(root: Path) -> Path:
    (root / "hack" / "lib").mkdir(parents=True)
    (root / "hack" / "lib" / "version.sh").write_text("# version\n")
    for c in ("kubelet", "kube-proxy", "kubectl"):
        (root / "cmd" / c).mkdir(parents=True)
    (root / "Makefile").write_text("all:\n")
    return root


@pytest.fixture
def toolbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holding only fake go, make, rsync, jq (and sh's helpers)."""
    bin_dir = tmp_path / "tools"
    for name in ("go", "rsync", "jq"):
        tool(bin_dir, name)
    tool(bin_dir, "make", FAKE_MAKE)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return bin_dir


def test_builds_all_components_in_one_make_from_a_gopath_link(tmp_path: Path, toolbox: Path) -> None:
    src = fake_tree(tmp_path / "kubernetes-1.20.2")
    lines: list[str] = []
    out = build_from_source(src, ["kubelet", "kube-proxy"], None, lines.append)
    assert out == src / "_output" / "bin"
    assert sorted(os.listdir(out)) == ["kube-proxy", "kubelet"]
    seen = dict(line.split("=", 1) for line in (out / "kubelet").read_text().splitlines())
    gopath = Path(seen["GOPATH"])
    link = gopath / "src" / "k8s.io" / "kubernetes"
    assert gopath.is_relative_to(tmp_path / "xdg" / "k8sboot" / "build")
    assert link.is_symlink() and link.resolve() == src
    assert seen["CGO_ENABLED"] == "0"
    assert seen["PWD"] == str(link)  # make ran from the import path, not the real one
    # progress streamed line by line, one make call for both
    assert "    cmd/kubelet" in lines and "    cmd/kube-proxy" in lines
    assert sum("+++ [0101] Building" in ln for ln in lines) == 1


def test_copies_to_out_dir(tmp_path: Path, toolbox: Path) -> None:
    src = fake_tree(tmp_path / "k")
    out = build_from_source(src, ["kubectl"], tmp_path / "dist", lambda _: None)
    assert out == tmp_path / "dist" and (out / "kubectl").is_file()


def test_tree_already_in_a_gopath_is_used_in_place(tmp_path: Path, toolbox: Path) -> None:
    src = fake_tree(tmp_path / "go" / "src" / "k8s.io" / "kubernetes")
    out = build_from_source(src, ["kubelet"], None, lambda _: None)
    assert f"GOPATH={tmp_path / 'go'}" in (out / "kubelet").read_text()


def test_make_failure_carries_the_end_of_its_output(tmp_path: Path, toolbox: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src = fake_tree(tmp_path / "k")
    monkeypatch.setenv("FAIL", "1")
    with pytest.raises(BuildError) as e:
        build_from_source(src, ["kubelet"], None, lambda _: None)
    assert "failed (exit 2)" in str(e.value) and "go build: boom" in str(e.value)


def test_preflight_reports_every_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    (tmp_path / "notk8s").mkdir()
    with pytest.raises(InputError) as e:
        build_from_source(tmp_path / "notk8s", ["kubelet", "etcd"], None, lambda _: None)
    msg = str(e.value)
    assert e.value.exit_code == 2
    for expected in ["no hack/lib/version.sh", "no cmd", "go is not on PATH",
                     "make is not on PATH", "rsync is not on PATH (the code generators need it)",
                     "jq is not on PATH"]:
        assert expected in msg, expected


def test_unknown_component_and_missing_dir(tmp_path: Path, toolbox: Path) -> None:
    src = fake_tree(tmp_path / "k")
    with pytest.raises(InputError) as e:
        build_from_source(src, ["kubelet", "etcd", "../x"], None, lambda _: None)
    assert "component etcd:" in str(e.value) and "etcd is not part of Kubernetes" in str(e.value)
    assert "give a name such as kubelet" in str(e.value)
    with pytest.raises(InputError, match="no such directory"):
        build_from_source(tmp_path / "nowhere", ["kubelet"], None, lambda _: None)


def test_reflect2_swap(tmp_path: Path) -> None:
    src = fake_tree(tmp_path / "k")
    vendored = src / VENDORED
    vendored.mkdir(parents=True)
    (vendored / "reflect2.go").write_text("// v1.0.1\n")
    (vendored / "relfect2_arm.s").write_text("// old\n")
    (vendored / "BUILD").write_text("keep\n")
    new = tmp_path / "gocode"
    new.mkdir()
    (new / "reflect2.go").write_text("// v1.0.2\n")
    (new / "go_above_118.go").write_text("// new\n")
    (new / "reflect2_test.go").write_text("// test\n")
    assert swap_reflect2(src, lambda _: None, new) is True
    assert sorted(os.listdir(vendored)) == ["BUILD", "go_above_118.go", "reflect2.go"]
    assert (vendored / "reflect2.go").read_text() == "// v1.0.2\n"
    assert swap_reflect2(src, lambda _: None, new) is False  # already done


def test_fix_reflect2_needs_a_vendored_copy(tmp_path: Path, toolbox: Path) -> None:
    src = fake_tree(tmp_path / "k")
    with pytest.raises(InputError, match="does not vendor reflect2"):
        build_from_source(src, ["kubelet"], None, lambda _: None, fix_reflect2=True)


def test_gopath_link_given_by_the_user_is_kept(tmp_path: Path, toolbox: Path) -> None:
    src = fake_tree(tmp_path / "k")
    link = tmp_path / "gp" / "src" / "k8s.io" / "kubernetes"
    link.parent.mkdir(parents=True)
    link.symlink_to(src)
    out = build_from_source(link, ["kubelet"], None, lambda _: None)
    assert out == src / "_output" / "bin"
    assert f"GOPATH={tmp_path / 'gp'}\n" in (out / "kubelet").read_text()
    assert f"PWD={link}\n" in (out / "kubelet").read_text()
