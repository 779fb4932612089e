"""`-e` values, as ansible-playbook takes them; they beat every other var.

Each value is one of:
  `KEY=VALUE [KEY=VALUE ...]`   values YAML-parsed, so `-e replicas=3` is the int 3
  `@FILE.yml`                   a YAML file holding a mapping
  `{...}`                       an inline YAML/JSON mapping
Later values override earlier ones.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from k8sboot.errors import InputError
from k8sboot.inventory.yaml_lines import load_yaml_file, load_yaml_text, plain


def parse_extra_vars(values: Iterable[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for value in values:
        merged.update(_one(value))
    return merged


def _one(value: str) -> dict[str, Any]:
    text = value.strip()
    if text.startswith("@"):
        return _from_file(Path(text[1:]).expanduser())
    if text.startswith("{"):
        data = load_yaml_text(text, f"-e {value}")
        if not isinstance(data, dict):
            raise InputError(f"-e {value!r}: expected a mapping")
        return plain(data)
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"-e {value!r}: {exc}") from None
    out: dict[str, Any] = {}
    for token in tokens:
        key, sep, raw = token.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-e {value!r}: expected KEY=VALUE or @FILE.yml, got {token!r}")
        out[key.strip()] = _scalar(raw)
    return out


def _scalar(raw: str) -> Any:
    """YAML-typed (3 -> int, true -> bool); an empty or unparsable value stays a string."""
    if raw == "":
        return ""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _from_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("extra vars file not found (given as -e @FILE)", file=str(path))
    data = load_yaml_file(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("an extra vars file must hold a mapping (key: value) at the top level",
                         file=str(path), line=getattr(data, "line", 1))
    return plain(data)
