"""A YAML loader that remembers line numbers and refuses ambiguous duplicate keys.

It also refuses what would make a run blow up instead of failing cleanly: alias
bombs ("billion laughs": a few lines that expand to gigabytes), self-referencing
anchors, nesting deeper than any inventory needs (Python's recursion limit),
integers too long to print, and bytes that are not UTF-8.

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


# Inventories nest a handful of levels; 100 keeps every recursive walk far from
# Python's recursion limit (the composer alone uses two frames per level).
MAX_DEPTH = 100
# Aliases may repeat content, but the expanded document may hold at most this many
# nodes more than the file itself: enough for any sharing of defaults through
# anchors and merge keys, far too few for an alias bomb.
MAX_ALIAS_EXPANSION = 100_000
# Longer integers cannot even be printed (Python's int/str conversion limit).
MAX_INT_BITS = 13_000


class YamlSyntaxError(InputError):
    """The text is not YAML at all (as opposed to YAML that is refused)."""


class _LineLoader(yaml.SafeLoader):
    file: str = "<inventory>"
    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise InputError(f"nesting deeper than {MAX_DEPTH} levels: an inventory never needs "
                             f"that many; flatten the structure", file=self.file,
                             line=mark.line + 1)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        _check_expansion(node, self.file)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            # e.g. a date like 2024-02-30, or an integer past Python's digit limit
            raise InputError(f"cannot read the value {_snippet(node)}: {exc}", file=self.file,
                             line=node.start_mark.line + 1) from None
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise InputError(f"the integer {_snippet(node)} is too long; quote it if it is "
                             f"meant as text", file=self.file, line=node.start_mark.line + 1)
        return value


def _snippet(node: yaml.Node) -> str:
    text = node.value if isinstance(node, yaml.ScalarNode) else f"<{type(node).__name__}>"
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _check_expansion(root: yaml.Node | None, file: str) -> None:
    """Refuse a node graph whose aliases expand it far beyond the file's own size, or
    that contains itself (a recursive anchor: no plain value can hold it)."""
    if root is None:
        return
    expanded: dict[int, int] = {}  # id(node) -> node count once every alias is expanded
    open_: set[int] = set()  # nodes whose children are still being counted
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_.discard(key)
            expanded[key] = 1 + sum(expanded[id(c)] for c in _children(node))
            if expanded[key] > len(expanded) + MAX_ALIAS_EXPANSION:
                raise InputError(
                    f"YAML aliases expand this document to more than "
                    f"{MAX_ALIAS_EXPANSION} extra values (an alias bomb?): write the values "
                    f"out or use fewer nested aliases", file=file, line=node.start_mark.line + 1)
            continue
        if key in expanded:
            continue
        if key in open_:
            raise InputError("a YAML anchor contains an alias to itself (a recursive "
                             "structure): inventories hold plain values only", file=file,
                             line=node.start_mark.line + 1)
        open_.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in expanded)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


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
    loader: _LineLoader | None = None
    try:
        loader = _LineLoader(text)  # the reader checks every character here already
        loader.file = file
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _one_line(exc.problem or exc.context or "invalid YAML")
        raise YamlSyntaxError(f"YAML syntax error: {problem}; fix the syntax on this line",
                              file=file, line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        # a control character YAML does not allow (NUL, ESC, ...): point at its line
        line = text.count("\n", 0, exc.position) + 1 if isinstance(text, str) else None
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
        raise YamlSyntaxError(f"control character U+{char:04X} is not allowed in YAML: "
                              f"remove it", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"YAML error: {_one_line(str(exc))}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def read_text(path: Path, what: str = "") -> str:
    """The file as UTF-8 text; unreadable or non-UTF-8 content is an InputError at its line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read{what}: {exc.strerror}", file=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): save the "
            f"file as UTF-8", file=str(path), line=data.count(b"\n", 0, exc.start) + 1) from None


def load_yaml_file(path: Path) -> Any:
    return load_yaml_text(read_text(path), str(path))


def plain(value: Any) -> Any:
    """Strip the line bookkeeping: what leaves the inventory package is plain dicts/lists."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
