"""Read a JSON-lines file (or standard input) line by line, with located problems."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from kernel.errors import Problem, ProblemsError


def numbered_lines(location: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for every line of ``location`` (``-``: standard input)."""
    if location == "-":
        yield from enumerate(sys.stdin, start=1)
        return
    try:
        with open(location, encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except FileNotFoundError:
        raise ProblemsError([Problem(location, 0, 0, "FILE-MISSING", "文件不存在")]) from None
    except UnicodeDecodeError:
        raise ProblemsError(
            [Problem(location, 0, 0, "FILE-ENCODING", "文件不是 UTF-8 编码")]
        ) from None


def count_lines(location: str) -> int:
    """How many lines a file has (0 for standard input or an unreadable file)."""
    if location == "-":
        return 0
    try:
        with open(location, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0
