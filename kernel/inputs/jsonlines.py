"""JSON: one event per line (``huhang ingest``), or one value (the API), read within bounds.

Each line is read as bytes, decoded and parsed on its own, so a bad line late in a large file is
reported with its number and does not stop the lines around it: not UTF-8, not JSON, a key given
twice, ``NaN``, a number thousands of digits long, nesting thousands deep, a line of megabytes.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kernel.errors import Problem, ProblemsError
from kernel.inputs.sourcefile import (
    LIMITS,
    Limits,
    PathKey,
    decode_text,
    field_name,
    os_problem,
)

#: bytes of one line of a JSON-lines file
MAX_LINE_BYTES = 1024 * 1024

# The json module's messages in plain Chinese.
_JSON_WORDS = (
    ("Expecting property name enclosed in double quotes", "键应写在双引号中"),
    ("Expecting ',' delimiter", "缺少逗号"),
    ("Expecting ':' delimiter", "缺少冒号"),
    ("Expecting value", "缺少值，或有多余的逗号"),
    ("Unterminated string starting at", "引号没有闭合"),
    ("Invalid control character at", "文字中有未转义的控制字符"),
    ("Invalid \\escape", "无效的转义符 \\"),
    ("Invalid \\uXXXX escape", "无效的 \\u 转义"),
    ("Extra data", "一行只能有一个 JSON 值，后面有多余内容"),
)


class _Refused(ValueError):
    """Raised from inside the JSON decoder's hooks."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class JsonLine:
    """One non-blank line: its number and value, or the problem that kept it out."""

    number: int
    data: Any = None
    problem: Problem | None = None


def loads(text: str, shown: str, line: int = 1, *, limits: Limits = LIMITS) -> Any:
    """Parse one JSON value; a located :class:`ProblemsError` for anything past ``limits``."""
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(items)
        if len(value) != len(items):
            seen: set[str] = set()
            duplicates.extend(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return value

    def number(text: str) -> Any:
        if len(text) > limits.max_number:
            raise _Refused(
                "INPUT-NUMBER", f"数字过长（{len(text)} 个字符，上限 {limits.max_number}）"
            )
        value = float(text) if any(c in text for c in ".eE") else int(text)
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused("INPUT-NOT-FINITE", f"数字 {text} 超出范围")
        return value

    def constant(text: str) -> Any:
        raise _Refused("INPUT-NOT-FINITE", f"{text} 不是有限的数字（不能用 NaN、Infinity）")

    def problem(code: str, message: str, col: int = 1) -> ProblemsError:
        return ProblemsError([Problem(shown, line, col, code, message)])

    try:
        value = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_int=number,
            parse_float=number,
            parse_constant=constant,
        )
    except _Refused as exc:
        raise problem(exc.code, str(exc)) from None
    except RecursionError:
        raise problem(
            "INPUT-TOO-DEEP", f"嵌套过深：对象和列表最多嵌套 {limits.max_depth} 层"
        ) from None
    except json.JSONDecodeError as exc:
        words = next((w for key, w in _JSON_WORDS if exc.msg.startswith(key)), exc.msg)
        if exc.pos == 0 and exc.msg.startswith("Expecting value"):
            words = "这一行不是 JSON（每行应是一个 {…} 对象）"
        raise problem("JSON-SYNTAX", f"不是有效的 JSON：{words}", exc.colno) from None
    if duplicates:
        raise problem("JSON-DUPLICATE-KEY", f"键 '{duplicates[0]}' 重复出现；每个键只能写一次")
    found = value_problem(value, limits)
    if found is not None:
        path, code, message = found
        raise problem(code, f"{field_name(path)} {message}")
    return value


def value_problem(value: Any, limits: Limits = LIMITS) -> tuple[PathKey, str, str] | None:
    """The first bound a parsed JSON value breaks (depth, text length, invalid Unicode), or None.

    Iterative: a value nested far deeper than Python's recursion limit is answered, not crashed
    on.
    """
    stack: list[tuple[Any, PathKey]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if len(item) > limits.max_string:
                return path, "INPUT-TOO-LONG", f"的文字过长（{len(item):,} 个字符）"
            if _has_surrogate(item):
                return path, "INPUT-UNICODE", "含有无效的 Unicode 字符（代理项）"
            continue
        if isinstance(item, dict | list):
            if len(path) >= limits.max_depth:
                return path, "INPUT-TOO-DEEP", f"嵌套过深（最多 {limits.max_depth} 层）"
            if isinstance(item, dict):
                for key, child in item.items():
                    if _has_surrogate(key) or len(key) > limits.max_string:
                        return path, "INPUT-UNICODE", "的键含有无效字符或过长"
                    stack.append((child, (*path, key)))
            else:
                stack.extend((child, (*path, i)) for i, child in enumerate(item))
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def open_lines(location: str) -> IO[bytes]:
    """The file (or ``-``, standard input) to read lines from; a located problem if it cannot
    be opened. Open it before anything is written, so a bad path stores nothing."""
    if location == "-":
        return sys.stdin.buffer
    try:
        return Path(location).open("rb")
    except OSError as exc:
        raise ProblemsError([os_problem(exc, location)]) from None


def read_lines(
    handle: IO[bytes], shown: str, *, limits: Limits = LIMITS, max_line: int = MAX_LINE_BYTES
) -> Iterator[JsonLine]:
    """Every non-blank line of ``handle``, parsed, each with its number or its problem."""
    number = 0
    while True:
        raw = handle.readline(max_line + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_line and not raw.endswith(b"\n"):
            while True:  # skip the rest of the over-long line, in bounded pieces
                rest = handle.readline(max_line)
                if not rest or rest.endswith(b"\n"):
                    break
            yield JsonLine(
                number,
                problem=Problem(
                    shown, number, 1, "INPUT-TOO-LONG", f"这一行过长（上限 {max_line:,} 字节）"
                ),
            )
            continue
        try:
            text = decode_text(raw.removeprefix(b"\xef\xbb\xbf"), shown, first_line=number)
            if not text.strip():
                continue
            yield JsonLine(number, data=loads(text, shown, number, limits=limits))
        except ProblemsError as exc:
            yield JsonLine(number, problem=exc.problems[0])


def count_lines(location: str) -> int:
    """How many lines a file has (0 for standard input or an unreadable file)."""
    if location == "-":
        return 0
    try:
        with open(location, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0
