"""``huhang report``: the monthly report, the assessment and one unit's deductions."""

from __future__ import annotations

import argparse
from typing import Any

from kernel.cli import args as a
from kernel.cli.context import open_context
from kernel.cli.exits import EXIT_OK


def register(sub: Any) -> None:
    """``report monthly``, ``report assessment`` and ``report unit``."""
    p = sub.add_parser("report", help="月度通报、年度考核排名、单位扣分明细")
    report = p.add_subparsers(dest="report_command", metavar="REPORT", parser_class=type(p))
    report.required = True
    q = report.add_parser("monthly", help="月度服务动态、通报名单与调度会议程")
    q.add_argument("--month", type=a.month_arg, required=True, metavar="YYYY-MM", help="月份")
    _options(q)
    q = report.add_parser("assessment", help="考核排名：各项指标、扣分、得分、折算分与考核结果")
    _period(q)
    _options(q)
    q = report.add_parser("unit", help="一个单位的全部扣分及其依据")
    q.add_argument("unit", metavar="UNIT", help="单位简称，如 汉台区、人社局")
    _period(q)
    _options(q)
    p.set_defaults(handler=cmd_report)


def _period(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--year", type=a.year_arg, metavar="YYYY", help="考核年度")
    group.add_argument(
        "--period", type=a.period_arg, metavar="YYYY-MM|YYYY-Qn", help="考核期（月或季度）"
    )


def _options(p: argparse.ArgumentParser) -> None:
    a.add_format(p, a.REPORT_FORMATS)
    a.add_output(p)
    a.add_store(p)


def cmd_report(args: argparse.Namespace) -> int:
    """Build the asked report from the ledger and print or write it."""
    from kernel.assessment.reports import (
        assessment_report,
        emit_report,
        monthly_report,
        unit_report,
    )
    from kernel.assessment.scoring import FactCollector, assess
    from kernel.clocks.compute import ClockEvaluator

    ctx = open_context(args)
    try:
        rules = ctx.ruleset
        assert rules.deadlines is not None and rules.scoring is not None
        calendar = ctx.plugins.calendar(rules.directory)
        projector = ctx.ledger.project()
        events = list(ctx.ledger.events())
        if args.report_command == "monthly":
            evaluator = ClockEvaluator(rules.deadlines, calendar)
            report = monthly_report(args.month, rules, projector, events, evaluator)
        else:
            collector = FactCollector(rules.scoring, rules.deadlines, calendar, rules.reference)
            assessment = assess(collector, projector, events, args.period or args.year)
            report = (
                assessment_report(assessment)
                if args.report_command == "assessment"
                else unit_report(assessment, args.unit)
            )
    finally:
        ctx.close()
    text = emit_report(report, args.format, args.output)
    if text is not None:
        print(text)
    else:
        print(f"已写入 {args.output}")
    return EXIT_OK
