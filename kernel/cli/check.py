"""``huhang ledger check [--repair]``: find (and grade) tickets left reported but ungraded.

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
    """Add ``check`` as the optional action of ``huhang ledger``."""
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


def cmd_check(args: argparse.Namespace) -> int:
    """List the tickets stuck in the reported state; with ``--repair``, grade them."""
    from kernel.cli.context import open_context
    from kernel.errors import InputError
    from kernel.evaluation.kernel import Kernel
    from kernel.ledger.ingest import reason

    ctx = open_context(args)
    try:
        projector = ctx.ledger.project()
        stuck = sorted(
            (state for state in projector.tickets.values() if state.state == "reported"),
            key=lambda state: (state.reported_on or state.collected_on, state.ticket_id),
        )
        if not stuck:
            print(
                f"台账检查通过：{len(projector.tickets):,} 件办理单中没有已上报但未分级的"
                f"（{ctx.ledger.storage.url}）"
            )
            return EXIT_OK
        print(f"发现 {len(stuck)} 件已上报但未分级的办理单（{ctx.ledger.storage.url}）：")
        for state in stuck:
            print(f"  {state.ticket_id}（{state.reported_on} 上报）")
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
