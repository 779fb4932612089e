"""Turn the inventory's `cluster.binaries` settings into checked local files.

    binaries:
      dir: ~/k8s/_output/bin                 # default directory for every component
      etcd: {path: /usr/bin/etcd}            # one component from a local file
      kubelet: {url: https://..., sha256: <hex>}   # http/https/file URL; sha256 required
      kube-proxy: {dir: /other/dir}

Everything is checked here, before any host is touched: a missing or non-executable
file, a non-ELF file, a checksum that does not match, a version that cannot be read.
Every problem of every component is gathered into one InputError, so the user fixes
them all in one go instead of one per run.
"""

from __future__ import annotations

import os
import platform
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8sboot.binaries import components as comps
from k8sboot.binaries.download import DownloadError, fetch
from k8sboot.binaries.probe import ProbeCache, ProbeError, machine_arch
from k8sboot.errors import InputError
from k8sboot.paths import user_cache_dir

SETTING = "cluster.binaries"
_SPEC_KEYS = ("path", "url", "dir", "sha256")
_SHA256 = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")
_URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class ResolvedBinary:
    component: str
    path: Path  # the local file to copy to the hosts
    sha256: str
    version: str  # as the binary prints it: "v1.20.2" (Kubernetes), "3.4.23" (etcd)
    source: str  # where it came from: "dir:/x", "path:/x/etcd", "url:https://..."

    @property
    def remote_path(self) -> str:
        return comps.remote_path(self.component)


@dataclass(frozen=True)
class _Source:
    """Where one component is to be taken from, before anything is checked."""

    component: str
    kind: str  # "path", "dir" or "url"
    setting: str  # the setting that chose it, e.g. "cluster.binaries.kubelet.url"
    written: str  # the value as the user wrote it
    local: Path | None  # the file, for path and dir
    url: str | None
    sha256: str | None  # expected content, required for url, optional pin otherwise
    must_exist: bool  # False for an optional component merely looked for in the default dir

    @property
    def description(self) -> str:
        if self.kind == "url":
            return f"url:{self.url}"
        where = self.local.parent if self.kind == "dir" and self.local else self.local
        return f"{self.kind}:{where}"

    def problem(self, what: str) -> str:
        shown = f"{self.setting} = {self.written}"
        if self.local is not None and str(self.local) != self.written:
            shown += f" ({self.local})"
        return f"{self.component}: {shown}: {what}"


def default_cache_dir() -> Path:
    return user_cache_dir()


def resolve_binaries(settings: dict[str, Any] | None, state_dir_cache: Path,
                     base_dir: Path | None, *, components: list[str] | None = None,
                     require_elf: bool = True, arch: str | None = None
                     ) -> dict[str, ResolvedBinary]:
    """Resolve, fetch and check every component; raise one InputError listing all problems.

    state_dir_cache is the cache root (default_cache_dir()): downloads go to its
    downloads/<sha256>, the hash/version memo to binaries-probe.json.
    base_dir is the inventory's directory: relative paths are taken from there.
    components limits the work to these (default: all); optional ones (etcdctl,
    kubectl) are skipped when merely absent from the default dir.
    require_elf=False lets scripts through (tests use fake binaries).
    arch is the hosts' architecture ("amd64", "arm64", ...); every binary's ELF header
    must name it. By default it is this machine's: preflight requires the hosts to match it.
    """
    if arch is None:
        arch = machine_arch(platform.machine())
    problems: list[str] = []
    sources = _plan(settings, base_dir, components or list(comps.ALL), problems)
    cache = ProbeCache(state_dir_cache / "binaries-probe.json")
    downloads = state_dir_cache / "downloads"

    def one(src: _Source) -> ResolvedBinary | str | None:
        return _resolve_one(src, cache, downloads, require_elf, arch)

    # threads: hashing and downloads release the GIL, and the binaries run as processes
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(sources)))) as pool:
        outcomes = list(pool.map(one, sources))
    cache.save()

    resolved: dict[str, ResolvedBinary] = {}
    for outcome in outcomes:
        if isinstance(outcome, str):
            problems.append(outcome)
        elif outcome is not None:
            resolved[outcome.component] = outcome
    if problems:
        order = {c: i for i, c in enumerate(comps.ALL)}
        problems.sort(key=lambda p: order.get(p.split(":", 1)[0], -1))
        raise InputError(f"{SETTING}: {len(problems)} problem(s), no host was touched:\n  - "
                         + "\n  - ".join(problems))
    return {c: resolved[c] for c in comps.ALL if c in resolved}


def _resolve_one(src: _Source, cache: ProbeCache, downloads: Path,
                 require_elf: bool, arch: str | None) -> ResolvedBinary | str | None:
    """The resolved binary, a problem (str), or None for an absent optional one."""
    try:
        if src.kind == "url":
            assert src.url is not None and src.sha256 is not None
            path = fetch(src.url, src.sha256, downloads, lambda p: cache.sha256(p, p.stat()))
        else:
            assert src.local is not None
            path = src.local
            if not src.must_exist and not path.exists():
                return None
        probed = cache.probe(path, comps.version_kind(src.component), require_elf, arch)
    except (ProbeError, DownloadError) as e:
        return src.problem(str(e))
    if src.sha256 and probed.sha256 != src.sha256:
        return src.problem(f"sha256 mismatch: expected {src.sha256}, got {probed.sha256}")
    return ResolvedBinary(src.component, path, probed.sha256, probed.version, src.description)


def _plan(settings: Any, base_dir: Path | None, wanted: list[str],
          problems: list[str]) -> list[_Source]:
    """Check the settings' shape and decide each component's source (nothing read yet)."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        problems.append(f"must be a mapping (dir: and per-component entries), "
                        f"not {type(settings).__name__}")
        return []
    for key in settings:
        if key != "dir" and key not in comps.ALL:
            problems.append(f"{key}: unknown key {SETTING}.{key}: use dir or one of "
                            f"{', '.join(comps.ALL)}")
    unknown = [c for c in wanted if c not in comps.ALL]
    problems.extend(f"{c}: not a component k8sboot knows" for c in unknown)

    default_dir: Path | None = None
    if "dir" in settings:
        default_dir = _local(settings["dir"], f"{SETTING}.dir", base_dir, problems)

    sources: list[_Source] = []
    for comp in (c for c in comps.ALL if c in wanted):
        spec = settings.get(comp)
        if spec is None:
            if default_dir is not None:
                sources.append(_Source(comp, "dir", f"{SETTING}.dir", str(settings["dir"]),
                                       default_dir / comp, None, None,
                                       must_exist=comp in comps.REQUIRED))
            elif comp in comps.REQUIRED and "dir" not in settings:
                problems.append(f"{comp}: no binary given: set {SETTING}.dir, or "
                                f"{SETTING}.{comp}.path or .url")
            continue
        src = _component_source(comp, spec, base_dir, problems)
        if src is not None:
            sources.append(src)
    return sources


def _component_source(comp: str, spec: Any, base_dir: Path | None,
                      problems: list[str]) -> _Source | None:
    where = f"{SETTING}.{comp}"
    if not isinstance(spec, dict):
        problems.append(f"{comp}: {where} must be a mapping with one of path, url or dir, "
                        f"e.g. {{path: /usr/bin/{comp}}}")
        return None
    before = len(problems)
    for key in spec:
        if key not in _SPEC_KEYS:
            problems.append(f"{comp}: unknown key {where}.{key}: use path, url or dir (and sha256)")
    chosen = [k for k in ("path", "url", "dir") if k in spec]
    if len(chosen) != 1:
        problems.append(f"{comp}: {where} needs exactly one of path, url or dir"
                        + (f" (has {', '.join(chosen)})" if chosen else ""))
        return None
    kind = chosen[0]
    sha = None
    if "sha256" in spec:
        m = _SHA256.match(str(spec["sha256"]).strip())
        if not m:
            # YAML reads an unquoted all-digit hash as a number (and drops leading zeros)
            hint = "" if isinstance(spec["sha256"], str) else " (quote it in YAML)"
            problems.append(f"{comp}: {where}.sha256 is not 64 hex digits: "
                            f"{spec['sha256']!r}{hint}")
        else:
            sha = m.group(1).lower()
    elif kind == "url":
        problems.append(f"{comp}: {where}.url needs {where}.sha256 (the expected content)")
    value = spec[kind]
    setting = f"{where}.{kind}"
    local: Path | None = None
    url: str | None = None
    if kind == "url":
        url = str(value)
        if not url.startswith(_URL_SCHEMES):
            problems.append(f"{comp}: {setting} = {url}: only http://, https:// and file:// URLs")
    else:
        local = _local(value, setting, base_dir, problems, comp)
        if local is not None and kind == "dir":
            local = local / comp
    if len(problems) > before:
        return None
    return _Source(comp, kind, setting, str(value), local, url, sha, must_exist=True)


def _local(value: Any, setting: str, base_dir: Path | None, problems: list[str],
           comp: str | None = None) -> Path | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{comp + ': ' if comp else ''}{setting} must be a non-empty path string")
        return None
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = (base_dir or Path.cwd()) / p
    return Path(os.path.normpath(p))
