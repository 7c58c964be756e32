"""The ``huhang`` command line: the parser of every command group, and the error boundary.

Input errors become one Chinese line and exit code 2 here, and only here; unexpected errors keep
their traceback. Command modules import their work inside each command, so that ``huhang
validate`` (which staff run often) does not pay for the engine, the ledger and the reports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import kernel
from kernel.cli import (
    calendar,
    clocks,
    completion,
    demo,
    ledger,
    level,
    office,
    plugins,
    reports,
    roster,
    rules,
    service,
    tools,
    users,
)
from kernel.cli.exits import EXIT_INPUT, EXIT_OK
from kernel.cli.parser import ChineseParser
from kernel.errors import InputError, ProblemsError

#: the command groups, in the order ``huhang --help`` lists them
GROUPS: tuple[ModuleType, ...] = (
    rules,
    clocks,
    calendar,
    ledger,
    roster,
    office,
    reports,
    tools,
    level,
    service,
    users,
    plugins,
    demo,
    completion,
)


class _LazyVersion(argparse._VersionAction):
    """``--version``: the installed version is looked up (importlib.metadata) only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        self.version = f"huhang {kernel.__version__}"
        super().__call__(parser, *args, **kwargs)


def build_parser(with_plugins: bool = False) -> argparse.ArgumentParser:
    """The argument parser of every built-in command (and the plugins' with ``with_plugins``)."""
    parser = ChineseParser(prog="huhang", description="护航：助商稳企政策内核")
    parser.add_argument("--version", action=_LazyVersion, help="显示版本号并退出")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=ChineseParser, title="命令"
    )
    sub.required = True
    parser.set_defaults(root_parser=parser)  # for commands that describe the whole CLI
    for group in GROUPS:
        group.register(sub)
    if with_plugins:
        _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub: argparse._SubParsersAction[ChineseParser]) -> None:
    from kernel.cli.context import open_plugins

    _, host = open_plugins(argparse.Namespace())
    for command in host.commands(reserved=set(sub.choices)).values():
        p = sub.add_parser(command.name, help=f"{command.help}（插件 {command.owner}）")
        command.configure(p)
        p.set_defaults(handler=command.handler)


def _needs_plugins(argv: Sequence[str], builtin: argparse.ArgumentParser) -> bool:
    """Plugin commands are loaded only for an unknown command or the top-level help."""
    words = [w for w in argv if not w.startswith("-")]
    if not words:
        return any(w in ("-h", "--help") for w in argv)
    names = next(a.choices for a in builtin._actions if isinstance(a, argparse._SubParsersAction))
    return words[0] not in names


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``huhang`` and ``python -m kernel``.

    Everything printed goes through :class:`kernel.escape.EscapingStream`: control
    characters that came from input (ESC, CR, U+202E …) are shown escaped, never obeyed.
    """
    from kernel.escape import EscapingStream

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = EscapingStream(sys.stdout), EscapingStream(sys.stderr)
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    finally:
        sys.stdout, sys.stderr = saved


def _run(argv: list[str]) -> int:
    try:
        parser = build_parser()
        if _needs_plugins(argv, parser):
            parser = build_parser(with_plugins=True)
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except ProblemsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"错误：{exc.summary}", file=sys.stderr)
        return EXIT_INPUT
    except InputError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # e.g. `huhang explain ... | head`
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
