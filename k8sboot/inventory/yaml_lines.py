"""A YAML loader that remembers line numbers and refuses ambiguous duplicate keys.

Plain PyYAML returns dicts with no positions and silently keeps the last of two
equal keys, so a host written twice would lose half its settings without a word.
Mappings load as `LineDict` and sequences as `LineList`, each carrying the line
they start on and the line of every key / item, so errors can point at the line.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from k8sboot.errors import InputError


class LineDict(dict):
    """A dict that knows where it (and each of its keys) appeared in the file."""

    def __init__(self, *args: Any, line: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int | None:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A list that knows its own line and the line of each item."""

    def __init__(self, *args: Any, line: int | None = None):
        super().__init__(*args)
        self.line = line
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int | None:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of `key` inside `container` (or of the container itself), if known."""
    if key is not None and isinstance(container, (LineDict, LineList)):
        return container.line_of(key)
    return getattr(container, "line", None)


class _LineLoader(yaml.SafeLoader):
    file: str = "<inventory>"


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict(line=node.start_mark.line + 1)
    yield data  # yield first so recursive anchors resolve, as PyYAML's own constructors do
    # Only keys written in this mapping count as duplicates; keys pulled in by a
    # `<<: *anchor` merge are meant to be overridden.
    explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)
    seen_explicit: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable):
            raise InputError("a mapping key must be a plain value, not a list or mapping",
                             file=loader.file, line=line)
        value = loader.construct_object(value_node, deep=True)
        if id(key_node) in explicit:
            if key in seen_explicit and data[key] != value:
                raise InputError(
                    f"'{key}' is defined twice in the same mapping (lines "
                    f"{data.key_lines[key]} and {line}) with different values; YAML would "
                    f"silently keep the last one: keep one definition and merge the settings "
                    f"into it",
                    file=loader.file, line=line)
            seen_explicit.add(key)
        data[key] = value
        data.key_lines[key] = line


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList(line=node.start_mark.line + 1)
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml_text(text: str, file: str) -> Any:
    """Parse one YAML document; syntax errors become an InputError at the parser's line."""
    loader = _LineLoader(text)
    loader.file = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(f"YAML syntax error: {problem}; fix the syntax on this line",
                         file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", file=file) from None
    finally:
        loader.dispose()


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(path)) from None
    return load_yaml_text(text, str(path))


def plain(value: Any) -> Any:
    """Strip the line bookkeeping: what leaves the inventory package is plain dicts/lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
