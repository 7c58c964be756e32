"""Read YAML or JSON input safely while remembering where every value came from.

Rule files, tickets and scenarios are read with PyYAML's safe composer only (no Python tags,
nothing evaluated). Each value's position is kept in a map keyed by its path, so that later
checks can report ``file:line:col`` for a field deep inside a document. Dates become ISO strings,
so that the data are plain JSON values.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kernel.errors import Problem, ProblemsError

PathKey = tuple[str | int, ...]


@dataclass
class SourceDoc:
    """A parsed document with the source position of each value."""

    path: str
    data: Any
    locations: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_locations: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Line and column (1-based) of the value at ``path``, or of its nearest ancestor."""
        table = self.key_locations if key else self.locations
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.locations:
                return self.locations[probe]
            probe = probe[:-1]
        return self.locations.get((), (0, 0))

    def problem(self, path: PathKey, code: str, message: str, *, key: bool = False) -> Problem:
        """A :class:`Problem` located at ``path`` in this document."""
        line, col = self.where(path, key=key)
        return Problem(self.path, line, col, code, message)


class _Builder:
    """Turns a composed YAML node tree into plain values plus a position map."""

    def __init__(self, loader: yaml.SafeLoader, doc: SourceDoc) -> None:
        self.loader = loader
        self.doc = doc
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.doc.locations[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        return _plain_scalar(value)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _plain_scalar(self.loader.construct_object(key_node, deep=True))
            key_text = key if isinstance(key, str) else str(key)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key_text in result:
                self.problems.append(
                    Problem(
                        self.doc.path, line, col, "YAML-DUPLICATE-KEY", f"键 '{key_text}' 重复出现"
                    )
                )
            self.doc.key_locations[(*path, key_text)] = (line, col)
            result[key_text] = self.build(value_node, (*path, key_text))
        return result


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def parse_text(text: str, display_path: str) -> SourceDoc:
    """Parse YAML (JSON is a subset) from ``text``; raise :class:`ProblemsError` on bad syntax."""
    doc = SourceDoc(path=display_path, data=None)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.data = None
            return doc
        builder = _Builder(loader, doc)
        doc.data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "无法解析"
        raise ProblemsError(
            [Problem(display_path, line, col, "YAML-SYNTAX", f"YAML 语法错误：{reason}")]
        ) from None
    except yaml.YAMLError as exc:
        raise ProblemsError(
            [Problem(display_path, 1, 1, "YAML-SYNTAX", f"YAML 语法错误：{exc}")]
        ) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise ProblemsError(builder.problems)
    return doc


def read_file(path: Path, display_path: str | None = None) -> SourceDoc:
    """Read and parse one YAML or JSON file."""
    shown = display_path or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemsError([Problem(shown, 0, 0, "FILE-MISSING", "文件不存在")]) from None
    except UnicodeDecodeError:
        raise ProblemsError(
            [Problem(shown, 1, 1, "FILE-ENCODING", "文件不是 UTF-8 编码")]
        ) from None
    except OSError as exc:
        raise ProblemsError(
            [Problem(shown, 0, 0, "FILE-UNREADABLE", f"无法读取文件：{exc.strerror}")]
        ) from None
    return parse_text(text, shown)


def walk_paths(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Yield every (path, value) pair of a plain JSON-like value, depth first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_paths(item, (*path, index))
