"""Roles, laid out as Ansible lays them out:

    roles/<name>/tasks/main.yml      the tasks
    roles/<name>/handlers/main.yml   handlers (tasks run once, at the end, when notified)
    roles/<name>/defaults/main.yml   the lowest-precedence vars
    roles/<name>/templates/          optional role-local templates

Roles are searched in the user's directories first, then the shipped roles/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from k8sboot.engine.tasks import Task, parse_tasks
from k8sboot.errors import InputError


@dataclass
class Role:
    name: str
    path: Path
    tasks: list[Task]
    handlers: list[Task] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)


# libyaml reads the shipped roles ~8x faster than the pure-Python parser, and every play
# loads its roles again; on a syntax error the pure-Python parser reads the file once more,
# for the message it always gave (with the offending line shown)
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    for candidate in (path, path.with_suffix(".yaml")):
        if candidate.exists():
            text = candidate.read_text()
            try:
                try:
                    return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - a safe loader
                except yaml.YAMLError:
                    return yaml.safe_load(text)
            except yaml.YAMLError as e:
                line = getattr(getattr(e, "problem_mark", None), "line", None)
                raise InputError(f"YAML syntax: {e}", file=str(candidate),
                                 line=None if line is None else line + 1) from e
    return None


def find_role(name: str, search_dirs: list[Path]) -> Path:
    for d in search_dirs:
        if (d / name / "tasks").is_dir():
            return d / name
    raise InputError(f"role {name!r} not found in {', '.join(str(d) for d in search_dirs)}")


def load_role(name: str, search_dirs: list[Path], known_modules: set[str]) -> Role:
    path = find_role(name, search_dirs)
    tasks_file = path / "tasks" / "main.yml"
    handlers_file = path / "handlers" / "main.yml"
    defaults = _read_yaml(path / "defaults" / "main.yml") or {}
    if not isinstance(defaults, dict):
        raise InputError("defaults must be a mapping", file=str(path / "defaults" / "main.yml"))
    return Role(
        name=name,
        path=path,
        tasks=parse_tasks(_read_yaml(tasks_file), tasks_file, known_modules),
        handlers=parse_tasks(_read_yaml(handlers_file), handlers_file, known_modules, handlers=True),
        defaults=defaults,
    )
