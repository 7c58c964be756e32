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

#: libyaml's safe loader when PyYAML was built with it (about ten times faster), else PyYAML's
SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class SourceDoc:
    """A parsed document with the source position of each value."""

    path: str
    data: Any
    locations: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_locations: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # Problems that do not stop the document from being read (a key given twice, an impossible
    # date), each with the path where it occurred.
    issues: list[tuple[PathKey, Problem]] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        """The non-fatal problems found while reading."""
        return [problem for _, problem in self.issues]

    def has_issue(self, path: PathKey) -> bool:
        """Whether reading already reported a problem for the value at ``path``."""
        return any(where == path for where, _ in self.issues)

    def problems_under(self, prefix: PathKey) -> list[Problem]:
        """The non-fatal problems inside the value at ``prefix``."""
        size = len(prefix)
        return [p for path, p in self.issues if path[:size] == prefix]

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

    def __init__(self, loader: Any, doc: SourceDoc) -> None:
        self.loader = loader
        self.doc = doc
        self.issues: list[tuple[PathKey, Problem]] = []

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.doc.locations[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except ValueError:
            # An impossible timestamp such as 2026-02-30: keep the text, report the value.
            line, col = self.doc.locations[path]
            problem = Problem(
                self.doc.path,
                line,
                col,
                "YAML-VALUE",
                f"{field_name(path)} 的值 '{node.value}' 不是有效的日期",
            )
            self.issues.append((path, problem))
            return str(node.value)
        return _plain_scalar(value)

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        result: dict[str, Any] = {}
        self.loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _plain_scalar(self.loader.construct_object(key_node, deep=True))
            key_text = key if isinstance(key, str) else str(key)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key_text in result:
                problem = Problem(
                    self.doc.path,
                    line,
                    col,
                    "YAML-DUPLICATE-KEY",
                    f"{field_name(path)} 中的键 '{key_text}' 重复出现（以后一个为准）",
                )
                self.issues.append(((*path, key_text), problem))
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


# PyYAML's messages in plain Chinese; anything else is shown as PyYAML wrote it.
_SYNTAX_WORDS = (
    ("found character '\\t'", "不能用制表符（Tab）缩进，请改用空格"),
    (
        "mapping values are not allowed",
        "这里不能出现“: ”，可能是缩进不对，或文字中的冒号需要加引号",
    ),
    ("expected <block end>", "缩进不一致：同一层的键要对齐"),
    ("did not find expected key", "缩进不一致，或列表项缺少“- ”"),
    ("expected ',' or ']'", "方括号 [ ] 没有闭合，或元素之间缺少逗号"),
    ("expected ',' or '}'", "花括号 { } 没有闭合，或元素之间缺少逗号"),
    ("found unexpected end of stream", "文件意外结束：引号或括号没有闭合"),
    ("could not find expected ':'", "缺少“: ”"),
    ("found undefined alias", "引用了未定义的锚点（*）"),
    ("found unknown escape character", "双引号文字中有无效的转义符 \\"),
    ("expected a single document", "文件只能包含一个 YAML 文档（不要使用 ---）"),
)


def _syntax_problem(exc: yaml.MarkedYAMLError, display_path: str, text: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    raw = " ".join(filter(None, [exc.context, exc.problem])) or "无法解析"
    lines = text.splitlines()
    if (
        mark is not None
        and mark.line < len(lines)
        and lines[mark.line][mark.column : mark.column + 1] == "\t"
    ):
        raw = "found character '\\t'"  # libyaml does not name the character
    reason = next((words for key, words in _SYNTAX_WORDS if key in raw), raw)
    opened = exc.context_mark
    if opened is not None and mark is not None and opened.line != mark.line:
        reason += f"（相关内容从第 {opened.line + 1} 行第 {opened.column + 1} 列开始）"
    return Problem(display_path, line, col, "YAML-SYNTAX", f"YAML 语法错误：{reason}")


def field_name(path: PathKey) -> str:
    """A dotted field path such as ``rules[3].when.field``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "（文件顶层）"


def parse_text(text: str, display_path: str) -> SourceDoc:
    """Parse YAML (JSON is a subset) from ``text``; raise :class:`ProblemsError` on bad syntax.

    Duplicate keys do not stop parsing: they are left in ``doc.problems`` for the caller, so that
    the rest of the document can still be checked.
    """
    doc = SourceDoc(path=display_path, data=None)
    loader = SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.data = None
            return doc
        builder = _Builder(loader, doc)
        doc.data = builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        raise ProblemsError([_syntax_problem(exc, display_path, text)]) from None
    except yaml.YAMLError as exc:
        raise ProblemsError(
            [Problem(display_path, 1, 1, "YAML-SYNTAX", f"YAML 语法错误：{exc}")]
        ) from None
    finally:
        loader.dispose()
    doc.issues.extend(builder.issues)
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
