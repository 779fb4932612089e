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

from k8sboot.errors import InputError
from k8sboot.inventory.validate import short
from k8sboot.inventory.values import check_vars
from k8sboot.inventory.yaml_lines import YamlSyntaxError, load_yaml_file, load_yaml_text, plain


def parse_extra_vars(values: Iterable[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for value in values:
        one = _one(value)
        check_vars(one, f"-e {short(value)}", "")
        merged.update(one)
    return merged


def _one(value: str) -> dict[str, Any]:
    text = value.strip()
    if text.startswith("@"):
        try:
            path = Path(text[1:]).expanduser()
        except RuntimeError as exc:  # ~nosuchuser/vars.yml
            raise InputError(f"-e {short(value)}: {exc}") from None
        return _from_file(path)
    if text.startswith("{"):
        data = load_yaml_text(text, f"-e {short(value)}")
        if not isinstance(data, dict):
            raise InputError(f"-e {short(value)}: expected a mapping")
        return plain(data)
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"-e {short(value)}: {exc}") from None
    out: dict[str, Any] = {}
    for token in tokens:
        key, sep, raw = token.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-e {short(value)}: expected KEY=VALUE or @FILE.yml, got "
                             f"{short(token)}")
        out[key.strip()] = _scalar(raw, f"-e {short(token)}")
    return out


def _scalar(raw: str, where: str) -> Any:
    """YAML-typed (3 -> int, true -> bool); an empty or unparsable value stays a string.

    Read with the inventory's loader, so an alias bomb or a 1000-deep list is refused
    here too rather than blowing up later."""
    if raw == "":
        return ""
    try:
        return plain(load_yaml_text(raw, where))
    except YamlSyntaxError:
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
    check_vars(data, "vars", str(path))  # here, where the file and lines are known
    return plain(data)
