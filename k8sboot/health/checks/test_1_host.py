"""Every host: the binaries k8sboot installed, swap, key file modes, certificate lifetimes."""

from __future__ import annotations

import shlex
import warnings

from testinfra.host import Host as InfraHost

from k8sboot import cluster_layout as layout
from k8sboot.binaries import components as comps
from k8sboot.binaries.probe import (
    _VERSION_COMMANDS,  # the same questions `binaries list` asks locally
)
from k8sboot.binaries.resolve import ResolvedBinary
from k8sboot.health.certs import expired, expiring, kubeconfig_certs, load_pem_certs
from k8sboot.health.results import HealthWarning
from k8sboot.inventory.model import Host

CERT_DIRS = (layout.K8S_PKI_DIR, f"{layout.K8S_PKI_DIR}/etcd", layout.ETCD_PKI_DIR)
SECRET_DIRS = (layout.K8S_CONFIG_DIR, "/etc/etcd")


def _expected(
    host: InfraHost, inventory_host: Host, manifest: dict[str, ResolvedBinary]
) -> list[str]:
    """The recorded components this host's groups run; the optional ones only if present."""
    wanted = [c for c in comps.components_for_groups(inventory_host.groups) if c in manifest]
    return [c for c in wanted if c in comps.REQUIRED or host.file(comps.remote_path(c)).exists]


def test_binaries_sha256(host, inventory_host, manifest, installed_sha256):
    """binaries match the recorded sha256"""
    found = installed_sha256[inventory_host.name]
    if isinstance(found, Exception):
        raise found
    wrong = []
    for c in _expected(host, inventory_host, manifest):
        path = comps.remote_path(c)
        if path not in found:
            wrong.append(f"{path} is missing")
        elif found[path] != manifest[c].sha256:
            wrong.append(
                f"{path} has sha256 {found[path][:12]}…, recorded {manifest[c].sha256[:12]}…"
            )
    assert not wrong, "; ".join(wrong)


def test_binaries_version(host, inventory_host, manifest):
    """binaries report the recorded version"""
    wrong = []
    for c in _expected(host, inventory_host, manifest):
        args, pattern = _VERSION_COMMANDS[comps.version_kind(c)]
        r = host.run(" ".join(shlex.quote(a) for a in [comps.remote_path(c), *args]))
        m = pattern.search(r.stdout + r.stderr)
        if m is None:
            wrong.append(f"{c}: no version in the output of `{c} {' '.join(args)}` (exit {r.rc})")
        elif m.group(1) != manifest[c].version:
            wrong.append(f"{c} is {m.group(1)}, recorded {manifest[c].version}")
    assert not wrong, "; ".join(wrong)


def test_swap_off(host):
    """swap is off"""
    lines = host.file("/proc/swaps").content_string.strip().splitlines()[1:]
    assert not lines, "swap is on: " + ", ".join(line.split()[0] for line in lines)


def test_private_keys_0600(host):
    """private keys and kubeconfigs are 0600"""
    dirs = " ".join(d for d in SECRET_DIRS if host.file(d).is_directory)
    if not dirs:
        return
    out = host.check_output(
        f"find {dirs} -type f \\( -name '*.key' -o -name '*.kubeconfig' \\)"
        " -exec stat -c '%a %n' {} +"
    )
    loose = [
        line.split(" ", 1) for line in out.splitlines() if line and not line.startswith("600 ")
    ]
    assert not loose, "readable by others: " + ", ".join(f"{path} ({mode})" for mode, path in loose)


def _read_files(host: InfraHost, find_args: str) -> dict[str, str]:
    """Every file `find` names, read in one round trip: path -> text."""
    marker = "=== k8sboot-file "
    out = host.check_output(
        f"find {find_args} -exec sh -c "
        f"'for f; do echo; echo \"{marker}$f\"; cat \"$f\"; done' _ {{}} +"
    )
    files: dict[str, str] = {}
    current = None
    for line in out.splitlines(keepends=True):
        if line.startswith(marker):
            current = line[len(marker) :].strip()
            files[current] = ""
        elif current is not None:
            files[current] += line
    return files


def test_certificates_valid(host):
    """certificates valid for 30 days or more"""
    certs = []
    dirs = [d for d in CERT_DIRS if host.file(d).is_directory]
    if dirs:
        for path, text in _read_files(host, f"{' '.join(dirs)} -maxdepth 1 -name '*.crt'").items():
            certs += load_pem_certs(path, text.encode())
    if host.file("/etc/kubernetes").is_directory:
        for path, text in _read_files(
            host, "/etc/kubernetes -maxdepth 1 -name '*.kubeconfig'"
        ).items():
            certs += kubeconfig_certs(path, text)
    gone = expired(certs)
    assert not gone, "expired: " + ", ".join(f"{c.source} on {c.not_after:%Y-%m-%d}" for c in gone)
    for c in expiring(certs):
        warnings.warn(HealthWarning(f"{c.source} expires on {c.not_after:%Y-%m-%d %H:%M} UTC"))
