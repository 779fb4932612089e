"""The container root filesystem: the base image minus kernel and modules, plus
what a kubelet needs to run inside LXC (LAB.md, "System containers").

A template is made once per base image and copied for each container. Other
processes may share the directory (tests, a second cluster): a template is made
under an exclusive lock and copied under a shared one, so nobody prunes it mid-copy.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from k8sboot.errors import RunError

# Bump when what the template holds changes, so stale templates are not reused.
TEMPLATE_VERSION = 2

# The kubelet insists on these kernel settings, which a container cannot write
# (proc:mixed): files holding the values are bind-mounted over them instead, so
# the host's own settings stay untouched.
SYSCTLS = {"vm/overcommit_memory": "1", "kernel/panic": "10", "kernel/panic_on_oops": "1"}

# The kubelet wants the cpu and cpuacct hierarchies: mount them before anything starts.
CGROUP_SCRIPT = """\
#!/bin/sh
# LXC leaves cpu and cpuacct as symlinks to an empty, unmounted "cpu,cpuacct"
# (hosts that mount them as two hierarchies): make them real mounts.
set -e
cg=/sys/fs/cgroup
ok=1
for c in cpu cpuacct; do
  if [ -L "$cg/$c" ] || ! mountpoint -q "$cg/$c"; then ok=0; fi
done
[ "$ok" = 1 ] && exit 0
ro=0
case ",$(findmnt -n -o OPTIONS "$cg")," in *,ro,*) ro=1 ;; esac
[ "$ro" = 1 ] && mount -o remount,rw "$cg"
for c in cpu cpuacct; do
  [ -L "$cg/$c" ] && rm "$cg/$c"
  mkdir -p "$cg/$c"
  mountpoint -q "$cg/$c" || mount -t cgroup -o "$c" cgroup "$cg/$c"
done
if [ -d "$cg/cpu,cpuacct" ] && ! mountpoint -q "$cg/cpu,cpuacct"; then
  rmdir "$cg/cpu,cpuacct"
fi
[ "$ro" = 1 ] && mount -o remount,ro "$cg"
exit 0
"""
CGROUP_SCRIPT_PATH = "usr/local/sbin/k8sboot-lab-cgroups"
CGROUP_UNIT_NAME = "k8sboot-lab-cgroups.service"
CGROUP_UNIT = f"""\
[Unit]
Description=k8sboot: mount the cpu and cpuacct cgroup hierarchies
DefaultDependencies=no
Before=sysinit.target containerd.service
ConditionVirtualization=container

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/{CGROUP_SCRIPT_PATH}

[Install]
WantedBy=sysinit.target
"""

Customise = Callable[[Path], None]


def install_cgroup_fix(root: Path) -> None:
    """The cgroup mount unit, enabled, in a root filesystem."""
    script = root / CGROUP_SCRIPT_PATH
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(CGROUP_SCRIPT)
    script.chmod(0o755)
    wants = root / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (root / "etc/systemd/system" / CGROUP_UNIT_NAME).write_text(CGROUP_UNIT)
    link = wants / CGROUP_UNIT_NAME
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{CGROUP_UNIT_NAME}")


def write_sysctl_files(directory: Path) -> dict[str, Path]:
    """The files bind-mounted over /proc/sys/<setting>: setting -> file."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for rel, value in SYSCTLS.items():
        path = directory / rel.replace("/", ".")
        path.write_text(value + "\n")
        out[rel] = path
    return out


def ensure_template(rootfs: Path, recipe: str, templates: Path, customise: Customise,
                    log: Callable[[str], None]) -> Path:
    """The template for the base image `recipe` under `templates/` (made if missing)."""
    template = templates / f"{recipe}-t{TEMPLATE_VERSION}"
    templates.mkdir(parents=True, exist_ok=True)
    with flock(lock_of(template), fcntl.LOCK_EX):
        if not (template / ".complete").exists():
            log(f"lxc: making the container template {template.name}")
            tmp = template.with_name(f".{template.name}.{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            run(["cp", "-a", str(rootfs), str(tmp)])
            for sub in ("boot", "usr/lib/modules"):  # the host's kernel runs containers
                shutil.rmtree(tmp / sub, ignore_errors=True)
                (tmp / sub).mkdir(parents=True, exist_ok=True)
            customise(tmp)
            (tmp / ".complete").write_text(recipe + "\n")
            shutil.rmtree(template, ignore_errors=True)
            tmp.rename(template)
    prune_templates(keep=template)
    return template


def copy_template(template: Path, rootfs: Path) -> None:
    """A container's own rootfs, copied from the template (under its shared lock)."""
    with flock(lock_of(template), fcntl.LOCK_SH):
        run(["cp", "-a", str(template), str(rootfs)])
    (rootfs / ".complete").unlink(missing_ok=True)


def lock_of(template: Path) -> Path:
    return template.with_name(f"{template.name}.lock")


@contextmanager
def flock(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, mode)
        yield


def prune_templates(keep: Path) -> None:
    """Remove other images' templates that no one is copying right now."""
    for stale in keep.parent.iterdir():
        if stale == keep or not stale.is_dir() or stale.name.startswith("."):
            continue
        with open(lock_of(stale), "a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use: the next run will try again
            shutil.rmtree(stale, ignore_errors=True)
            lock_of(stale).unlink(missing_ok=True)


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RunError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")
