"""Jinja2 rendering with Ansible's conventions.

- Templates are looked up in the user's override directories first, then in
  the role's own templates/, then in the top-level templates/ (where Ansible
  also looks, beside the playbook).
- Undefined variables are errors (as in Ansible), never empty strings.
- A value that is exactly one expression ("{{ hosts }}") keeps its native type,
  so `loop: "{{ items }}"` gets a list, as Ansible does.
- The filters and tests roles commonly use (bool, b64encode, to_json,
  to_nice_yaml, version, ...) behave as Ansible's do.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
from pathlib import Path
from typing import Any, Iterable

import jinja2
import yaml

from k8sboot.errors import InputError

_SINGLE_EXPR = re.compile(r"^\s*\{\{\s*(.+?)\s*\}\}\s*$", re.S)


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return str(value).strip().lower() in ("yes", "on", "1", "true", "y")


def _version_tuple(v: Any) -> tuple[int, ...]:
    nums = re.findall(r"\d+", str(v).lstrip("v").split("-")[0].split("+")[0])
    return tuple(int(n) for n in nums) or (0,)


_OPS = {
    "<": lambda a, b: a < b, "lt": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, "le": lambda a, b: a <= b,
    ">": lambda a, b: a > b, "gt": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "ge": lambda a, b: a >= b,
    "==": lambda a, b: a == b, "eq": lambda a, b: a == b,
    "!=": lambda a, b: a != b, "ne": lambda a, b: a != b,
}


def version_test(value: Any, other: Any, op: str = "eq") -> bool:
    """Ansible's `version` test: `kube_version is version('1.24', '>=')`."""
    a, b = _version_tuple(value), _version_tuple(other)
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    if op not in _OPS:
        raise jinja2.TemplateError(f"version test: unknown operator {op!r}")
    return _OPS[op](a, b)


def _to_nice_yaml(value: Any, indent: int = 2) -> str:
    return yaml.safe_dump(value, default_flow_style=False, indent=indent, sort_keys=False)


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        raise jinja2.UndefinedError(msg or "mandatory variable not defined")
    return value


FILTERS: dict[str, Any] = {
    "bool": to_bool,
    "b64encode": lambda s: base64.b64encode(s.encode() if isinstance(s, str) else s).decode(),
    "b64decode": lambda s: base64.b64decode(s).decode(),
    "to_json": lambda v, **kw: json.dumps(v, **kw),
    "to_nice_json": lambda v, indent=4: json.dumps(v, indent=indent, sort_keys=True),
    "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=None),
    "to_nice_yaml": _to_nice_yaml,
    "from_json": json.loads,
    "from_yaml": yaml.safe_load,
    "regex_replace": lambda s, pat, rep="": re.sub(pat, rep, str(s)),
    "basename": lambda p: os.path.basename(str(p)),
    "dirname": lambda p: os.path.dirname(str(p)),
    "quote": lambda s: shlex.quote(str(s)),
    "mandatory": _mandatory,
    "ternary": lambda v, a, b: a if to_bool(v) else b,
    "dict2items": lambda d: [{"key": k, "value": v} for k, v in d.items()],
    "items2dict": lambda items: {i["key"]: i["value"] for i in items},
    "version_compare": version_test,
}

TESTS: dict[str, Any] = {
    "version": version_test,
    "version_compare": version_test,
    "truthy": to_bool,
    "falsy": lambda v: not to_bool(v),
}


class Templar:
    def __init__(self, search_dirs: Iterable[Path]):
        self.search_dirs = [Path(d) for d in search_dirs]
        self.env = self._make_env(self.search_dirs)
        self._role_envs: dict[Path, jinja2.Environment] = {}

    @staticmethod
    def _make_env(dirs: list[Path]) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,  # as Ansible's template module does
        )
        env.filters.update(FILTERS)
        env.tests.update(TESTS)
        return env

    def env_for_role(self, role_dir: Path | None) -> jinja2.Environment:
        """User overrides first, then the role's own templates/, then the top level."""
        if role_dir is None or not (role_dir / "templates").is_dir():
            return self.env
        key = role_dir
        if key not in self._role_envs:
            user, top = self.search_dirs[:-1], self.search_dirs[-1:]
            self._role_envs[key] = self._make_env(user + [role_dir / "templates"] + top)
        return self._role_envs[key]

    # -- strings and values ---------------------------------------------------
    def render_string(self, text: str, variables: dict[str, Any]) -> str:
        if "{{" not in text and "{%" not in text:
            return text
        return self.env.from_string(text).render(variables)

    def evaluate(self, expr: str, variables: dict[str, Any]) -> Any:
        """Evaluate a bare expression (as in `when:`), keeping its type."""
        return self.env.compile_expression(expr, undefined_to_none=False)(**variables)

    def render_value(self, value: Any, variables: dict[str, Any]) -> Any:
        """Render every string inside a value; a lone expression keeps its native type."""
        if isinstance(value, str):
            m = _SINGLE_EXPR.match(value)
            if m and "{{" not in m.group(1) and "{%" not in value:
                result = self.evaluate(m.group(1), variables)
                if isinstance(result, jinja2.Undefined):
                    result._fail_with_undefined_error()
                return result
            return self.render_string(value, variables)
        if isinstance(value, list):
            return [self.render_value(v, variables) for v in value]
        if isinstance(value, dict):
            return {k: self.render_value(v, variables) for k, v in value.items()}
        return value

    def condition(self, when: Any, variables: dict[str, Any]) -> bool:
        """Ansible's `when`: a bare expression, or a list of them (all must hold)."""
        conds = when if isinstance(when, list) else [when]
        for cond in conds:
            if isinstance(cond, bool):
                ok = cond
            else:
                text = str(cond).strip()
                m = _SINGLE_EXPR.match(text)
                ok = to_bool(self.evaluate(m.group(1) if m else text, variables))
            if not ok:
                return False
        return True

    # -- files ----------------------------------------------------------------
    def render_file(self, name: str, variables: dict[str, Any], role_dir: Path | None = None) -> str:
        env = self.env_for_role(role_dir)
        try:
            template = env.get_template(name)
        except jinja2.TemplateNotFound as e:
            dirs = ", ".join(str(d) for d in self.search_dirs)
            raise InputError(f"template {name!r} not found in {dirs}") from e
        return template.render(variables)

    def template_path(self, name: str, role_dir: Path | None = None) -> str | None:
        env = self.env_for_role(role_dir)
        try:
            return env.get_template(name).filename
        except jinja2.TemplateNotFound:
            return None
