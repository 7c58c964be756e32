"""Ledger commands: ``ingest`` (events into the ledger) and ``ledger`` (the 台账)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kernel.cli import args as a
from kernel.cli.check import register_check
from kernel.cli.clock import today
from kernel.cli.context import open_context
from kernel.cli.exits import EXIT_INPUT, EXIT_OK
from kernel.errors import InputError

if TYPE_CHECKING:
    import datetime as dt

    from kernel.clocks.compute import ClockEvaluator
    from kernel.inputs.sourcefile import SourceDoc
    from kernel.ledger.ledger import Ledger
    from kernel.outputs.tables import Table
    from kernel.rules.reference import Reference
    from kernel.storage.readmodel_sql import TicketQuery


def register(sub: Any) -> None:
    """``ingest`` and ``ledger``."""
    p = sub.add_parser("ingest", help="把 JSON Lines 事件文件导入台账")
    p.add_argument("file", metavar="FILE.jsonl", help="每行一个事件；- 表示标准输入")
    p.add_argument(
        "--grade", action="store_true", help="办理单上报后立即按规则分级（生成 ticket.graded 事件）"
    )
    a.add_as_of(p, "判断事件日期是否合理的基准日期（见配置 date_window）")
    a.add_store(p)
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("ledger", help="输出问题台账（每个问题一行）")
    a.add_format(p, a.TABLE_FORMATS)
    a.add_output(p)
    a.add_as_of(p, "超期判断日期")
    p.add_argument("--state", metavar="STATE", help="只列出此办理状态的问题（如 已交办）")
    p.add_argument("--primary", metavar="UNIT", help="只列出此主办单位的问题")
    p.add_argument("--territory", metavar="NAME", help="只列出此县区企业的问题")
    p.add_argument("--grade", metavar="GRADE", help="只列出此等级的问题")
    p.add_argument(
        "--unit", metavar="UNIT", help="只列出此单位有关的问题（包抓、主办、协办、反馈或协调）"
    )
    p.add_argument(
        "--search",
        metavar="TEXT",
        help="只列出编号、描述、企业名称或主办单位含此文字的问题（不区分英文大小写）",
    )
    p.add_argument(
        "--overdue",
        choices=("是", "否"),
        help="只列出（截至 --as-of）超期（是）或未超期（否）的问题",
    )
    p.add_argument("--limit", type=a.positive_arg, metavar="N", help="最多列出 N 件（分页）")
    p.add_argument(
        "--offset", type=a.non_negative_arg, default=0, metavar="N", help="跳过前 N 件（分页）"
    )
    a.add_store(p)
    p.set_defaults(handler=cmd_ledger)
    register_check(p)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate, check and store a JSON-lines file of events; grade reports with ``--grade``.

    Each line is read on its own (see :mod:`kernel.inputs.jsonlines`): a bad line is refused
    with its number and the others are stored. Whatever stops an ingest half-way, the summary
    says how many events were stored before it.
    """
    from kernel.evaluation.kernel import Kernel
    from kernel.inputs.jsonlines import count_lines, open_lines, read_lines
    from kernel.inputs.sourcefile import SourceDoc
    from kernel.ledger.ingest import IngestReport, ingest_events
    from kernel.outputs.progress import Progress

    handle = open_lines(args.file)  # a missing file is refused before any ledger is opened
    try:
        ctx = open_context(args, create=True)
    except BaseException:
        handle.close()
        raise
    kernel = Kernel(ctx.ruleset) if args.grade else None
    window = ctx.config.date_window(args.as_of or today())
    progress = Progress(count_lines(args.file), "导入")
    bad_lines: list[tuple[int, str]] = []
    numbers: list[int] = []

    def items() -> Iterator[tuple[dict[str, Any], SourceDoc | None, tuple[()]]]:
        for line in read_lines(handle, args.file):
            if line.problem is not None:
                bad_lines.append((line.number, f"  第 {line.number} 行：{line.problem.message}"))
                progress.advance()
                continue
            if not isinstance(line.data, dict):
                bad_lines.append(
                    (line.number, f"  第 {line.number} 行：每行应是一个 JSON 对象（一个事件）")
                )
                progress.advance()
                continue
            numbers.append(line.number)
            yield line.data, SourceDoc(args.file, line.data), ()

    def label(index: int, data: dict[str, Any]) -> str:
        return f"  第 {numbers[index]} 行 {data.get('event_id', '')}"

    report = IngestReport()
    try:
        ingest_events(
            ctx.ledger,
            items(),
            kernel=kernel,
            label=label,
            on_batch=progress.advance,
            dates=window,
            report=report,
        )
    except BaseException:
        print(
            f"导入中止：此前已写入 {report.accepted:,} 条（{ctx.ledger.storage.url}），"
            "其余未写入；修正后重新导入即可（已写入的会计为重复）",
            file=sys.stderr,
        )
        raise
    finally:
        progress.close()
        handle.close()
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
        return EXIT_INPUT
    return EXIT_OK


def _line_of(text: str) -> int:
    """The line number in a rejection written by :func:`cmd_ingest` (grading ones sort last)."""
    head = text.strip()
    if head.startswith("第 "):
        return int(head.split()[1])
    return 1 << 30


def _query(args: argparse.Namespace) -> TicketQuery | None:
    """The read-model query of ``huhang ledger``'s filters and page (None: the whole 台账)."""
    from kernel.storage.readmodel_sql import TicketQuery
    from kernel.vocabulary import TICKET_STATE_WORDS

    filters: dict[str, str] = {}
    if args.state is not None:
        by_word = {word: state for state, word in TICKET_STATE_WORDS.items()}
        state = by_word.get(args.state, args.state)
        if state not in TICKET_STATE_WORDS:
            words = "、".join(TICKET_STATE_WORDS.values())
            raise InputError(f"--state 的值 '{args.state}' 不是办理状态（可用：{words}）")
        filters["state"] = state
    for option, column in (("primary", "primary_unit"), ("territory", "territory")):
        if getattr(args, option) is not None:
            filters[column] = getattr(args, option)
    if args.grade is not None:
        filters["grade"] = args.grade
    text = (args.search or "").strip().lower()
    if len(text) > 100:
        raise InputError("--search 的文字太长（最多 100 个字）")
    plain = not filters and args.unit is None and not text and args.overdue is None
    if plain and args.limit is None and not args.offset:
        return None
    return TicketQuery(
        filters=filters,
        offset=args.offset,
        limit=args.limit,
        units=() if args.unit is None else (args.unit,),
        text=text,
    )


def _page(
    ledger: Ledger,
    query: TicketQuery,
    evaluator: ClockEvaluator,
    as_of: dt.date,
    overdue: bool | None = None,
) -> Table:
    """One page of the 台账 from the read model (only its tickets' events are read); with
    ``overdue``, only the tickets that are (or are not) overdue as of ``as_of``
    (:mod:`kernel.clocks.lists`: the sweep's stored flags, the others evaluated)."""
    from kernel.assessment.ledger_table import ledger_table
    from kernel.clocks.lists import overdue_ids
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(ledger)
    if overdue is None:
        page = model.tickets(query)
        total, ids = page.total, [t.ticket_id for t in page.items]
    else:
        matching = overdue_ids(ledger, evaluator, query, as_of, overdue)
        end = None if query.limit is None else query.offset + query.limit
        total, ids = len(matching), matching[query.offset : end]
    states = list(model.states(ids))
    first, last = query.offset + 1, query.offset + len(states)
    shown = f"第 {first} 件" if first == last else f"第 {first}–{last} 件"
    part = f"{shown}，共 {total} 件" if states else f"共 {total} 件"
    return ledger_table(states, evaluator, as_of, part=part)


def _whole(ledger: Ledger, evaluator: ClockEvaluator, as_of: dt.date) -> Table:
    """The whole 台账. With a current read model: the ticket ids in 台账 order from it and
    the states from their own events, a batch at a time (no whole projection); else from a
    replay of the ledger."""
    from kernel.assessment.ledger_table import ledger_table
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(ledger)
    if not model.stored:
        return ledger_table(ledger.project(), evaluator, as_of)
    return ledger_table(model.states(model.all_ticket_ids()), evaluator, as_of)


#: the options naming a unit of the rules' reference, with the reference list each names
UNIT_OPTIONS = (("unit", "units"), ("primary", "units"), ("territory", "territories"))


def _known_units(args: argparse.Namespace, reference: Reference) -> None:
    """Refuse a ``--unit``, ``--primary`` or ``--territory`` that the rules do not know (it
    would give an empty 台账), with the closest known ids."""
    from kernel.inputs.suggest import close_matches
    from kernel.rules.reference import REF_WORDS, UNIT_KINDS

    if "units" not in reference.loaded:
        return
    for option, ref in UNIT_OPTIONS:
        value = getattr(args, option)
        if value is None or reference.check(ref, value) is None:
            continue
        word = REF_WORDS[ref][1]
        unit = reference.units.get(value)
        if unit is not None:  # a unit, of another kind
            raise InputError(f"--{option} 的值 '{value}' 是{UNIT_KINDS[unit.kind]}，不是{word}")
        found = close_matches(value, reference.ids(ref), limit=3)
        quoted = "、".join(f"'{f}'" for f in found)
        hint = f"，是否想写 {quoted}？" if found else ""
        raise InputError(f"--{option} 的值 '{value}' 不是规则中登记的{word}{hint}")


def cmd_ledger(args: argparse.Namespace) -> int:
    """The 台账: one row per problem."""
    from kernel.clocks.compute import ClockEvaluator
    from kernel.outputs.tables import emit

    handler = getattr(args, "ledger_handler", None)
    if handler is not None:  # huhang ledger check
        code: int = handler(args)
        return code
    if args.format == "xlsx" and args.output is None:  # before any ledger is opened
        raise InputError("xlsx 格式需要用 --output 指定文件")
    query = _query(args)
    ctx = open_context(args)
    try:
        assert ctx.ruleset.deadlines is not None
        evaluator = ClockEvaluator(ctx.ruleset.deadlines, ctx.calendar())
        _known_units(args, ctx.ruleset.reference)
        if query is None:
            table = _whole(ctx.ledger, evaluator, args.as_of or today())
        else:
            overdue = None if args.overdue is None else args.overdue == "是"
            table = _page(ctx.ledger, query, evaluator, args.as_of or today(), overdue)
    finally:
        ctx.close()
    text = emit(table, args.format, args.output)
    if text is not None:
        print(text)
    elif args.output is not None:
        print(f"已写入 {args.output}（{len(table.rows)} 行）")
    return EXIT_OK
