"""``huhang ledger check [--repair]``: find (and grade) tickets left reported but ungraded;
``huhang ledger rebuild [--check]``: recompute (or compare) the read model from the events.

Grading is stored in the transaction of the report, so a ledger written by this version has no
such ticket; one written by an older version, or by ``ingest`` without ``--grade`` whose
tickets were never graded, may. ``check`` lists them (exit 1); ``--repair`` grades each with
the current rules, as ``ingest --grade`` would have (event ``<ticket>:graded``, dated the
report).
"""

from __future__ import annotations

import argparse
import sys

from kernel.cli import args as a
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_INPUT, EXIT_OK


def register_check(ledger_parser: argparse.ArgumentParser) -> None:
    """Add ``check`` and ``rebuild`` as the optional actions of ``huhang ledger``."""
    actions = ledger_parser.add_subparsers(
        dest="ledger_command", metavar="ACTION", parser_class=type(ledger_parser)
    )
    p = actions.add_parser(
        "check", help="检查台账：找出已上报但未分级的办理单（--repair 补做分级）"
    )
    p.add_argument(
        "--repair", action="store_true", help="按现行规则为这些办理单补做分级（ticket.graded）"
    )
    a.add_store(p)
    p.set_defaults(ledger_handler=cmd_check)
    p = actions.add_parser(
        "rebuild",
        help="由全部事件重建读取模型（办理单与企业的当前状态表），"
        "并清空考核事实缓存（仅为缓存，下次出考核报告时重算）；--check 只比较",
    )
    p.add_argument(
        "--check", action="store_true", help="只比较读取模型与重放结果，不写入（不一致时退出码 1）"
    )
    a.add_store(p)
    p.set_defaults(ledger_handler=cmd_rebuild)


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Rebuild the read model from a full replay, or (``--check``) compare it with one."""
    from kernel.cli.context import open_context
    from kernel.ledger.readmodel import ReadModel

    ctx = open_context(args)
    try:
        model = ReadModel(ctx.ledger)
        url = ctx.ledger.storage.url
        if not ctx.ledger.storage.has_read_model:
            print(f"此存储不保存读取模型，查询时由事件重放（{url}）")
            return EXIT_OK
        if args.check:
            found = model.differences()
            if not found:
                print(f"读取模型与事件重放一致（{url}）")
                return EXIT_OK
            print(f"读取模型与事件重放不一致（{url}），前 {len(found)} 处：")
            for line in found:
                print(f"  {line}")
            print("用 huhang ledger rebuild 重建读取模型", file=sys.stderr)
            return EXIT_INCOMPLETE
        tickets, enterprises = model.rebuild()
    finally:
        ctx.close()
    print(
        f"读取模型已重建：办理单 {tickets:,} 件，企业 {enterprises:,} 家；"
        f"考核事实缓存已清空，下次出考核报告时重算（{url}）"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """List the tickets stuck in the reported state; with ``--repair``, grade them."""
    from kernel.cli.context import open_context
    from kernel.errors import InputError
    from kernel.evaluation.kernel import Kernel
    from kernel.ledger.ingest import reason
    from kernel.ledger.readmodel import ReadModel, TicketQuery

    ctx = open_context(args)
    try:
        model = ReadModel(ctx.ledger)  # the read model: no replay of the whole ledger
        everything = model.tickets(TicketQuery(limit=0)).total
        found = model.tickets(TicketQuery(filters={"state": "reported"}, limit=None)).items
        stuck = sorted(found, key=lambda t: (t.reported_on or t.collected_on, t.ticket_id))
        if not stuck:
            print(
                f"台账检查通过：{everything:,} 件办理单中没有已上报但未分级的"
                f"（{ctx.ledger.storage.url}）"
            )
            return EXIT_OK
        print(f"发现 {len(stuck)} 件已上报但未分级的办理单（{ctx.ledger.storage.url}）：")
        for ticket in stuck:
            print(f"  {ticket.ticket_id}（{ticket.reported_on} 上报）")
        if not args.repair:
            print(
                "这些办理单不能交办；用 huhang ledger check --repair 按现行规则补做分级",
                file=sys.stderr,
            )
            return EXIT_INCOMPLETE
        with Kernel(ctx.ruleset) as kernel:
            outcomes = ctx.ledger.grade_reported([s.ticket_id for s in stuck], kernel)
    finally:
        ctx.close()
    graded = [tid for tid, o in outcomes if not isinstance(o, InputError) and o.accepted]
    failed = [(tid, o) for tid, o in outcomes if isinstance(o, InputError)]
    print(f"已补做分级 {len(graded)} 件")
    for ticket_id, error in failed:
        print(f"  未能分级 {ticket_id}：{reason(error)}", file=sys.stderr)
    return EXIT_INPUT if failed else EXIT_OK
