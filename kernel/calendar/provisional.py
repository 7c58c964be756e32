"""A provisional year (暂定) while the State Council's notice for it is not out.

With ``calendar: {missing_year: provisional}`` in huhang.yaml, the years after the last official
file are built from the law alone: weekends, the statutory holidays of
《全国年节及纪念日放假办法》 in force (lunar dates and 清明 from :mod:`kernel.calendar.lunar`),
and, as its article 6 requires, a weekday off in place of each statutory day that falls on a
Saturday or Sunday (补假). There are no makeup workdays (调休上班): only the notice can say which
weekends are worked, so a provisional year has more working days around the long holidays than
the real one will, and dates computed through it may move when the notice lands
(``huhang calendar diff YYYY`` lists what moves).

The default, ``refuse``, keeps the calendar closed: a question about a year without a file is an
error naming the year.
"""

from __future__ import annotations

import datetime as dt

from kernel.calendar import lunar
from kernel.calendar.statutory import FESTIVALS, law_in_force
from kernel.calendar.workdays import CalendarYear, Holiday, WorkCalendar
from kernel.errors import CalendarError

__all__ = [
    "HORIZON",
    "POLICIES",
    "PROVISIONAL",
    "REFUSE",
    "apply_policy",
    "calendar_reminders",
    "provisional_year",
    "with_provisional",
]

REFUSE, PROVISIONAL = "refuse", "provisional"
POLICIES = (REFUSE, PROVISIONAL)
#: How many years after the last official file are built provisionally.
HORIZON = 2

_ONE_DAY = dt.timedelta(days=1)


def provisional_year(year: int) -> CalendarYear:
    """The provisional calendar of ``year`` under the law in force on its 1 January."""
    law = law_in_force(dt.date(year, 1, 1))
    if law is None or not lunar.FIRST_YEAR <= year <= lunar.LAST_YEAR:
        raise CalendarError(f"无法推算 {year} 年的暂定日历（没有适用的放假办法或超出农历换算范围）")
    taken: set[dt.date] = set()
    groups: list[tuple[list[str], set[dt.date]]] = []
    for festival in FESTIVALS:
        days = sorted(law.days(festival, year))
        if not days:
            continue
        off = set(days)
        # 补假: a statutory day on a weekend, or one already off for another festival, is
        # given back on the next weekday that is not off
        owed = (
            sum(1 for d in days if d.weekday() >= 5 or d in taken) if law.substitute_weekend else 0
        )
        day = days[-1] + _ONE_DAY
        while owed:
            if day.weekday() < 5 and day not in taken and day not in off:
                off.add(day)
                owed -= 1
            day += _ONE_DAY
        taken |= off
        groups.append(([festival], off))
    merged: list[tuple[list[str], set[dt.date]]] = []
    for names, off in sorted(groups, key=lambda g: min(g[1])):
        if merged and min(off) <= max(merged[-1][1]) + _ONE_DAY:
            merged[-1][0].extend(names)
            merged[-1][1].update(off)
        else:
            merged.append((list(names), set(off)))
    holidays = tuple(
        Holiday("、".join(names), min(off), max(off), "暂定：按法定假日及周末补假推算")
        for names, off in merged
    )
    return CalendarYear(
        year=year,
        source=f"暂定：按{law.label}推算（{year} 年放假安排尚未公布）",
        published=law.effective,
        holidays=holidays,
        makeup_workdays=(),
        note="暂定年份：只含法定假日和周末补假，没有调休上班日；国务院办公厅的通知公布后应导入正式文件。",
        path=f"（暂定 {year} 年）",
        provisional=True,
    )


def with_provisional(calendar: WorkCalendar, horizon: int = HORIZON) -> WorkCalendar:
    """``calendar`` plus provisional years for the ``horizon`` years after its last file."""
    official = calendar.official_years
    if not official:
        return calendar
    last = max(official)
    extra = []
    for year in range(last + 1, last + horizon + 1):
        if year in calendar.years:
            continue
        try:
            extra.append(provisional_year(year))
        except CalendarError:
            break
    if not extra:
        return calendar
    return WorkCalendar([*calendar.year_files(), *extra])


def apply_policy(calendar: WorkCalendar, policy: str) -> WorkCalendar:
    """The calendar under ``calendar.missing_year`` of huhang.yaml."""
    return with_provisional(calendar) if policy == PROVISIONAL else calendar


#: From this month on, the next year's file is expected (the notice comes out from late October).
REMIND_FROM_MONTH = 11


def calendar_reminders(calendar: WorkCalendar, as_of: dt.date, policy: str = REFUSE) -> list[str]:
    """Early warnings about missing year files, as of ``as_of`` (Chinese, one per year).

    The current year's file is always expected; the next year's from 1 November on.
    """
    wanted = [as_of.year]
    if as_of.month >= REMIND_FROM_MONTH:
        wanted.append(as_of.year + 1)
    out = []
    for year in wanted:
        if year in calendar.official_years:
            continue
        if policy == PROVISIONAL:
            meanwhile = f"在此之前，{year} 年的日期按暂定日历计算并标注“暂定”（没有调休上班日）。"
        else:
            meanwhile = (
                f"在此之前，到期日落在 {year} 年的时限无法计算（巡查会列出这些办理单）；"
                f"也可在 huhang.yaml 中设置 calendar: {{missing_year: provisional}} 先按暂定日历计算。"
            )
        out.append(
            f"工作日历还没有 {year} 年的正式文件（国务院办公厅一般在 10 月下旬至 12 月公布次年"
            f"放假安排）。通知公布后，把全文保存为文本文件并运行：huhang calendar import 通知.txt。"
            + meanwhile
        )
    return out
