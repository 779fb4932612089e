"""The record of the binaries a cluster was built from, and the Kubernetes version.

``binaries.json`` in the state directory: component -> {path, sha256, version,
source}. Later phases read it to copy the files and to render flags for the
version actually deployed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from k8sboot.binaries import components as comps
from k8sboot.binaries.resolve import ResolvedBinary
from k8sboot.errors import InputError
from k8sboot.state import ClusterState

_FIELDS = ("path", "sha256", "version", "source")
_KUBE_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def write_manifest(state: ClusterState, resolved: Mapping[str, ResolvedBinary]) -> Path:
    data = {c: {"path": str(b.path), "sha256": b.sha256, "version": b.version, "source": b.source}
            for c, b in resolved.items()}
    state.write_json(state.binaries_manifest, data)
    return state.binaries_manifest


def read_manifest(state: ClusterState) -> dict[str, ResolvedBinary]:
    """The recorded binaries; empty when none were recorded yet."""
    path = state.binaries_manifest
    try:
        data = state.read_json(path, {})
    except ValueError as e:
        raise InputError(f"damaged binaries manifest: {e}", file=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("damaged binaries manifest: not a JSON object", file=str(path))
    out: dict[str, ResolvedBinary] = {}
    for comp, entry in data.items():
        if not isinstance(entry, dict) or any(not isinstance(entry.get(f), str) for f in _FIELDS):
            raise InputError(f"damaged binaries manifest: entry {comp!r} lacks one of "
                             f"{', '.join(_FIELDS)}", file=str(path))
        out[comp] = ResolvedBinary(comp, Path(entry["path"]), entry["sha256"], entry["version"],
                                   entry["source"])
    return out


def parse_kube_version(version: str) -> tuple[int, int, int]:
    m = _KUBE_VERSION.match(version)
    if not m:
        raise InputError(f"not a Kubernetes version: {version!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def kubernetes_version(resolved: Mapping[str, ResolvedBinary]) -> str:
    """The version the server components share (the apiserver's, e.g. "v1.20.2").

    Templates render version-specific flags from it, so components of different
    minor versions (whose flags differ) are refused rather than guessed at.
    kubectl is left out: clients are supported one minor version apart.
    """
    kube = {c: resolved[c] for c in comps.KUBE_SERVER if c in resolved}
    if not kube:
        raise InputError("no Kubernetes component among the binaries: cannot tell the version")
    minors = {c: parse_kube_version(b.version)[:2] for c, b in kube.items()}
    if len(set(minors.values())) > 1:
        listing = ", ".join(f"{c} {kube[c].version} ({kube[c].path})" for c in kube)
        raise InputError("the Kubernetes components disagree in minor version "
                         f"(their flags differ, so one version must be chosen): {listing}")
    main = kube.get(comps.KUBE_APISERVER) or next(iter(kube.values()))
    return main.version


def remember_builds(state: ClusterState, resolved: Mapping[str, ResolvedBinary]) -> None:
    """Add these binaries to the cluster's sha256 -> version record (a roll names old versions by it)."""
    seen = known_versions(state)
    new = {b.sha256: b.version for b in resolved.values()}
    if any(seen.get(sha) != v for sha, v in new.items()):
        state.write_json(state.builds_seen, {**seen, **new})


def known_versions(state: ClusterState) -> dict[str, str]:
    """sha256 -> version of every binary this cluster was given; a damaged record is forgotten
    (it only names old versions in messages)."""
    try:
        data = state.read_json(state.builds_seen, {})
    except (ValueError, InputError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def read_dev_binaries(state: ClusterState) -> dict[str, Path]:
    """component -> file of the builds `k8sboot dev` recorded (empty when none)."""
    path = state.dev_binaries
    try:
        data = state.read_json(path, {})
    except ValueError as e:
        raise InputError(f"damaged record of dev builds: {e} (delete it, or run `k8sboot dev --reset`)",
                         file=str(path)) from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise InputError("damaged record of dev builds: not a JSON object of component -> path "
                         "(delete it, or run `k8sboot dev --reset`)", file=str(path))
    return {k: Path(v) for k, v in data.items()}


def write_dev_binaries(state: ClusterState, builds: Mapping[str, Path]) -> None:
    if builds:
        state.write_json(state.dev_binaries, {k: str(v) for k, v in sorted(builds.items())})
    else:
        state.dev_binaries.unlink(missing_ok=True)
