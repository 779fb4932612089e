"""Jinja2 rendering with Ansible's conventions.

- Templates are looked up in the user's override directories first, then in
  the role's own templates/, then in the top-level templates/ (where Ansible
  also looks, beside the playbook).
- Undefined variables are errors (as in Ansible), never empty strings.
- A value that is exactly one expression ("{{ hosts }}") keeps its native type,
  so `loop: "{{ items }}"` gets a list, as Ansible does.
- The filters and tests roles commonly use (bool, b64encode, to_json,
  to_nice_yaml, version, ...) behave as ansible-core's of the same name do, or
  fail with an error where k8sboot does not support an option; a template that
  renders here renders the same under ansible-playbook
  (tests/unit/test_ansible_compat.py renders every shipped template both ways).
"""

from __future__ import annotations

import base64
import json
import operator as py_operator
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import jinja2
import yaml

from k8sboot.errors import InputError

_SINGLE_EXPR = re.compile(r"^\s*\{\{\s*(.+?)\s*\}\}\s*$", re.DOTALL)


def _fail(msg: str) -> NoReturn:
    raise jinja2.TemplateRuntimeError(msg)


def _text(value: Any) -> str:
    """Ansible's to_text(..., nonstring='simplerepr'): bytes decoded, anything else str()."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


_BOOL_TRUE = {"yes", "on", "true", "1"}
_BOOL_FALSE = {"no", "off", "false", "0"}


def to_bool(value: Any) -> bool:
    """Ansible's `bool` filter: its spellings of true and false (any case), bools, 0 and 1.

    Ansible coerces anything else to False with a deprecation warning (an error
    from ansible-core 2.23 on); here it is an error already, never a silent False.
    """
    key = value.lower() if isinstance(value, str) else str(value).lower() if isinstance(value, int) else None
    if key in _BOOL_TRUE:
        return True
    if key in _BOOL_FALSE:
        return False
    _fail(f"bool: {value!r} ({type(value).__name__}) is not a boolean: use yes/no, true/false, on/off or 1/0")


# Ansible's `version` test compares LooseVersion components: numbers numerically,
# words as strings, so 'v1.20' against '1.24' compares 'v' with 1 and fails there.
_LOOSE_PART = re.compile(r"(\d+|[a-z]+|\.)")
_STRICT = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$", re.ASCII)
_VERSION_OPS = {
    "==": "eq", "=": "eq", "eq": "eq", "<": "lt", "lt": "lt", "<=": "le", "le": "le",
    ">": "gt", "gt": "gt", ">=": "ge", "ge": "ge", "!=": "ne", "<>": "ne", "ne": "ne",
}


def _loose(text: str) -> list[Any]:
    parts: list[Any] = []
    for p in _LOOSE_PART.split(text):
        if p and p != ".":
            try:
                parts.append(int(p))
            except ValueError:
                parts.append(p)
    return parts


def _strict(text: str) -> tuple[Any, ...]:
    m = _STRICT.match(text)
    if not m:
        raise ValueError(f"invalid version number '{text}'")
    major, minor, patch, pre, pre_n = m.groups()
    # a release sorts after its own pre-releases
    pre_key = (1, "", 0) if pre is None else (0, pre, int(pre_n))
    return (int(major), int(minor), int(patch or 0), pre_key)


def _cmp(a: Any, b: Any) -> int:
    # equality first, then order (as Ansible's Version does): 'v1' == '1' fails on the order
    if a == b:
        return 0
    return -1 if a < b else 1 if a > b else 0


def version_test(value: Any, version: Any, operator: str = "eq", strict: Any = None,
                 version_type: Any = None) -> bool:
    """Ansible's `version` test (`x is version('1.24', '<')`), loose (its default) or strict."""
    if strict is not None and version_type is not None:
        _fail("version: cannot give both 'strict' and 'version_type'")
    if not value:
        _fail("version: the version to compare is empty")
    if not version:
        _fail("version: the version to compare against is empty")
    kind = "strict" if strict else (version_type or "loose")
    if kind not in ("loose", "strict"):
        # Ansible also has semver/semantic/pep440: refuse rather than compare differently
        _fail(f"version: version_type {kind!r} is not supported by k8sboot (only 'loose' and 'strict')")
    if operator not in _VERSION_OPS:
        _fail(f"version: unknown operator {operator!r} (one of {', '.join(map(repr, _VERSION_OPS))})")
    parse = _loose if kind == "loose" else _strict
    try:
        c = _cmp(parse(_text(value)), parse(_text(version)))
    except (TypeError, ValueError) as e:
        hint = (" (a leading 'v' is a word there, not part of the number: compare "
                "`x | regex_replace('^v', '')`)") if kind == "loose" and "v" in _text(value) + _text(version) else ""
        _fail(f"version: cannot compare {_text(value)!r} with {_text(version)!r} as {kind} versions "
              f"({e}){hint}; Ansible rejects this too")
    return bool(getattr(py_operator, _VERSION_OPS[operator])(c, 0))


def _to_yaml(value: Any, *_args: Any, default_flow_style: bool | None = None, **kw: Any) -> str:
    return yaml.dump(value, Dumper=yaml.SafeDumper, allow_unicode=True,
                     default_flow_style=default_flow_style, **kw)


def _to_nice_yaml(value: Any, indent: int = 4, *_args: Any, default_flow_style: bool = False, **kw: Any) -> str:
    return _to_yaml(value, indent=indent, default_flow_style=default_flow_style, **kw)


def _to_json(value: Any, **kw: Any) -> str:
    return json.dumps(value, **kw)


def _to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kw: Any) -> str:
    kw.pop("separators", None)
    return json.dumps(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kw)


def _from_yaml(data: Any) -> Any:
    return yaml.safe_load(data) if isinstance(data, str) else data


def _b64encode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    raw = value if isinstance(value, bytes) else _text(value).encode(encoding, "surrogateescape")
    return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode("ascii")


def _b64decode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    raw = value if isinstance(value, bytes) else _text(value).encode("utf-8", "surrogateescape")
    return (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(raw).decode(encoding, "surrogateescape")


def _regex_replace(value: Any = "", pattern: str = "", replacement: str = "", ignorecase: bool = False,
                   multiline: bool = False, count: int = 0, mandatory_count: int = 0) -> str:
    flags = (re.IGNORECASE if ignorecase else 0) | (re.MULTILINE if multiline else 0)
    out, subs = re.compile(pattern, flags).subn(replacement, _text(value), count=count)
    if mandatory_count and mandatory_count != subs:
        _fail(f"regex_replace: {pattern!r} should match {mandatory_count} times, but matches {subs} times")
    return out


def _quote(value: Any) -> str:
    return shlex.quote("" if value is None else _text(value))


def _mandatory(value: Any, msg: str | None = None) -> Any:
    if isinstance(value, jinja2.Undefined):
        if msg is not None:
            raise jinja2.UndefinedError(str(msg))
        name = getattr(value, "_undefined_name", None)
        raise jinja2.UndefinedError(f"Mandatory variable {name!r} not defined." if name
                                    else "Mandatory variable not defined.")
    return value


def _ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    # Python truth, not the `bool` filter: 'no' | ternary(a, b) is a, as in Ansible
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def _dict2items(mapping: Any, key_name: str = "key", value_name: str = "value") -> list[dict[str, Any]]:
    if not isinstance(mapping, Mapping):
        _fail(f"dict2items requires a dictionary, got {type(mapping).__name__} instead")
    return [{key_name: k, value_name: v} for k, v in mapping.items()]


def _items2dict(items: Any, key_name: str = "key", value_name: str = "value") -> dict[Any, Any]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        _fail(f"items2dict requires a list, got {type(items).__name__} instead")
    try:
        return {i[key_name]: i[value_name] for i in items}
    except (KeyError, TypeError):
        _fail(f"items2dict requires a list of dictionaries with the keys {key_name!r} and {value_name!r}")


# the spellings Ansible's truthy/falsy accept with convert_bool=true
_CONVERT_TRUE = _BOOL_TRUE | {"y", "t"}
_CONVERT_FALSE = _BOOL_FALSE | {"n", "f"}


def _truthy(value: Any, convert_bool: bool = False) -> bool:
    """Python truth ('no' is truthy), unless convert_bool reads boolean-like strings."""
    if convert_bool and isinstance(value, str):
        key = value.strip().lower()
        if key in _CONVERT_TRUE:
            return True
        if key in _CONVERT_FALSE:
            return False
    return bool(value)


# Each one behaves as the ansible.builtin filter or test of the same name (a name
# Ansible lacks, such as a `version_compare` filter, is not offered: the template
# would not render under ansible-playbook).
FILTERS: dict[str, Any] = {
    "bool": to_bool,
    "b64encode": _b64encode,
    "b64decode": _b64decode,
    "to_json": _to_json,
    "to_nice_json": _to_nice_json,
    "to_yaml": _to_yaml,
    "to_nice_yaml": _to_nice_yaml,
    "from_json": lambda value, **kw: json.loads(value, **kw),
    "from_yaml": _from_yaml,
    "regex_replace": _regex_replace,
    "basename": lambda p: os.path.basename(_text(p)),
    "dirname": lambda p: os.path.dirname(_text(p)),
    "quote": _quote,
    "mandatory": _mandatory,
    "ternary": _ternary,
    "dict2items": _dict2items,
    "items2dict": _items2dict,
}

TESTS: dict[str, Any] = {
    "version": version_test,
    "version_compare": version_test,
    "truthy": _truthy,
    "falsy": lambda value, convert_bool=False: not _truthy(value, convert_bool),
}


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Templates compiled by an earlier run (Jinja checks each against its source): compiling the
    roles' templates again was ~0.1 s of CPU in every run. One that cannot be written is skipped."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _compiled_templates(cache_dir: Path | None) -> jinja2.BytecodeCache | None:
    if cache_dir is None:
        return None
    directory = cache_dir / f"jinja-{jinja2.__version__}"  # another Jinja compiles differently
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _CompiledTemplates(str(directory))


class Templar:
    def __init__(self, search_dirs: Iterable[Path], cache_dir: Path | None = None):
        self.search_dirs = [Path(d) for d in search_dirs]
        self._bytecode = _compiled_templates(cache_dir)
        self.env = self._make_env(self.search_dirs)
        self._role_envs: dict[Path, jinja2.Environment] = {}
        # compiled once, rendered many times: every host (and loop item) renders the same task
        # strings, and compiling was most of the templating CPU of a no-op rerun. Compiled
        # templates are stateless; a race only compiles one twice.
        self._strings: dict[str, jinja2.Template] = {}
        self._expressions: dict[str, Any] = {}

    def _make_env(self, dirs: list[Path]) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
            bytecode_cache=self._bytecode,
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
        template = self._strings.get(text)
        if template is None:
            template = self._strings[text] = self.env.from_string(text)
        return template.render(variables)

    def evaluate(self, expr: str, variables: dict[str, Any]) -> Any:
        """Evaluate a bare expression (as in `when:`), keeping its type."""
        compiled = self._expressions.get(expr)
        if compiled is None:
            compiled = self._expressions[expr] = self.env.compile_expression(expr, undefined_to_none=False)
        return compiled(**variables)

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
        """Ansible's `when`: a bare expression, or a list of them (all must hold), each a boolean."""
        conds = when if isinstance(when, list) else [when]
        for cond in conds:
            if isinstance(cond, bool):
                ok = cond
            else:
                text = str(cond).strip()
                m = _SINGLE_EXPR.match(text)
                ok = self.evaluate(m.group(1) if m else text, variables)
                if isinstance(ok, jinja2.Undefined):
                    ok._fail_with_undefined_error()
                # as ansible-core 2.19: a string, number, list or None is not read as a boolean
                if not isinstance(ok, bool):
                    _fail(f"conditional {text!r} gave {ok!r} ({type(ok).__name__}): conditionals must "
                          "have a boolean result (compare explicitly, or use `| bool` or `| length > 0`)")
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
