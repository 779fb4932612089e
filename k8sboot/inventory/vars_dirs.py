"""`group_vars/` and `host_vars/` beside the inventory file, read as Ansible reads them.

For a group or host NAME, each of these is loaded if present, in this order:
`NAME` (a file, or a directory whose YAML files are merged in sorted order,
recursively), `NAME.yml`, `NAME.yaml`, `NAME.json`. Later files override earlier
ones key by key. `group_vars/all*` holds the all-level vars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from k8sboot.errors import InputError
from k8sboot.inventory.values import check_vars
from k8sboot.inventory.yaml_lines import load_yaml_file

_EXTENSIONS = (".yml", ".yaml", ".json")


def group_vars(base: Path, group: str) -> dict[str, Any]:
    return _vars_for(base / "group_vars", group)


def host_vars(base: Path, host: str) -> dict[str, Any]:
    return _vars_for(base / "host_vars", host)


def _vars_for(directory: Path, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if not directory.is_dir():
        return merged
    for candidate in [directory / name] + [directory / f"{name}{ext}" for ext in _EXTENSIONS]:
        if candidate.is_dir():
            for path in _walk(candidate):
                merged.update(_load(path))
        elif candidate.is_file():
            merged.update(_load(candidate))
    return merged


def _walk(directory: Path, seen: frozenset[Path] = frozenset()) -> list[Path]:
    """YAML files under a vars directory, in sorted order, skipping hidden entries."""
    real = directory.resolve()
    if real in seen:  # a symlink back to an enclosing directory would recurse forever
        raise InputError("this vars directory contains itself through a symlink: remove the "
                         "link", file=str(directory))
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        raise InputError(f"cannot read the vars directory: {exc.strerror}",
                         file=str(directory)) from None
    found: list[Path] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found.extend(_walk(entry, seen | {real}))
        elif entry.suffix in _EXTENSIONS or not entry.suffix:
            found.append(entry)
    return found


def _load(path: Path) -> dict[str, Any]:
    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("a vars file must hold a mapping (key: value) at the top level",
                         file=str(path), line=getattr(data, "line", 1))
    check_vars(data, "vars", str(path))
    return data
