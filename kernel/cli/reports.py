"""``huhang report``: the monthly report, its 调度会 agenda, the assessment and one unit's deductions."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from kernel.cli import args as a
from kernel.cli.clock import today
from kernel.cli.context import open_context
from kernel.cli.exits import EXIT_OK
from kernel.errors import InputError


def register(sub: Any) -> None:
    """``report monthly``, ``report assessment`` and ``report unit``."""
    p = sub.add_parser("report", help="月度通报、年度考核排名、单位扣分明细")
    report = p.add_subparsers(dest="report_command", metavar="REPORT", parser_class=type(p))
    report.required = True
    q = report.add_parser("monthly", help="月度服务动态、通报名单与调度会议程")
    q.add_argument("--month", type=a.month_arg, required=True, metavar="YYYY-MM", help="月份")
    _options(q, DOCUMENT_FORMATS)
    _document_options(q)
    q = report.add_parser("agenda", help="调度会议程：需市级部门协调研究的问题")
    q.add_argument("--month", type=a.month_arg, required=True, metavar="YYYY-MM", help="月份")
    _options(q, DOCUMENT_FORMATS)
    _document_options(q)
    q = report.add_parser("assessment", help="考核排名：各项指标、扣分、得分、折算分与考核结果")
    _period(q)
    _options(q)
    q = report.add_parser("unit", help="一个单位的全部扣分及其依据")
    q.add_argument("unit", metavar="UNIT", help="单位简称，如 汉台区、人社局")
    _period(q)
    _options(q)
    q = report.add_parser(
        "prefill", help="预先计算报告缓存：当年考核、当月和上月的月度通报（供每晚定时运行）"
    )
    a.add_as_of(q, "按哪天的当年和当月")
    a.add_store(q)
    p.set_defaults(handler=cmd_report)


def _period(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--year", type=a.year_arg, metavar="YYYY", help="考核年度")
    group.add_argument(
        "--period", type=a.period_arg, metavar="YYYY-MM|YYYY-Qn", help="考核期（月或季度）"
    )


DOCUMENT_FORMATS = (*a.REPORT_FORMATS, "docx")


def _document_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--doc-number",
        default="",
        metavar="文号",
        help="Word 文档的发文字号，如 汉助商办发〔2026〕12号",
    )
    p.add_argument(
        "--issued", type=a.date_arg, default=None, metavar="DATE", help="成文日期（默认今天）"
    )


def _options(p: argparse.ArgumentParser, formats: tuple[str, ...] = a.REPORT_FORMATS) -> None:
    a.add_format(p, formats)
    a.add_output(p)
    a.add_store(p)


def cmd_report(args: argparse.Namespace) -> int:
    """Build the asked report from the ledger and print or write it."""
    from kernel.ledger.ledger import paused_gc

    if args.report_command == "prefill":
        return cmd_prefill(args)
    if args.format == "xlsx" and args.output is None:  # before any ledger is opened
        raise InputError("xlsx 格式需要用 --output 指定文件")
    ctx = open_context(args)
    # the reports hold every fact of the period at once and build no cycles worth collecting:
    # the collector's passes over that heap would double the time (benchmarks.md, R3)
    with paused_gc():
        return _report(args, ctx)


def _report(args: argparse.Namespace, ctx: Any) -> int:
    """The asked report from an open context (closed here)."""
    from kernel.assessment.facts import facts_assess
    from kernel.assessment.monthly_cache import cached_monthly_report
    from kernel.assessment.reports import (
        agenda_report,
        assessment_report,
        emit_report,
        unit_report,
    )
    from kernel.assessment.scoring import FactCollector
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.view import clock_titles

    try:
        rules = ctx.ruleset
        assert rules.deadlines is not None and rules.scoring is not None
        calendar = ctx.calendar()
        if args.report_command in ("monthly", "agenda"):
            # the tickets' parts cached per month, the changed tickets projected from their
            # own events (the whole ledger on a backend without a read model)
            evaluator = ClockEvaluator(rules.deadlines, calendar)
            report = cached_monthly_report(ctx.ledger, rules, evaluator, args.month)
            if args.report_command == "agenda":
                report = agenda_report(report)
        else:
            collector = FactCollector(rules.scoring, rules.deadlines, calendar, rules.reference)
            # cached per-ticket facts, the changed tickets projected from their own events
            # (a streaming pass on a backend without a read model): same scores as
            # scoring.assess over a whole projection
            assessment = facts_assess(collector, ctx.ledger, args.period or args.year)
            titles = clock_titles(rules.deadlines)
            report = (
                # the JSON form (a dict per deduction) only when JSON is printed
                assessment_report(assessment, titles, data=args.format == "json")
                if args.report_command == "assessment"
                else unit_report(assessment, args.unit, titles)
            )
    finally:
        ctx.close()
    if args.format == "docx":
        from kernel.assessment.documents import write_docx

        if args.output is None:
            raise InputError("Word 格式必须用 --output 指定文件")
        write_docx(
            report,
            args.report_command,
            rules.home("templates"),
            args.output,
            doc_number=args.doc_number,
            issued=args.issued or today(),
        )
        print(f"已写入 {args.output}")
        return EXIT_OK
    text = emit_report(report, args.format, args.output)
    if text is not None:
        print(text)
    else:
        print(f"已写入 {args.output}")
    return EXIT_OK


def cmd_prefill(args: argparse.Namespace) -> int:
    """Fill the caches the reports read (the year's assessment facts, the parts of this month's
    and last month's report), so that the next report of the day only computes what changes
    after: what a nightly job runs after the sweep."""
    from kernel.assessment.facts import facts_tallies
    from kernel.assessment.monthly_cache import monthly_with_stats
    from kernel.assessment.scoring import FactCollector, period_bounds
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.monthly import month_label
    from kernel.ledger.ledger import paused_gc

    day = args.as_of or today()
    ctx = open_context(args)
    try:
        if not ctx.ledger.storage.has_read_model:
            print("这个账本的存储没有读取模型（内存或 JSON Lines），报告不使用缓存，无需预先计算")
            return EXIT_OK
        rules = ctx.ruleset
        assert rules.deadlines is not None and rules.scoring is not None
        calendar = ctx.calendar()
        collector = FactCollector(rules.scoring, rules.deadlines, calendar, rules.reference)
        evaluator = ClockEvaluator(rules.deadlines, calendar)
        previous = month_label(day.replace(day=1) - dt.timedelta(days=1))
        lines = []
        with paused_gc():
            _, _, year_end = period_bounds(str(day.year))
            _, facts = facts_tallies(collector, ctx.ledger, year_end)
            lines.append(f"{day.year} 年考核：沿用缓存 {facts.cached} 项，重算 {facts.computed} 项")
            for month in (previous, month_label(day)):
                _, stats = monthly_with_stats(ctx.ledger, rules, evaluator, month)
                assert stats is not None
                lines.append(
                    f"{month} 月度通报：沿用缓存 {stats.cached} 件，重算 {stats.computed} 件"
                )
    finally:
        ctx.close()
    print("报告缓存已预先计算（按 " + day.isoformat() + "）：" + "；".join(lines))
    return EXIT_OK
