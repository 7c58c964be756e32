"""``huhang calendar``: ask the working-day calendar."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from kernel.cli import args as a
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_OK

WEEKDAYS = "一二三四五六日"


def register(sub: Any) -> None:
    """``calendar add-days`` and ``calendar is-workday``."""
    p = sub.add_parser("calendar", help="查询工作日历")
    cal = p.add_subparsers(dest="calendar_command", metavar="ACTION", parser_class=type(p))
    cal.required = True
    q = cal.add_parser("add-days", help="DATE 之后第 N 个工作日")
    q.add_argument("date", type=a.date_arg, metavar="DATE", help="起算日期")
    q.add_argument("days", type=a.count_arg, metavar="N", help="工作日数")
    q.add_argument("--inclusive", action="store_true", help="含本数：DATE 若是工作日算第 1 天")
    a.add_rules(q)
    q.set_defaults(handler=cmd_add_days)
    q = cal.add_parser("is-workday", help="DATE 是否为工作日")
    q.add_argument("date", type=a.date_arg, metavar="DATE", help="日期")
    a.add_rules(q)
    q.set_defaults(handler=cmd_is_workday)


def cmd_is_workday(args: argparse.Namespace) -> int:
    """Whether a day is a working day (exit 1 when it is not)."""
    from kernel.rules.load import load_rules

    calendar = load_rules(args.rules).calendar
    assert calendar is not None
    day: dt.date = args.date
    works = calendar.is_workday(day)
    holiday = calendar.holiday_name(day)
    weekday = WEEKDAYS[day.weekday()]
    if works:
        extra = "（调休上班）" if day.weekday() >= 5 else ""
        print(f"{day}（星期{weekday}）是工作日{extra}")
    else:
        print(f"{day}（星期{weekday}）不是工作日" + (f"（{holiday}）" if holiday else "（周末）"))
    return EXIT_OK if works else EXIT_INCOMPLETE


def cmd_add_days(args: argparse.Namespace) -> int:
    """The N-th working day after a date."""
    from kernel.calendar.workdays import CountingRule
    from kernel.rules.load import load_rules

    calendar = load_rules(args.rules).calendar
    assert calendar is not None
    rule = CountingRule.INCLUSIVE if args.inclusive else CountingRule.NEXT_DAY
    result = calendar.add_workdays(args.date, args.days, rule)
    how = "含本数" if args.inclusive else "从次日起算"
    print(
        f"{args.date} 起第 {args.days} 个工作日（{how}）：{result}（星期{WEEKDAYS[result.weekday()]}）"
    )
    return EXIT_OK
