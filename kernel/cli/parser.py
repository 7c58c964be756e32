"""argparse in Chinese: its own words (usage, headings, errors) translated, exit code 2 on misuse.

argparse looks its messages up through ``gettext`` by their English text; we install a table of
our own for exactly those messages (Python 3.11 to 3.13), so no English word of argparse reaches
the user. A message without a translation falls back to the English text, and a test walks every
subcommand's help and the usual errors to catch such a fallback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from kernel.cli.exits import EXIT_INPUT

MESSAGES = {
    "usage: ": "用法：",
    "options": "选项",
    "positional arguments": "参数",
    "subcommands": "子命令",
    "%(heading)s:": "%(heading)s：",
    "show this help message and exit": "显示本帮助并退出",
    "show program's version number and exit": "显示版本号并退出",
    " (default: %(default)s)": "（默认：%(default)s）",
    "%(prog)s: error: %(message)s\n": "%(prog)s：错误：%(message)s\n",
    "%(prog)s: warning: %(message)s\n": "%(prog)s：提示：%(message)s\n",
    "argument %(argument_name)s: %(message)s": "参数 %(argument_name)s：%(message)s",
    "unrecognized arguments: %s": "无法识别的参数：%s",
    "the following arguments are required: %s": "缺少必需的参数：%s",
    "one of the arguments %s is required": "参数 %s 必须给出其中一个",
    "not allowed with argument %s": "不能与参数 %s 同时使用",
    "invalid choice: %(value)r (choose from %(choices)s)": "无效的选项 %(value)r（可选：%(choices)s）",
    "invalid %(type)s value: %(value)r": "无效的值 %(value)r（应为 %(type)s）",
    "expected one argument": "需要一个值",
    "expected at most one argument": "最多接受一个值",
    "expected at least one argument": "至少需要一个值",
    "ambiguous option: %(option)s could match %(matches)s": "选项 %(option)s 有歧义，可能是 %(matches)s",
    "unexpected option string: %s": "意外的选项：%s",
    "ignored explicit argument %r": "忽略了多余的值 %r",
    "can't open '%(filename)s': %(error)s": "无法打开 '%(filename)s'：%(error)s",
    "unknown parser %(parser_name)r (choices: %(choices)s)": "未知的命令 %(parser_name)r（可选：%(choices)s）",
    "argument '%(argument_name)s' is deprecated": "参数 '%(argument_name)s' 已不推荐使用",
    "option '%(option)s' is deprecated": "选项 '%(option)s' 已不推荐使用",
    "command '%(parser_name)s' is deprecated": "命令 '%(parser_name)s' 已不推荐使用",
}
PLURALS = {
    "expected %s argument": "需要 %s 个值",
}


def _translate(message: str) -> str:
    return MESSAGES.get(message, message)


def _translate_plural(singular: str, plural: str, n: int) -> str:
    if singular in PLURALS:
        return PLURALS[singular]
    return singular if n == 1 else plural


def install_translations() -> None:
    """Make argparse speak Chinese (idempotent; affects only argparse's own messages)."""
    argparse._ = _translate  # type: ignore[attr-defined]
    argparse.ngettext = _translate_plural  # type: ignore[attr-defined]


class ChineseParser(argparse.ArgumentParser):
    """An argument parser whose errors are one Chinese line after the usage, exit code 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        install_translations()
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self.add_argument("-h", "--help", action="help", help="显示本帮助并退出")

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"错误：命令参数有误：{message}\n")
