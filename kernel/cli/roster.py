"""``huhang roster import``: the 《包抓企业基本情况表》 into the ledger."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.cli import args as a
from kernel.cli.clock import today
from kernel.cli.context import open_context
from kernel.cli.exits import EXIT_INPUT, EXIT_OK
from kernel.errors import InputError, Problem

if TYPE_CHECKING:
    from kernel.ledger.ledger import Ledger
    from kernel.ledger.projection import Enterprise


def register(sub: Any) -> None:
    """``roster import``."""
    p = sub.add_parser("roster", help="包抓企业基本情况表")
    roster = p.add_subparsers(dest="roster_command", metavar="ACTION", parser_class=type(p))
    roster.required = True
    q = roster.add_parser("import", help="导入《包抓企业基本情况表》（CSV 或 XLSX）")
    q.add_argument("file", type=Path, metavar="FILE", help="CSV 或 XLSX 文件")
    q.add_argument(
        "--date",
        type=a.date_arg,
        default=None,
        metavar="DATE",
        help="登记/变更日期（默认今天；表中“生效日期”优先）",
    )
    q.add_argument("--strict", action="store_true", help="有任何错误行时一行都不导入")
    a.add_store(q)
    q.set_defaults(handler=cmd_roster_import)


def current_enterprises(ledger: Ledger) -> dict[str, Enterprise]:
    """Every registered enterprise as of the ledger's last event, replayed from the
    ``enterprise.*`` events alone (the type index on SQLite and PostgreSQL): what
    ``ledger.project().enterprises`` gives, without the tickets' events."""
    from kernel.ledger.ledger import Projector
    from kernel.ledger.readmodel import ENTERPRISE_TYPES

    return Projector(ledger.reference).feed_all(ledger.events(types=ENTERPRISE_TYPES)).enterprises


def cmd_roster_import(args: argparse.Namespace) -> int:
    """Import the roster: registrations and changes as ledger events."""
    from kernel.ledger.events import OFFICE
    from kernel.ledger.ingest import reason
    from kernel.ledger.ledger import SubmitResult
    from kernel.roster.importer import read_roster, roster_events

    rows = read_roster(args.file)  # a bad file is refused before any ledger is opened
    ctx = open_context(args, create=True)
    try:
        existing = current_enterprises(ctx.ledger)
        day = args.date or today()
        result = roster_events(
            rows, ctx.ruleset.reference, existing, day=day, actor=OFFICE, source=args.file.name
        )
        window = ctx.config.date_window(today())
        late = [(e, window.problem(e.to_dict())) for e in result.events]
        if any(why for _, why in late):
            result = replace(
                result,
                events=tuple(e for e, why in late if why is None),
                problems=(
                    *result.problems,
                    *(
                        Problem(str(args.file), 0, 0, "DATE-VALUE", f"{e.enterprise}：{why}")
                        for e, why in late
                        if why is not None
                    ),
                ),
            )
        for warning in result.warnings:
            print(f"提示：{warning}", file=sys.stderr)
        if result.problems:
            for problem in result.problems:
                print(problem, file=sys.stderr)
        if result.problems and args.strict:
            print(f"错误：{len(result.problems)} 个问题，按 --strict 未导入任何行", file=sys.stderr)
            return EXIT_INPUT
        outcomes = ctx.ledger.submit_many([(event, None, ()) for event in result.events])
    finally:
        ctx.close()
    failures = [o for o in outcomes if isinstance(o, InputError)]
    for failure in failures:
        print(f"未写入：{reason(failure)}", file=sys.stderr)
    duplicates = sum(1 for o in outcomes if isinstance(o, SubmitResult) and not o.accepted)
    print(result.summary + (f"；其中 {duplicates} 条事件此前已导入" if duplicates else ""))
    return EXIT_INPUT if result.problems or failures else EXIT_OK
