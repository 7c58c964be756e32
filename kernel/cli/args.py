"""Argument types and shared options of the command line, each defined once."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

TEXT_FORMATS = ("text", "json")
TABLE_FORMATS = ("text", "json", "csv", "xlsx")  # kernel.outputs.tables.FORMATS, kept light
REPORT_FORMATS = ("text", "md", "csv", "json", "xlsx")


def date_arg(text: str) -> dt.date:
    """A ``YYYY-MM-DD`` date."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的日期（应为 YYYY-MM-DD）") from None


def month_arg(text: str) -> str:
    """A ``YYYY-MM`` month."""
    try:
        dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的月份（应为 YYYY-MM）") from None
    return text


def year_arg(text: str) -> str:
    """A ``YYYY`` year."""
    if not (len(text) == 4 and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的年份（应为 YYYY）")
    return text


def period_arg(text: str) -> str:
    """A month ``YYYY-MM`` or a quarter ``YYYY-Qn``."""
    if len(text) == 7 and text[4:6] == "-Q" and text[6] in "1234" and text[:4].isdigit():
        return text
    return month_arg(text)


def count_arg(text: str) -> int:
    """A whole number of working days, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是整数") from None
    if value < 0:
        raise argparse.ArgumentTypeError("工作日数不能为负数")
    return value


def non_negative_arg(text: str) -> int:
    """A whole number, zero or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是整数") from None
    if value < 0:
        raise argparse.ArgumentTypeError("不能为负数")
    return value


def positive_arg(text: str) -> int:
    """A whole number, one or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是整数") from None
    if value < 1:
        raise argparse.ArgumentTypeError("数量至少为 1")
    return value


def shard_arg(text: str) -> tuple[int, int]:
    """``K/N``: this process takes share K of N."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 应写成 K/N，如 0/3") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"'{text}'：K 应在 0 到 N-1 之间")
    return k, n


def add_rules(parser: argparse.ArgumentParser) -> None:
    """``--rules DIR``."""
    parser.add_argument(
        "--rules",
        type=Path,
        default=None,
        metavar="DIR",
        help="规则目录（默认：$HUHANG_RULES、./rules 或项目自带的 rules/）",
    )


def add_config(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``."""
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="配置文件（默认 ./huhang.yaml）"
    )


def add_store(parser: argparse.ArgumentParser) -> None:
    """``--db URL``, ``--config FILE`` and ``--rules DIR``: what a ledger command opens."""
    parser.add_argument(
        "--db", default=None, metavar="URL", help="台账存储（默认 huhang.db，即 SQLite 文件）"
    )
    add_config(parser)
    add_rules(parser)


def add_format(parser: argparse.ArgumentParser, choices: tuple[str, ...] = TEXT_FORMATS) -> None:
    """``--format``, text by default."""
    parser.add_argument("--format", choices=choices, default="text", help="输出格式")


def add_output(parser: argparse.ArgumentParser) -> None:
    """``--output FILE``."""
    parser.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="写入文件（xlsx 必须指定）"
    )


def add_as_of(parser: argparse.ArgumentParser, what: str = "计算日期") -> None:
    """``--as-of DATE``, today by default."""
    parser.add_argument(
        "--as-of", type=date_arg, default=None, metavar="DATE", help=f"{what}（默认今天）"
    )
