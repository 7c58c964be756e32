"""Rule commands for policy staff: validate, explain, schema, lint."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from kernel.cli import args as a
from kernel.cli.clock import today
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_INPUT, EXIT_OK
from kernel.errors import ProblemsError, TicketInvalid

if TYPE_CHECKING:
    from kernel.calendar.workdays import WorkCalendar


def register(sub: Any) -> None:
    """``validate``, ``explain``, ``schema`` and ``lint``."""
    p = sub.add_parser("validate", help="检查规则文件；有问题时逐条列出并以代码 2 退出")
    a.add_rules(p)
    a.add_config(p)
    a.add_as_of(p, "检查工作日历是否齐全的日期")
    a.add_format(p)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("explain", help="对办理单分级、路由，并说明依据")
    p.add_argument(
        "tickets", nargs="+", metavar="TICKET", help="办理单 YAML/JSON 文件，- 表示标准输入"
    )
    a.add_rules(p)
    a.add_format(p)
    p.set_defaults(handler=cmd_explain)

    p = sub.add_parser("schema", help="输出某个文件的 JSON Schema（供编辑器使用）")
    p.add_argument("name", nargs="?", help="schema 名称；不写则列出全部")
    p.set_defaults(handler=cmd_schema)

    p = sub.add_parser("lint", help="检查规则之间的问题：被覆盖的规则、遗漏、冲突、无效扣分项等")
    a.add_rules(p)
    a.add_config(p)
    a.add_as_of(p, "检查工作日历是否齐全的日期")
    a.add_format(p)
    p.set_defaults(handler=cmd_lint)


def calendar_reminders(calendar: WorkCalendar | None, args: argparse.Namespace) -> list[str]:
    """The early warnings about missing calendar years, as of ``--as-of`` (today)."""
    from kernel.calendar.provisional import calendar_reminders as reminders
    from kernel.config import load_config

    if calendar is None:
        return []
    policy = load_config(getattr(args, "config", None)).missing_year
    return reminders(calendar, args.as_of or today(), policy)


def print_reminders(reminders: list[str]) -> None:
    """Warnings go to stderr: they never change the exit status."""
    for line in reminders:
        print(f"提醒：{line}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a rule folder; list every problem."""
    from kernel.config import load_config
    from kernel.rules.load import check_rules, default_rules_dir, display_path

    directory = args.rules or load_config(args.config).rules or default_rules_dir()
    ruleset, problems = check_rules(directory)
    reminders = calendar_reminders(ruleset.calendar if ruleset else None, args)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "valid": not problems,
                    "problems": [p.as_dict() for p in problems],
                    "warnings": reminders,
                },
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
        + (f"办理步骤 {len(ruleset.lifecycle.steps)} 项；" if ruleset.lifecycle else "")
        + f"工作日历 {years[0]}–{years[-1]} 年）"
    )
    if len(ruleset.levels) > 1:  # a county folder over the city's: say what each level brings
        print(f"层级：{level_summary(ruleset)}")
    print_reminders(reminders)
    return EXIT_OK


def level_summary(ruleset: Any) -> str:
    """``市级 rules（规则 … 条）→ 汉台区 …（本级新增 a、替换 b、删除 c）``."""
    from kernel.rules.load import display_path
    from kernel.rules.resolved import level_counts

    parts = []
    for level in ruleset.levels:
        added, replaced, removed = level_counts(ruleset.sources, level.name)
        what = (
            f"{added} 项"
            if level is ruleset.levels[0]
            else f"新增 {added} 项、替换 {replaced} 项、删除 {removed} 项"
        )
        parts.append(f"{level.name} {display_path(level.directory)}（{what}）")
    return " → ".join(parts)


def cmd_explain(args: argparse.Namespace) -> int:
    """Grade and route tickets, with the reasons."""
    from kernel.evaluation.consequences import consequences_json, consequences_text
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
                if args.format == "json":
                    outputs.append(result.to_dict() | consequences_json(kernel, ticket, result))
                else:
                    more = consequences_text(kernel, ticket, result)
                    outputs.append(render_text(result) + (f"\n{more}" if more else ""))
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
    """Print a committed JSON Schema, or list them."""
    from kernel.inputs.contracts import load_schema, schema_names

    if not args.name:
        print("\n".join(schema_names()))
        return EXIT_OK
    print(json.dumps(load_schema(args.name), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_lint(args: argparse.Namespace) -> int:
    """Find what is wrong with a rule set that validates."""
    from kernel.rules.load import load_rules
    from kernel.tools.lint import exit_code, lint, render_findings

    ruleset = load_rules(args.rules)  # invalid rules: RuleSetInvalid, exit 2
    findings = lint(ruleset)
    sys.stdout.write(render_findings(findings, args.format))
    print_reminders(calendar_reminders(ruleset.calendar, args))
    return exit_code(findings)
