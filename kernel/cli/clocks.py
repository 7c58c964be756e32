"""Clock commands: a history's deadlines, and the enterprises missing their monthly contact."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kernel.cli import args as a
from kernel.cli.clock import today
from kernel.cli.exits import EXIT_OK


def register(sub: Any) -> None:
    """``deadlines`` and ``contacts``."""
    p = sub.add_parser("deadlines", help="按事件记录计算办理单的各项时限、预警和督办")
    p.add_argument("history", metavar="HISTORY", help="事件记录 YAML/JSON 文件，- 表示标准输入")
    a.add_as_of(p)
    a.add_rules(p)
    a.add_config(p)
    a.add_format(p)
    p.set_defaults(handler=cmd_deadlines)

    p = sub.add_parser("contacts", help="列出未按月联系的企业（每月不少于 1 次）")
    p.add_argument("history", metavar="EVENTS", help="事件记录 YAML/JSON 文件")
    a.add_as_of(p)
    p.add_argument(
        "--from", dest="first", type=a.month_arg, default=None, metavar="YYYY-MM", help="起始月份"
    )
    p.add_argument(
        "--to", dest="last", type=a.month_arg, default=None, metavar="YYYY-MM", help="截止月份"
    )
    a.add_rules(p)
    a.add_format(p)
    p.set_defaults(handler=cmd_contacts)


def cmd_deadlines(args: argparse.Namespace) -> int:
    """Every clock of every ticket in a history file, as of a day."""
    from kernel.calendar.provisional import apply_policy
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.steps import step_guard
    from kernel.clocks.view import render_clocks
    from kernel.config import load_config
    from kernel.ledger.history import load_history
    from kernel.rules.load import load_rules

    config = load_config(getattr(args, "config", None))
    ruleset = load_rules(args.rules or config.rules)
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    ledger = load_history(args.history, ruleset.reference, step_guard(ruleset))
    as_of = args.as_of or today()
    calendar = apply_policy(ruleset.calendar, config.missing_year)
    evaluator = ClockEvaluator(ruleset.deadlines, calendar)
    projector = ledger.project()
    results = [(evaluator.evaluate(state, as_of), state) for state in projector.tickets.values()]
    if args.format == "json":
        print(json.dumps([r.to_dict() for r, _ in results], ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(render_clocks(r, s) for r, s in results) or "事件记录中没有办理单")
    return EXIT_OK


def cmd_contacts(args: argparse.Namespace) -> int:
    """Enterprises without their monthly contact, month by month."""
    from kernel.clocks.monthly import missed_contacts, month_label, months_between
    from kernel.clocks.steps import step_guard
    from kernel.clocks.view import render_missed
    from kernel.ledger.history import load_history
    from kernel.rules.load import load_rules

    ruleset = load_rules(args.rules)
    assert ruleset.deadlines is not None
    ledger = load_history(args.history, ruleset.reference, step_guard(ruleset))
    as_of = args.as_of or today()
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
