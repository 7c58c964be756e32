"""Ledger commands: ingest, ledger (台账), roster import, plugins, notify."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError, Problem, ProblemsError

if TYPE_CHECKING:
    from kernel.config import Config
    from kernel.ledger.ledger import Ledger
    from kernel.plugins import PluginHost
    from kernel.rules.model import RuleSet

FORMATS = (
    "text",
    "json",
    "csv",
    "xlsx",
)  # kernel.outputs.tables.FORMATS, without importing tabulate
REPORT_FORMATS = ("text", "md", "csv", "json", "xlsx")
BATCH = 500


@dataclass
class Context:
    """Everything a ledger command needs, opened from the options and huhang.yaml."""

    config: Config
    plugins: PluginHost
    ruleset: RuleSet
    ledger: Ledger

    def close(self) -> None:
        """Close the storage."""
        self.ledger.storage.close()


def open_context(args: argparse.Namespace) -> Context:
    from kernel.config import load_config
    from kernel.ledger.ledger import Ledger
    from kernel.plugins import get_plugin_manager
    from kernel.rules.load import load_rules

    """Open configuration, plugins, rules and the ledger store."""
    config = load_config(getattr(args, "config", None))
    plugins = get_plugin_manager(block=config.block, local_dir=config.plugin_dir)
    ruleset = load_rules(getattr(args, "rules", None) or config.rules)
    db = getattr(args, "db", None) or config.db
    storage = plugins.open_storage(db)
    notifiers = [str(n["name"]) for n in config.notifiers]
    ledger = Ledger(storage, ruleset.reference, plugins=plugins, notifiers=notifiers)
    return Context(config, plugins, ruleset, ledger)


def add_parsers(sub: Any, rules_arg: Any, date_arg: Any) -> None:
    """Register the ledger subcommands on the main parser."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db", default=None, metavar="URL", help="台账存储（默认 huhang.db，即 SQLite 文件）"
        )
        p.add_argument(
            "--config",
            type=Path,
            default=None,
            metavar="FILE",
            help="配置文件（默认 ./huhang.yaml）",
        )
        rules_arg(p)

    p = sub.add_parser("ingest", help="把 JSON Lines 事件文件导入台账")
    p.add_argument("file", metavar="FILE.jsonl", help="每行一个事件；- 表示标准输入")
    p.add_argument(
        "--grade", action="store_true", help="办理单上报后立即按规则分级（生成 ticket.graded 事件）"
    )
    common(p)

    p = sub.add_parser("ledger", help="输出问题台账（每个问题一行）")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="写入文件（xlsx 必须指定）"
    )
    p.add_argument(
        "--as-of", type=date_arg, default=None, metavar="DATE", help="超期判断日期（默认今天）"
    )
    common(p)

    p = sub.add_parser("roster", help="包抓企业基本情况表")
    roster = p.add_subparsers(dest="roster_command", metavar="ACTION", parser_class=type(p))
    roster.required = True
    q = roster.add_parser("import", help="导入《包抓企业基本情况表》（CSV 或 XLSX）")
    q.add_argument("file", type=Path, metavar="FILE")
    q.add_argument(
        "--date",
        type=date_arg,
        default=None,
        metavar="DATE",
        help="登记/变更日期（默认今天；表中“生效日期”优先）",
    )
    q.add_argument("--strict", action="store_true", help="有任何错误行时一行都不导入")
    common(q)

    p = sub.add_parser("sweep", help="时限巡查：生成预警、督办、通报、约谈通知（可重复运行）")
    p.add_argument(
        "--as-of", type=date_arg, default=None, metavar="DATE", help="巡查日期（默认今天）"
    )
    p.add_argument(
        "--shard",
        type=_shard_arg,
        default=None,
        metavar="K/N",
        help="多个进程分工：本进程处理第 K 份（共 N 份）",
    )
    common(p)

    p = sub.add_parser("report", help="月度通报、年度考核排名、单位扣分明细")
    report = p.add_subparsers(dest="report_command", metavar="REPORT", parser_class=type(p))
    report.required = True
    q = report.add_parser("monthly", help="月度服务动态、通报名单与调度会议程")
    q.add_argument("--month", type=month_arg, required=True, metavar="YYYY-MM")
    _report_options(q, common)
    q = report.add_parser("assessment", help="考核排名：各项指标、扣分、得分、折算分与考核结果")
    group = q.add_mutually_exclusive_group(required=True)
    group.add_argument("--year", type=_year_arg, metavar="YYYY")
    group.add_argument("--period", type=_period_arg, metavar="YYYY-MM|YYYY-Qn")
    _report_options(q, common)
    q = report.add_parser("unit", help="一个单位的全部扣分及其依据")
    q.add_argument("unit", metavar="UNIT", help="单位简称，如 汉台区、人社局")
    group = q.add_mutually_exclusive_group(required=True)
    group.add_argument("--year", type=_year_arg, metavar="YYYY")
    group.add_argument("--period", type=_period_arg, metavar="YYYY-MM|YYYY-Qn")
    _report_options(q, common)

    p = sub.add_parser("plugins", help="列出已加载的插件及其实现的钩子")
    p.add_argument("--config", type=Path, default=None, metavar="FILE")

    p = sub.add_parser("notify", help="发送通知发件箱中待发的通知")
    p.add_argument("--retry", action="store_true", help="同时重发已放弃（failed）的通知")
    common(p)


def _report_options(p: argparse.ArgumentParser, common: Any) -> None:
    p.add_argument("--format", choices=REPORT_FORMATS, default="text")
    p.add_argument(
        "--output", type=Path, default=None, metavar="FILE", help="写入文件（xlsx 必须指定）"
    )
    common(p)


def month_arg(text: str) -> str:
    """A ``YYYY-MM`` command-line argument."""
    try:
        dt.date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的月份（应为 YYYY-MM）") from None
    return text


def _year_arg(text: str) -> str:
    if not (len(text) == 4 and text.isdigit()):
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的年份（应为 YYYY）")
    return text


def _period_arg(text: str) -> str:
    if len(text) == 7 and text[4:6] == "-Q" and text[6] in "1234" and text[:4].isdigit():
        return text
    return month_arg(text)


def _shard_arg(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 应写成 K/N，如 0/3") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"'{text}'：K 应在 0 到 N-1 之间")
    return k, n


# --------------------------------------------------------------------------- ingest


def _lines(location: str) -> Iterator[tuple[int, str]]:
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


def _count_lines(location: str) -> int:
    if location == "-":
        return 0
    try:
        with open(location, "rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from kernel.evaluation.kernel import Kernel
    from kernel.inputs.sourcefile import SourceDoc
    from kernel.ledger.ingest import ingest_events
    from kernel.outputs.progress import Progress

    ctx = open_context(args)
    kernel = Kernel(ctx.ruleset) if args.grade else None
    progress = Progress(_count_lines(args.file), "导入")
    bad_lines: list[tuple[int, str]] = []
    numbers: list[int] = []

    def items() -> Iterator[tuple[dict[str, Any], SourceDoc | None, tuple[()]]]:
        for number, line in _lines(args.file):
            text = line.strip()
            if not text:
                progress.advance()
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                bad_lines.append(
                    (number, f"  第 {number} 行：不是有效的 JSON（第 {exc.colno} 列：{exc.msg}）")
                )
                progress.advance()
                continue
            if not isinstance(data, dict):
                bad_lines.append((number, f"  第 {number} 行：每行应是一个 JSON 对象（一个事件）"))
                progress.advance()
                continue
            numbers.append(number)
            yield data, SourceDoc(args.file, data), ()

    def label(index: int, data: dict[str, Any]) -> str:
        return f"  第 {numbers[index]} 行 {data.get('event_id', '')}"

    try:
        report = ingest_events(
            ctx.ledger, items(), kernel=kernel, label=label, on_batch=progress.advance
        )
    finally:
        progress.close()
        if kernel is not None:
            kernel.close()
        ctx.close()
    rejected = sorted(
        [*bad_lines, *((_line_of(text), text) for text in report.rejected)],
        key=lambda pair: pair[0],
    )
    graded = f"，自动分级 {len(report.graded)} 件" if args.grade else ""
    print(
        f"导入完成：接受 {report.accepted:,} 条，重复 {report.duplicates:,} 条，"
        f"拒绝 {len(rejected):,} 条{graded}（{ctx.ledger.storage.url}）"
    )
    if rejected:
        print("被拒绝的事件（未写入台账）：", file=sys.stderr)
        for _, text in rejected:
            print(text, file=sys.stderr)
        return 2
    return 0


def _line_of(text: str) -> int:
    """The line number in a rejection written by :func:`cmd_ingest` (grading ones sort last)."""
    head = text.strip()
    if head.startswith("第 "):
        return int(head.split()[1])
    return 1 << 30


# --------------------------------------------------------------------------- ledger, roster


def cmd_ledger(args: argparse.Namespace) -> int:
    from kernel.clocks.compute import ClockEvaluator
    from kernel.ledger.view import ledger_table
    from kernel.outputs.tables import emit

    ctx = open_context(args)
    try:
        assert ctx.ruleset.deadlines is not None
        calendar = ctx.plugins.calendar(ctx.ruleset.directory)
        evaluator = ClockEvaluator(ctx.ruleset.deadlines, calendar)
        as_of = args.as_of or dt.date.today()
        table = ledger_table(ctx.ledger.project(), evaluator, as_of)
    finally:
        ctx.close()
    text = emit(table, args.format, args.output)
    if text is not None:
        print(text)
    elif args.output is not None:
        print(f"已写入 {args.output}（{len(table.rows)} 行）")
    return 0


def cmd_roster(args: argparse.Namespace) -> int:
    from kernel.ledger.events import OFFICE
    from kernel.ledger.ingest import reason
    from kernel.ledger.ledger import SubmitResult
    from kernel.roster.importer import read_roster, roster_events

    ctx = open_context(args)
    try:
        rows = read_roster(args.file)
        existing = ctx.ledger.project().enterprises
        day = args.date or dt.date.today()
        result = roster_events(
            rows, ctx.ruleset.reference, existing, day=day, actor=OFFICE, source=args.file.name
        )
        for warning in result.warnings:
            print(f"提示：{warning}", file=sys.stderr)
        if result.problems:
            for problem in result.problems:
                print(problem, file=sys.stderr)
        if result.problems and args.strict:
            print(f"错误：{len(result.problems)} 个问题，按 --strict 未导入任何行", file=sys.stderr)
            return 2
        outcomes = ctx.ledger.submit_many([(event, None, ()) for event in result.events])
    finally:
        ctx.close()
    failures = [o for o in outcomes if isinstance(o, InputError)]
    for failure in failures:
        print(f"未写入：{reason(failure)}", file=sys.stderr)
    duplicates = sum(1 for o in outcomes if isinstance(o, SubmitResult) and not o.accepted)
    print(result.summary + (f"；其中 {duplicates} 条事件此前已导入" if duplicates else ""))
    return 2 if result.problems or failures else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.sweep import sweep, sweep_claimed

    ctx = open_context(args)
    try:
        assert ctx.ruleset.deadlines is not None
        evaluator = ClockEvaluator(
            ctx.ruleset.deadlines, ctx.plugins.calendar(ctx.ruleset.directory)
        )
        as_of = args.as_of or dt.date.today()
        if args.shard is None and hasattr(ctx.ledger.storage, "claim_tickets"):
            worker = f"{socket.gethostname()}:{os.getpid()}"
            result = sweep_claimed(ctx.ledger, evaluator, as_of, worker)
        else:
            result = sweep(ctx.ledger, evaluator, as_of, shard=args.shard)
    finally:
        ctx.close()
    print(result.summary())
    for error in result.errors:
        print(f"  {error}", file=sys.stderr)
    return 2 if result.errors else 0


def cmd_report(args: argparse.Namespace) -> int:
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
    return 0


# --------------------------------------------------------------------------- plugins, notify


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from kernel.config import load_config
    from kernel.plugins import get_plugin_manager

    config = load_config(args.config)
    host = get_plugin_manager(block=config.block, local_dir=config.plugin_dir)
    rows = [(info.name, info.source, "\n".join(info.hooks)) for info in host.describe()]
    print(tabulate(rows, headers=("插件", "来源", "实现的钩子"), tablefmt="simple"))
    print()
    print(f"存储后端：{'、'.join(f'{k}（{v[1]}）' for k, v in sorted(host.storage.items()))}")
    print(f"通知方式：{'、'.join(f'{k}（{v[1]}）' for k, v in sorted(host.notifiers.items()))}")
    if host.blocked:
        print(f"已禁用：{'、'.join(sorted(host.blocked))}")
    return 0


def cmd_notify(args: argparse.Namespace) -> int:
    from kernel.notify.outbox import deliver

    ctx = open_context(args)
    try:
        notifiers = {
            str(entry["name"]): ctx.plugins.notifier(
                str(entry["type"]),
                str(entry["name"]),
                {k: v for k, v in entry.items() if k not in ("name", "type")},
            )
            for entry in ctx.config.notifiers
        }
        if not notifiers:
            raise InputError("配置文件中没有 notifiers，无法发送通知（见 README“通知”一节）")
        report = deliver(
            ctx.ledger.storage,
            notifiers,
            now=dt.datetime.now(dt.UTC),
            retry_failed=args.retry,
        )
    finally:
        ctx.close()
    print(report.summary())
    for outcome in report.errors:
        print(f"  {outcome.notice_id} → {outcome.notifier}：{outcome.error}", file=sys.stderr)
    return 0 if not report.failed else 1
