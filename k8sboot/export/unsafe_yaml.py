"""YAML for Ansible's vars files, with every value that looks like a template marked `!unsafe`.

ansible-core templates the strings it reads from vars files; k8sboot never
templates the values of its plan or of an inventory (a kubespray group_vars
file full of "{{ ... }}" is read by k8sboot as the literal text). Marking
such a string `!unsafe` makes Ansible keep it literal as well, so both tools
hand the roles the same value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# what makes ansible-core treat a string as a template (expression, statement, comment)
TEMPLATE_MARKERS = ("{{", "{%", "{#")


class Unsafe(str):
    """A string written as `!unsafe '...'`."""


class _IndentedDumper(yaml.SafeDumper):
    """Lists indented under their key, as yamllint (ansible-lint) wants them; no aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value shared by two vars is written twice: no &id001 for a reader to chase


class _Dumper(_IndentedDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, value: Unsafe) -> yaml.Node:
    return dumper.represent_scalar("!unsafe", str(value), style="'")


_Dumper.add_representer(Unsafe, _represent_unsafe)


class _PlainDumper(_IndentedDumper):
    pass


def looks_like_template(value: str) -> bool:
    return any(m in value for m in TEMPLATE_MARKERS)


def mark_unsafe(value: Any) -> Any:
    """The value with every template-looking string inside it wrapped as Unsafe (keys are never templated)."""
    if isinstance(value, str):
        return Unsafe(value) if looks_like_template(value) else value
    if isinstance(value, dict):
        return {k: mark_unsafe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mark_unsafe(v) for v in value]
    return value


def dump(data: Any, header: str = "") -> str:
    body = yaml.dump(mark_unsafe(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1000)
    return header + body


def dump_plain(data: Any) -> str:
    """YAML whose templates are meant as such (the playbook): nothing marked, no aliases."""
    return yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=1000)


def write(path: Path, data: Any, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(data, header))
