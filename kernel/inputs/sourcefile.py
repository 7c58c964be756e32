"""Read YAML or JSON input safely while remembering where every value came from.

Rule files, tickets and scenarios are read with PyYAML's safe composer only (no Python tags,
nothing evaluated). Each value's position is kept in a map keyed by its path, so that later
checks can report ``file:line:col`` for a field deep inside a document. Dates become ISO strings,
so that the data are plain JSON values.
"""

from __future__ import annotations

import copy
import datetime as _dt
import errno
import math
import re
import sys
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

    def file_of(self, path: PathKey) -> str:
        """The file (as shown) the value at ``path`` was read from: this one, unless merged."""
        return self.path

    def problem(self, path: PathKey, code: str, message: str, *, key: bool = False) -> Problem:
        """A :class:`Problem` located at ``path`` in this document."""
        line, col = self.where(path, key=key)
        return Problem(self.path, line, col, code, message)


@dataclass(frozen=True)
class Limits:
    """Bounds on what one input document may hold; past them it gets a located problem.

    They keep a hostile or broken file from taking unbounded time or memory: a YAML alias bomb
    (a kilobyte that expands to gigabytes), a document nested thousands deep, a 50 MB "rule
    file", a 5,000-digit number. Real rule files, tickets and event files are far below each.
    """

    #: bytes of one file (or of standard input)
    max_bytes: int = 8 * 1024 * 1024
    #: levels of nested mappings and lists
    max_depth: int = 64
    #: values in the document once aliases are expanded (each alias counts its whole target)
    max_values: int = 500_000
    #: characters of one text value
    max_string: int = 100_000
    #: characters of one number as written (digits, sign, point, exponent)
    max_number: int = 32


LIMITS = Limits()

_STR_TAG = "tag:yaml.org,2002:str"
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_UNSET: Any = object()


@dataclass
class _Frame:
    """A mapping or list being built."""

    value: dict[str, Any] | list[Any]
    path: PathKey
    anchor: str | None
    start: int  # values counted before it began
    mark: Any
    key: Any = _UNSET  # a mapping's pending key (text), once read
    key_mark: Any = None
    height: int = 1
    merges: list[Any] = field(default_factory=list)


class _Builder:
    """Builds plain values and their positions straight from the YAML event stream.

    No node tree is composed and nothing recurses, so depth is checked before it can hurt;
    an alias is counted at its full expanded size against :attr:`Limits.max_values` (and
    copied, so no two paths share a value).
    """

    def __init__(self, loader: Any, doc: SourceDoc, limits: Limits) -> None:
        self.loader = loader
        self.doc = doc
        self.limits = limits
        self.issues: list[tuple[PathKey, Problem]] = []
        self.values = 0
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # value, expanded size, height

    def fatal(self, mark: Any, code: str, message: str) -> ProblemsError:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return ProblemsError([Problem(self.doc.path, line, col, code, message)])

    def issue(self, path: PathKey, mark: Any, code: str, message: str) -> None:
        line, col = mark.line + 1, mark.column + 1
        self.issues.append((path, Problem(self.doc.path, line, col, code, message)))

    def count(self, n: int, mark: Any) -> None:
        self.values += n
        if self.values > self.limits.max_values:
            raise self.fatal(
                mark,
                "INPUT-TOO-LARGE",
                f"内容过多：展开别名（*）后超过 {self.limits.max_values:,} 个值，"
                "可能是锚点和别名层层引用；请直接写出内容",
            )

    def document(self) -> Any:
        """The single document of the stream (None for an empty stream)."""
        loader = self.loader
        loader.get_event()  # StreamStartEvent
        if loader.check_event(yaml.StreamEndEvent):
            return None
        loader.get_event()  # DocumentStartEvent
        value = self._node()
        loader.get_event()  # DocumentEndEvent
        if not loader.check_event(yaml.StreamEndEvent):
            event: Any = loader.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream",
                None,
                "but found another document",
                event.start_mark,
            )
        return value

    def _node(self) -> Any:
        stack: list[_Frame] = []
        while True:
            event = self.loader.get_event()
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                value = self._finish(frame)
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (value, self.values - frame.start, frame.height)
                height = frame.height
            else:
                path = self._child_path(stack)
                mark: Any = event.start_mark
                if path is not None:
                    self.doc.locations[path] = (mark.line + 1, mark.column + 1)
                here = path if path is not None else (*stack[-1].path, "?")
                if isinstance(event, yaml.AliasEvent):
                    found = self.anchors.get(str(event.anchor))
                    if found is None:
                        raise yaml.composer.ComposerError(None, None, "found undefined alias", mark)
                    value, size, height = found
                    if len(stack) + height > self.limits.max_depth:
                        raise self._too_deep(mark)
                    self.count(size, mark)
                    value = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
                elif isinstance(event, yaml.ScalarEvent):
                    self.count(1, mark)
                    value = self._scalar(event, here)
                    height = 0
                    if event.anchor is not None:
                        self.anchors[event.anchor] = (value, 1, 0)
                elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                    if len(stack) >= self.limits.max_depth:
                        raise self._too_deep(mark)
                    self.count(1, mark)
                    container: dict[str, Any] | list[Any] = (
                        {} if isinstance(event, yaml.MappingStartEvent) else []
                    )
                    stack.append(_Frame(container, here, event.anchor, self.values - 1, mark))
                    continue
                else:  # pragma: no cover - the parser yields nothing else inside a document
                    raise yaml.YAMLError(f"unexpected {event}")
            if not stack:
                return value
            self._deliver(stack[-1], value, height, event.start_mark)

    def _too_deep(self, mark: Any) -> ProblemsError:
        return self.fatal(
            mark, "INPUT-TOO-DEEP", f"嵌套过深：映射和列表最多嵌套 {self.limits.max_depth} 层"
        )

    @staticmethod
    def _child_path(stack: list[_Frame]) -> PathKey | None:
        """The path of the next value, None while a mapping's key is being read."""
        if not stack:
            return ()
        top = stack[-1]
        if isinstance(top.value, list):
            return (*top.path, len(top.value))
        if top.key is _UNSET:
            return None
        return (*top.path, top.key)

    def _deliver(self, top: _Frame, value: Any, height: int, mark: Any) -> None:
        top.height = max(top.height, height + 1)
        if isinstance(top.value, list):
            top.value.append(value)
            return
        if top.key is _UNSET:
            if isinstance(value, (dict, list)):
                self.issue(top.path, mark, "YAML-KEY", "键只能是文字，不能是映射或列表")
            top.key = value if isinstance(value, str) else str(value)
            top.key_mark = mark
            return
        key, key_mark = top.key, top.key_mark
        top.key = _UNSET
        if isinstance(key, _MergeKey):
            top.merges.append(value)
            return
        path = (*top.path, key)
        if key in top.value:
            self.issue(
                path,
                key_mark,
                "YAML-DUPLICATE-KEY",
                f"{field_name(top.path)} 中的键 '{key}' 重复出现；每个键只能写一次",
            )
        self.doc.key_locations[path] = (key_mark.line + 1, key_mark.column + 1)
        top.value[key] = value

    def _finish(self, frame: _Frame) -> Any:
        value = frame.value
        if isinstance(value, dict) and frame.merges:
            merged: dict[str, Any] = {}
            for source in frame.merges:
                for item in source if isinstance(source, list) else [source]:
                    if not isinstance(item, dict):
                        self.issue(frame.path, frame.mark, "YAML-MERGE", "<< 只能合并映射")
                        continue
                    for key, item_value in item.items():
                        merged.setdefault(key, item_value)
            for key, item_value in merged.items():
                value.setdefault(key, item_value)
        return value

    def _scalar(self, event: Any, path: PathKey) -> Any:
        loader = self.loader
        text: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, text, event.implicit)
        mark = event.start_mark
        if tag == _MERGE_TAG:
            return _MERGE
        if len(text) > self.limits.max_string:
            self.issue(
                path,
                mark,
                "INPUT-TOO-LONG",
                f"{field_name(path)} 的文字过长（{len(text):,} 个字符，上限 "
                f"{self.limits.max_string:,}）",
            )
            return text[: self.limits.max_string]
        if tag == _STR_TAG:
            return _checked_text(text, path, mark, self)
        if tag in _NUMBER_TAGS and len(text) > self.limits.max_number:
            self.issue(
                path,
                mark,
                "INPUT-NUMBER",
                f"{field_name(path)} 的数字过长（{len(text)} 个字符，上限 {self.limits.max_number}）",
            )
            return text[:40] + "…"
        node = yaml.ScalarNode(tag, text, mark, event.end_mark, style=event.style)
        try:
            value = loader.construct_object(node, deep=True)
        except ValueError:
            # An impossible timestamp such as 2026-02-30: keep the text, report the value.
            self.issue(path, mark, "YAML-VALUE", f"{field_name(path)} 的值 '{text}' 不是有效的日期")
            return text
        if isinstance(value, float) and not math.isfinite(value):
            self.issue(
                path,
                mark,
                "INPUT-NOT-FINITE",
                f"{field_name(path)} 的值 '{text}' 不是有限的数字（不能用 .nan、.inf）",
            )
            return text
        plain = _plain_scalar(value)
        if isinstance(plain, str):
            return _checked_text(plain, path, mark, self)
        return plain


def _checked_text(text: str, path: PathKey, mark: Any, builder: _Builder) -> str:
    """``text``, with a problem if it holds characters that cannot be stored (surrogates)."""
    if _SURROGATE.search(text):
        builder.issue(
            path, mark, "INPUT-UNICODE", f"{field_name(path)} 含有无效的 Unicode 字符（代理项）"
        )
        return _SURROGATE.sub("\ufffd", text)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


class _MergeKey(str):
    """The ``<<`` merge key of YAML (a plain ``<<`` resolved to the merge tag)."""


_MERGE = _MergeKey("<<")


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
    ("found undefined alias", "引用了未定义（或尚未写完）的锚点（*）"),
    ("found unknown escape character", "双引号文字中有无效的转义符 \\"),
    ("expected a single document", "文件只能包含一个 YAML 文档（不要使用 ---）"),
    ("exceeded maximum nesting depth", "嵌套过深"),
    (
        "could not determine a constructor",
        "不支持的 YAML 标签（!! 或 ! 开头）；只能写普通的文字、数字、日期、列表和映射",
    ),
    ("found invalid Unicode character escape", "双引号文字中有无效的 Unicode 转义符"),
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


def parse_text(text: str, display_path: str, *, limits: Limits = LIMITS) -> SourceDoc:
    """Parse YAML (JSON is a subset) from ``text``; raise :class:`ProblemsError` on bad syntax
    or on input past ``limits`` (size, depth, expanded aliases).

    Duplicate keys, over-long values and non-finite numbers do not stop parsing: they are left
    in ``doc.problems`` for the caller (every caller refuses a document that has any), so that
    the rest of the document can still be checked.
    """
    if len(text) > limits.max_bytes:
        raise ProblemsError([_too_large(display_path, len(text), limits)])
    doc = SourceDoc(path=display_path, data=None)
    loader = SAFE_LOADER(text)
    try:
        builder = _Builder(loader, doc, limits)
        doc.data = builder.document()
    except yaml.MarkedYAMLError as exc:
        raise ProblemsError([_syntax_problem(exc, display_path, text)]) from None
    except yaml.reader.ReaderError as exc:
        raise ProblemsError([_reader_problem(exc, display_path, text)]) from None
    except yaml.YAMLError as exc:
        raise ProblemsError(
            [Problem(display_path, 1, 1, "YAML-SYNTAX", f"YAML 语法错误：{exc}")]
        ) from None
    finally:
        loader.dispose()
    doc.issues.extend(builder.issues)
    return doc


def _too_large(shown: str, size: int, limits: Limits) -> Problem:
    return Problem(
        shown,
        0,
        0,
        "FILE-TOO-LARGE",
        f"文件过大（{size:,} 字节，上限 {limits.max_bytes:,}）",
    )


def _reader_problem(exc: yaml.reader.ReaderError, shown: str, text: str) -> Problem:
    """A character YAML does not allow (NUL, other control characters), located."""
    position = max(0, min(int(exc.position), len(text)))
    line = text.count("\n", 0, position) + 1
    col = position - (text.rfind("\n", 0, position) + 1) + 1
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
    return Problem(
        shown,
        line,
        col,
        "INPUT-CONTROL-CHAR",
        f"文件中有不允许的控制字符 U+{code:04X}（如 NUL 或 ESC）；请删除它",
    )


_OS_WORDS = {
    errno.ENOENT: "文件不存在",
    errno.EACCES: "没有读取权限",
    errno.EPERM: "没有读取权限",
    errno.EISDIR: "这是目录，不是文件",
    errno.ELOOP: "符号链接循环（链接指向自己）",
    errno.ENAMETOOLONG: "文件名过长",
    errno.ENOTDIR: "路径中有一部分不是目录",
}


def os_problem(exc: OSError, shown: str) -> Problem:
    """A file that cannot be opened or read, in Chinese words."""
    if exc.errno == errno.ENOENT:
        return Problem(shown, 0, 0, "FILE-MISSING", "文件不存在")
    name = errno.errorcode.get(exc.errno or 0, "?")
    words = _OS_WORDS.get(exc.errno or 0, f"操作系统错误 {name}")
    return Problem(shown, 0, 0, "FILE-UNREADABLE", f"无法读取文件：{words}")


def decode_text(data: bytes, shown: str, *, first_line: int = 1) -> str:
    """UTF-8 text of ``data``; a located ``FILE-ENCODING`` problem when it is not UTF-8.

    A UTF-8 byte-order mark is dropped; a UTF-16 one gets a message saying so.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ProblemsError(
            [
                Problem(
                    shown,
                    first_line,
                    1,
                    "FILE-ENCODING",
                    "文件是 UTF-16 编码；请另存为 UTF-8（记事本：另存为 → 编码 UTF-8）",
                )
            ]
        )
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + first_line
        line_start = data.rfind(b"\n", 0, start) + 1
        col = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
        raise ProblemsError(
            [
                Problem(
                    shown,
                    line,
                    col,
                    "FILE-ENCODING",
                    f"文件不是 UTF-8 编码（字节 0x{data[start]:02X}）；请另存为 UTF-8",
                )
            ]
        ) from None


def read_bytes(path: Path, shown: str, *, limits: Limits = LIMITS) -> bytes:
    """The bytes of a file, refused past ``limits.max_bytes`` (read no further than that)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ProblemsError([os_problem(exc, shown)]) from None
    if len(data) > limits.max_bytes:
        raise ProblemsError([_too_large(shown, _size(path, len(data)), limits)])
    return data


def _size(path: Path, at_least: int) -> int:
    try:
        return max(path.stat().st_size, at_least)
    except OSError:
        return at_least


def read_stdin(shown: str = "<stdin>", *, limits: Limits = LIMITS) -> str:
    """Standard input as UTF-8 text, bounded like a file."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # replaced by a text stream (tests)
        text: str = sys.stdin.read(limits.max_bytes + 1)
        if len(text) > limits.max_bytes:
            raise ProblemsError([_too_large(shown, len(text), limits)])
        return text
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ProblemsError([_too_large(shown, len(data), limits)])
    return decode_text(data, shown)


def read_file(path: Path, display_path: str | None = None, *, limits: Limits = LIMITS) -> SourceDoc:
    """Read and parse one YAML or JSON file."""
    shown = display_path or str(path)
    return parse_text(
        decode_text(read_bytes(path, shown, limits=limits), shown), shown, limits=limits
    )


def walk_paths(value: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    """Yield every (path, value) pair of a plain JSON-like value, depth first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_paths(item, (*path, index))
