"""Reading a host as an auditor does: a unit's running process, files, modes and owners.

Every read is a shell command over the check's testinfra host (as root when the
inventory uses sudo). Anything that cannot be read becomes an `AuditError` whose
message names the unit or the file; `expect_*` and `fail` turn that into the check's
one-line failure, so a check never ends in a traceback of this code.
"""

from __future__ import annotations

import re
import shlex
import warnings
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest

from k8sboot import cluster_layout as layout
from k8sboot.binaries import components as comps
from k8sboot.health.cis.flags import Flags, parse_cmdline, parse_environ
from k8sboot.health.cis.rules import (
    ConfigError,
    KubeletView,
    kubelet_config,
    mode_problem,
    owner_problem,
)
from k8sboot.health.results import HealthWarning

# a component's systemd unit is named as its binary
APISERVER = comps.KUBE_APISERVER
CONTROLLER_MANAGER = comps.KUBE_CONTROLLER_MANAGER
SCHEDULER = comps.KUBE_SCHEDULER
ETCD = comps.ETCD
KUBELET = comps.KUBELET
KUBE_PROXY = comps.KUBE_PROXY

SYSTEMD_UNIT_DIR = "/etc/systemd/system"  # where k8sboot's roles write the units
# where k8sboot's node role puts the kubelet's config (role var kubelet_dir); the running
# kubelet's --config is read first, this is for a kubelet that is not running
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
CLUSTER_CA = f"{layout.K8S_PKI_DIR}/ca.crt"
ETCD_ENV_PREFIX = "ETCD_"  # etcd takes any flag from ETCD_<NAME> in its environment


def unit_file(unit: str) -> str:
    return f"{SYSTEMD_UNIT_DIR}/{unit}.service"


def kubeconfig(name: str) -> str:
    return f"{layout.K8S_CONFIG_DIR}/{name}.kubeconfig"


class AuditError(Exception):
    """Something the check needs could not be read; the message says what and why."""


def fail(message: str) -> NoReturn:
    pytest.fail(message, pytrace=False)


def expect(problem: str | None) -> None:
    """A judgement's answer: None passes, a message fails the check with it."""
    if problem:
        fail(problem)


def warn(message: str) -> None:
    """The check passes with a WARN: a documented exception, named with its reason."""
    warnings.warn(HealthWarning(message), stacklevel=2)


def _why(result: Any) -> str:
    text = (result.stderr or result.stdout or "").strip()
    return text.splitlines()[-1] if text else f"exit code {result.rc}"


# -- processes ------------------------------------------------------------------------------

def unit_state(host: Any, unit: str) -> dict[str, str]:
    r = host.run("systemctl show -p LoadState -p ActiveState -p SubState -p MainPID %s", unit)
    if r.rc != 0:
        raise AuditError(f"systemctl show {unit} failed on the host: {_why(r)}")
    state = {}
    for line in r.stdout.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            state[key.strip()] = value.strip()
    return state


def read_process(host: Any, unit: str) -> Flags:
    """The flags of the unit's main process, from /proc/<MainPID>/cmdline (etcd: and environ)."""
    state = unit_state(host, unit)
    try:
        pid = int(state.get("MainPID") or 0)
    except ValueError:
        pid = 0
    if pid <= 0:
        if state.get("LoadState") == "not-found":
            raise AuditError(f"{unit} is not installed (systemd has no {unit}.service)")
        active = "/".join(v for v in (state.get("ActiveState"), state.get("SubState")) if v)
        raise AuditError(f"{unit} is not running ({active or 'no state'}): "
                         "its flags cannot be read")
    r = host.run(f"cat /proc/{pid}/cmdline")
    argv = parse_cmdline(r.stdout_bytes) if r.rc == 0 else []
    if not argv:
        raise AuditError(f"{unit} (pid {pid}): its command line cannot be read "
                         f"({_why(r) if r.rc else 'empty: did it just exit?'})")
    environ = None
    prefix = ETCD_ENV_PREFIX if unit == ETCD else ""
    if prefix:
        e = host.run(f"cat /proc/{pid}/environ")
        if e.rc != 0:
            raise AuditError(f"{unit} (pid {pid}): its environment cannot be read ({_why(e)})")
        environ = parse_environ(e.stdout_bytes)
    return Flags.parse(unit, argv, environ=environ, env_prefix=prefix, pid=pid)


_KUBE_VERSION = re.compile(r"Kubernetes v(\d+)\.(\d+)\.\d+\S*")


def kube_version(host: Any, flags: Flags) -> tuple[tuple[int, int], str]:
    """The running binary's version ((1, 20), 'v1.20.15'), asked of /proc/<pid>/exe itself."""
    r = host.run(f"/proc/{flags.pid}/exe --version")
    m = _KUBE_VERSION.search(r.stdout + r.stderr)
    if m is None:
        raise AuditError(f"{flags.process} (pid {flags.pid}) tells no version: "
                         f"`--version` answered {_why(r)!r}")
    return (int(m.group(1)), int(m.group(2))), m.group(0).split()[-1]


def container_type(host: Any) -> str:
    """'none' on a VM or a machine, the container's kind (lxc, docker...) in one; '' unknown."""
    r = host.run("systemd-detect-virt --container")
    answer = r.stdout.strip()
    return answer if r.rc in (0, 1) and answer else ""


# -- files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileStat:
    path: str
    mode: int
    user: str
    group: str


def stat_file(host: Any, path: str) -> FileStat | None:
    """Mode and owner (following symlinks, as testinfra's host.file does); None: no such file."""
    r = host.run("stat -Lc '%%a %%U %%G' %s", path)
    if r.rc != 0:
        if host.run("test -e %s", path).rc != 0:
            return None
        raise AuditError(f"cannot stat {path}: {_why(r)}")
    return _parse_stat(r.stdout.strip(), path)


def _parse_stat(line: str, path: str) -> FileStat:
    parts = line.split(" ", 3)
    try:
        return FileStat(parts[3] if len(parts) > 3 else path, int(parts[0], 8), parts[1], parts[2])
    except (ValueError, IndexError):
        raise AuditError(f"cannot read the mode of {path}: stat said {line!r}") from None


def stat_tree(host: Any, dirs: list[str], find_args: str = "") -> list[FileStat]:
    """Every file `find DIRS FIND_ARGS` names (the directories too, without FIND_ARGS)."""
    r = host.run(f"find {' '.join(shlex.quote(d) for d in dirs)} {find_args} "
                 "-exec stat -c '%a %U %G %n' {} +")
    if r.rc != 0:
        raise AuditError(f"cannot list {', '.join(dirs)}: {_why(r)}")
    return [_parse_stat(line, line) for line in r.stdout.splitlines() if line.strip()]


def read_file(host: Any, path: str) -> bytes:
    r = host.run("cat -- %s", path)
    if r.rc != 0:
        if host.run("test -e %s", path).rc != 0:
            raise AuditError(f"{path} does not exist")
        raise AuditError(f"cannot read {path}: {_why(r)}")
    return bytes(r.stdout_bytes)


def is_dir(host: Any, path: str) -> bool:
    return bool(host.run("test -d %s", path).rc == 0)


@dataclass(frozen=True)
class FileWant:
    """What a file check wants: a mode limit ('644 or stricter'), or an owner."""

    mode: int | None = None
    owner: tuple[str, str] | None = None

    def __str__(self) -> str:  # the check's label shows it
        if self.mode is not None:
            return f"mode {self.mode:o} or stricter"
        assert self.owner is not None
        return f"owned by {self.owner[0]}:{self.owner[1]}"


ROOT_OWNED = FileWant(owner=("root", "root"))


def mode_at_most(limit: int) -> FileWant:
    return FileWant(mode=limit)


def file_problem(host: Any, path: str, want: FileWant) -> str | None:
    st = stat_file(host, path)
    if st is None:
        return f"{path} does not exist"
    if want.mode is not None:
        return mode_problem(path, st.mode, want.mode)
    assert want.owner is not None
    return owner_problem(path, st.user, st.group, want.owner)


def expect_file(host: Any, path: str, want: FileWant) -> None:
    try:
        expect(file_problem(host, path, want))
    except AuditError as e:
        fail(str(e))


# -- the kubelet -------------------------------------------------------------------------------

def read_kubelet(host: Any, flags: Flags) -> KubeletView:
    """The running kubelet's settings: the file its --config names, under its command line."""
    path = flags.value("config")
    if not path:
        return KubeletView(flags, {}, None)
    try:
        return KubeletView(flags, kubelet_config(read_file(host, path).decode(errors="replace"),
                                                 path), path)
    except ConfigError as e:
        raise AuditError(str(e)) from None


def exception(problem: str | None, reason: str) -> None:
    """An item k8sboot leaves unmet on purpose (as kubeadm does): WARN with the reason, when unmet."""
    if problem:
        warn(f"{problem}: documented exception, {reason}")
