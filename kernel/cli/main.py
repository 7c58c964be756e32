"""The ``huhang`` command line. Input errors become a Chinese message and exit code 2 here,
and only here; unexpected errors keep their traceback."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernel import demo
from kernel.cli import ledger as cli_ledger
from kernel.cli import tools as cli_tools
from kernel.errors import InputError, ProblemsError, TicketInvalid

# Command modules are imported inside each command, so that `huhang validate` (which staff run
# often) does not pay for the engine, the ledger and the reports.

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

    p = sub.add_parser("deadlines", help="按事件记录计算办理单的各项时限、预警和督办")
    p.add_argument("history", metavar="HISTORY", help="事件记录 YAML/JSON 文件，- 表示标准输入")
    p.add_argument(
        "--as-of", type=_date_arg, default=None, metavar="DATE", help="计算日期（默认今天）"
    )
    _rules_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("contacts", help="列出未按月联系的企业（每月不少于 1 次）")
    p.add_argument("history", metavar="EVENTS", help="事件记录 YAML/JSON 文件")
    p.add_argument("--as-of", type=_date_arg, default=None, metavar="DATE")
    p.add_argument(
        "--from", dest="first", type=cli_ledger.month_arg, default=None, metavar="YYYY-MM"
    )
    p.add_argument("--to", dest="last", type=cli_ledger.month_arg, default=None, metavar="YYYY-MM")
    _rules_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text")

    p = sub.add_parser("calendar", help="查询工作日历")
    cal = p.add_subparsers(dest="calendar_command", metavar="ACTION", parser_class=_Parser)
    cal.required = True
    q = cal.add_parser("add-days", help="DATE 之后第 N 个工作日")
    q.add_argument("date", type=_date_arg, metavar="DATE")
    q.add_argument("days", type=_count_arg, metavar="N")
    q.add_argument("--inclusive", action="store_true", help="含本数：DATE 若是工作日算第 1 天")
    _rules_arg(q)
    q = cal.add_parser("is-workday", help="DATE 是否为工作日")
    q.add_argument("date", type=_date_arg, metavar="DATE")
    _rules_arg(q)

    p = sub.add_parser("lint", help="检查规则之间的问题：被覆盖的规则、遗漏、冲突、无效扣分项等")
    _rules_arg(p)
    p.add_argument("--format", choices=("text", "json"), default="text")

    cli_ledger.add_parsers(sub, _rules_arg, _date_arg)
    cli_tools.add_parsers(sub, _rules_arg)
    cli_tools.add_impact_parser(sub, _date_arg)
    demo.add_parser(sub, _rules_arg)
    return parser


def _date_arg(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的日期（应为 YYYY-MM-DD）") from None


def _count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是整数") from None
    if value < 0:
        raise argparse.ArgumentTypeError("工作日数不能为负数")
    return value


def _today() -> dt.date:
    """The only wall-clock read of the CLI: the default for --as-of."""
    return dt.date.today()


def cmd_validate(args: argparse.Namespace) -> int:
    from kernel.rules.load import check_rules, default_rules_dir, display_path

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
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    years = sorted(ruleset.calendar.years)
    print(
        f"规则检查通过：{display_path(directory)}（{counts}；"
        f"单位 {len(ruleset.reference.units)} 个，类别 {len(ruleset.reference.categories)} 个；"
        f"时限 {len(ruleset.deadlines.clocks)} 项，督办步骤 {len(ruleset.deadlines.escalation)} 级；"
        f"工作日历 {years[0]}–{years[-1]} 年）"
    )
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    from kernel.evaluation.explain import render_text
    from kernel.evaluation.kernel import Kernel
    from kernel.evaluation.ticket import read_ticket_docs, ticket_from_doc

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
    from kernel.inputs.contracts import load_schema, schema_names

    if not args.name:
        print("\n".join(schema_names()))
        return EXIT_OK
    print(json.dumps(load_schema(args.name), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_deadlines(args: argparse.Namespace) -> int:
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.view import render_clocks
    from kernel.ledger.history import load_history
    from kernel.rules.load import load_rules

    ruleset = load_rules(args.rules)
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    ledger = load_history(args.history, ruleset.reference)
    as_of = args.as_of or _today()
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    projector = ledger.project()
    results = [(evaluator.evaluate(state, as_of), state) for state in projector.tickets.values()]
    if args.format == "json":
        print(json.dumps([r.to_dict() for r, _ in results], ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(render_clocks(r, s) for r, s in results) or "事件记录中没有办理单")
    return EXIT_OK


def cmd_contacts(args: argparse.Namespace) -> int:
    from kernel.clocks.monthly import missed_contacts, month_label, months_between
    from kernel.clocks.view import render_missed
    from kernel.ledger.history import load_history
    from kernel.rules.load import load_rules

    ruleset = load_rules(args.rules)
    assert ruleset.deadlines is not None
    ledger = load_history(args.history, ruleset.reference)
    as_of = args.as_of or _today()
    events = list(ledger.events())
    projector = ledger.project()
    first = args.first or min(
        (month_label(e.registered_on) for e in projector.enterprises.values()),
        default=month_label(as_of),
    )
    last = args.last or month_label(as_of)
    months = months_between(first, last)
    missed = []
    for duty in ruleset.deadlines.monthly:
        if duty.per == "enterprise":
            missed.extend(
                missed_contacts(duty, projector.enterprises.values(), events, months, as_of)
            )
    if args.format == "json":
        print(json.dumps([m.to_dict() for m in missed], ensure_ascii=False, indent=2))
    else:
        print(render_missed(missed))
    return EXIT_OK


def cmd_calendar(args: argparse.Namespace) -> int:
    from kernel.calendar.workdays import CountingRule
    from kernel.rules.load import load_rules

    ruleset = load_rules(args.rules)
    calendar = ruleset.calendar
    assert calendar is not None
    if args.calendar_command == "is-workday":
        day: dt.date = args.date
        works = calendar.is_workday(day)
        holiday = calendar.holiday_name(day)
        weekday = "一二三四五六日"[day.weekday()]
        if works:
            extra = "（调休上班）" if day.weekday() >= 5 else ""
            print(f"{day}（星期{weekday}）是工作日{extra}")
        else:
            print(
                f"{day}（星期{weekday}）不是工作日" + (f"（{holiday}）" if holiday else "（周末）")
            )
        return EXIT_OK if works else EXIT_INCOMPLETE
    rule = CountingRule.INCLUSIVE if args.inclusive else CountingRule.NEXT_DAY
    result = calendar.add_workdays(args.date, args.days, rule)
    how = "含本数" if args.inclusive else "从次日起算"
    print(
        f"{args.date} 起第 {args.days} 个工作日（{how}）：{result}（星期{'一二三四五六日'[result.weekday()]}）"
    )
    return EXIT_OK


def cmd_lint(args: argparse.Namespace) -> int:
    from kernel.rules.load import load_rules
    from kernel.tools.lint.checks import exit_code, lint, render_findings

    findings = lint(load_rules(args.rules))  # invalid rules: RuleSetInvalid, exit 2
    sys.stdout.write(render_findings(findings, args.format))
    return exit_code(findings)


COMMANDS = {
    "validate": cmd_validate,
    "explain": cmd_explain,
    "schema": cmd_schema,
    "lint": cmd_lint,
    "deadlines": cmd_deadlines,
    "contacts": cmd_contacts,
    "calendar": cmd_calendar,
    "ingest": cli_ledger.cmd_ingest,
    "ledger": cli_ledger.cmd_ledger,
    "roster": cli_ledger.cmd_roster,
    "plugins": cli_ledger.cmd_plugins,
    "notify": cli_ledger.cmd_notify,
    "sweep": cli_ledger.cmd_sweep,
    "report": cli_ledger.cmd_report,
    "test": cli_tools.cmd_test,
    "impact": cli_tools.cmd_impact,
    "demo": demo.cmd_demo,
}


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
