"""A wheel that works: built from this source tree, installed into a fresh virtualenv
outside it, and run from a directory where the source tree is not on sys.path.

The wheel is built offline (--no-build-isolation) from a copy of the files git sees, so
a stale build/ or egg-info in the checkout cannot leak in and the checkout is not written
to. The fresh venv gets k8sboot only from the wheel; its dependencies (paramiko, jinja2,
kubernetes, ...) are the project venv's, reached through a .pth line (which, unlike
--system-site-packages, also covers a venv made from a venv, and does not run the project
venv's own .pth files, so its editable k8sboot stays out).
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.helpers import REPO, ssh

DATA_DIRS = ("roles", "templates", "inventory", "vagrant")
# Can this interpreter build a wheel with setuptools' backend, offline?
CAN_BUILD = (
    "import setuptools\n"
    "try:\n"
    "    import setuptools.command.bdist_wheel\n"  # setuptools >= 70.1
    "except ImportError:\n"
    "    import wheel.bdist_wheel\n"
    "import pip\n"
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    source: Path  # the copy the wheel was built from
    venv: Path
    work: Path  # cwd for every run: neither the checkout nor the venv

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def k8sboot(self) -> Path:
        return self.venv / "bin" / "k8sboot"

    def run(self, *args: str | Path, home: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env.update(COLUMNS="200", K8SBOOT_HOME=str(home or self.work / "home"))
        return subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True,
                              env=env, cwd=self.work, timeout=timeout, stdin=subprocess.DEVNULL)


def _builder() -> str:
    """The first interpreter that can build the wheel offline: the project venv's, else the
    machine's (Debian's python3-setuptools + python3-wheel)."""
    candidates = [sys.executable, getattr(sys, "_base_executable", sys.executable),
                  "/usr/bin/python3"]
    for python in dict.fromkeys(candidates):
        if Path(python).exists() and subprocess.run(
                [python, "-c", CAN_BUILD], check=False, capture_output=True).returncode == 0:
            return python
    pytest.fail("no interpreter here can build a wheel offline: setuptools >= 70.1, or "
                "setuptools with the `wheel` package, is needed in the project venv")


def _copy_source(dest: Path) -> Path:
    """The checkout as git sees it (tracked and new files, minus what .gitignore drops)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = REPO / rel
        if src.is_file():  # a tracked file deleted in the working tree is not shipped
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    source = _copy_source(root / "src")
    dist = root / "dist"
    build = subprocess.run(
        [_builder(), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(dist), str(source)],
        check=False, capture_output=True, text=True, cwd=root, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = dist.glob("k8sboot-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    purelib = Path(subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip())
    ours = dict.fromkeys([*site.getsitepackages(), sysconfig.get_path("purelib"),
                          sysconfig.get_path("platlib")])
    (purelib / "zz-project-deps.pth").write_text("".join(f"{p}\n" for p in ours))
    pip = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps",
                          "--no-index", str(wheel)],
                         check=False, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout + pip.stderr

    work = root / "work"
    work.mkdir()
    yield Installed(wheel=wheel, source=source, venv=venv, work=work)


def test_the_wheel_holds_the_package_and_all_its_data(installed: Installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    src = installed.source

    missing_code = sorted(str(p.relative_to(src)) for p in (src / "k8sboot").rglob("*.py")
                          if str(p.relative_to(src)) not in names)
    assert not missing_code, ("not in the wheel (add the package to [tool.setuptools] packages "
                              f"in pyproject.toml): {missing_code}")
    assert "k8sboot/py.typed" in names

    shipped = {f"k8sboot/_data/{p.relative_to(src)}" for d in DATA_DIRS
               for p in (src / d).rglob("*") if p.is_file()}
    assert len(shipped) > 30  # every role's tasks/handlers/defaults, every template, ...
    assert sorted(shipped - names) == []
    assert sorted(n for n in names if n.startswith("k8sboot/_data/") and n not in shipped) == []
    # the data lives inside the package, never as top-level names in site-packages
    tops = {n.split("/")[0] for n in names}
    assert tops - {"k8sboot"} == {"k8sboot-0.1.0.dist-info"}, tops


def test_the_installed_package_comes_from_the_wheel_and_finds_its_data(installed: Installed):
    probe = installed.run(installed.python, "-c",
                          "import json, k8sboot, k8sboot.paths as p; print(json.dumps({"
                          "'file': k8sboot.__file__, 'roles': str(p.ROLES_DIR), "
                          "'templates': str(p.TEMPLATES_DIR), 'inventory': str(p.INVENTORY_DIR), "
                          "'vagrant': str(p.VAGRANT_DIR)}))")
    assert probe.returncode == 0, probe.stderr
    where = {k: Path(v) for k, v in json.loads(probe.stdout).items()}
    for what, path in where.items():
        assert path.is_relative_to(installed.venv), (what, path)
        assert not path.is_relative_to(REPO), (what, path)
    assert (where["roles"] / "demo" / "tasks" / "main.yml").is_file()
    assert (where["templates"] / "demo" / "greeting.j2").is_file()
    assert (where["inventory"] / "local.yml").is_file()
    assert (where["vagrant"] / "Vagrantfile").is_file()


def test_the_installed_command_runs(installed: Installed):
    helped = installed.run(installed.k8sboot, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "inventory" in helped.stdout and "run" in helped.stdout

    version = installed.run(installed.k8sboot, "version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "k8sboot 0.1.0"

    inventory = installed.venv.glob("lib/python*/site-packages/k8sboot/_data/inventory/lab.yml")
    listed = installed.run(installed.k8sboot, "inventory", "-i", next(inventory), "--list")
    assert listed.returncode == 0, listed.stderr
    assert set(json.loads(listed.stdout)["_meta"]["hostvars"])

    # no -i: the shipped inventory/local.yml, found inside the installed package
    default = installed.run(installed.k8sboot, "inventory", "--list")
    assert default.returncode == 0, default.stderr
    assert "local" in json.loads(default.stdout)["_meta"]["hostvars"]


@pytest.mark.lab
def test_the_installed_command_runs_the_shipped_role_on_hosts(
        installed: Installed, engine_inventory: Path, lab_hosts: dict, tmp_path: Path) -> None:
    r = installed.run(installed.k8sboot, "run", "demo", "-i", engine_inventory,
                      home=tmp_path / "home")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("eng-a", "eng-b"):
        code, out = ssh(lab_hosts[name],
                        "systemctl is-active k8sboot-demo; cat /etc/k8sboot-demo/greeting")
        assert code == 0, out
        active, greeting = out.splitlines()[:2]
        assert active == "active"
        # the shipped role and its shipped template (demo/greeting.j2), from the installed wheel
        assert greeting.startswith(f"hello from k8sboot on {name} "), out
