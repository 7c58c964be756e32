"""The ``huhang`` command line. Input errors become a Chinese message and exit code 2 here,
and only here; unexpected errors keep their traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernel.contracts import load_schema, schema_names
from kernel.errors import InputError, ProblemsError, TicketInvalid
from kernel.evaluate import Kernel
from kernel.explain import render_text
from kernel.rules.load import check_rules, default_rules_dir, display_path
from kernel.ticket import read_ticket_docs, ticket_from_doc

EXIT_OK, EXIT_INCOMPLETE, EXIT_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse with Chinese errors and exit code 2 (argparse's own code for usage errors)."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INPUT, f"错误：命令参数有误：{message}\n")


def _rules_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rules",
        type=Path,
        default=None,
        metavar="DIR",
        help="规则目录（默认：$HUHANG_RULES、./rules 或项目自带的 rules/）",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(prog="huhang", description="护航：助商稳企政策内核")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("validate", help="检查规则文件；有问题时逐条列出并以代码 2 退出")
    _rules_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("explain", help="对办理单分级、路由，并说明依据")
    p.add_argument(
        "tickets", nargs="+", metavar="TICKET", help="办理单 YAML/JSON 文件，- 表示标准输入"
    )
    _rules_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("schema", help="输出某个文件的 JSON Schema（供编辑器使用）")
    p.add_argument("name", nargs="?", help="schema 名称；不写则列出全部")
    return parser


def cmd_validate(args: argparse.Namespace) -> int:
    directory = args.rules or default_rules_dir()
    ruleset, problems = check_rules(directory)
    if args.format == "json":
        print(
            json.dumps(
                {"valid": not problems, "problems": [p.as_dict() for p in problems]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return EXIT_INPUT if problems else EXIT_OK
    if problems:
        for problem in problems:
            print(problem)
        print(
            f"错误：规则文件有 {len(problems)} 个问题（{display_path(directory)}）", file=sys.stderr
        )
        return EXIT_INPUT
    assert ruleset is not None
    counts = "、".join(f"{kind} {len(f.rules)} 条" for kind, f in ruleset.files.items())
    print(
        f"规则检查通过：{display_path(directory)}（{counts}；"
        f"单位 {len(ruleset.reference.units)} 个，类别 {len(ruleset.reference.categories)} 个）"
    )
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    kernel = Kernel.from_dir(args.rules)
    outputs: list[Any] = []
    problems = []
    incomplete = False
    try:
        for location in args.tickets:
            try:
                items = read_ticket_docs(location)
            except ProblemsError as exc:
                problems.extend(exc.problems)
                continue
            for doc, data, prefix in items:
                try:
                    ticket = ticket_from_doc(
                        doc, kernel.ruleset.reference, data=data, prefix=prefix
                    )
                except TicketInvalid as exc:
                    problems.extend(exc.problems)
                    continue
                result = kernel.evaluate(ticket)
                incomplete = incomplete or not result.complete
                outputs.append(result.to_dict() if args.format == "json" else render_text(result))
    finally:
        kernel.close()
    if args.format == "json":
        print(json.dumps(outputs, ensure_ascii=False, indent=2))
    elif outputs:
        print("\n\n".join(outputs))
    if problems:
        for problem in sorted(problems):
            print(problem, file=sys.stderr)
        print(f"错误：{len(problems)} 个办理单问题，相关办理单未处理", file=sys.stderr)
        return EXIT_INPUT
    return EXIT_INCOMPLETE if incomplete else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    if not args.name:
        print("\n".join(schema_names()))
        return EXIT_OK
    print(json.dumps(load_schema(args.name), ensure_ascii=False, indent=2))
    return EXIT_OK


COMMANDS = {"validate": cmd_validate, "explain": cmd_explain, "schema": cmd_schema}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``huhang`` and ``python -m kernel``."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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
