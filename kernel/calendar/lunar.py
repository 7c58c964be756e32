"""Chinese lunar dates and the 清明 solar term, from the ``lunar-python`` library.

This module is the only importer of ``lunar_python``. Why that library (and not lunardate,
sxtwl or borax) is explained in docs/operations/calendar-update.md: over 1900–2100 it agrees
with the astronomical reference implementation (sxtwl) on every 春节, 端午, 中秋 and 清明 date,
it computes solar terms, it is pure Python and it is maintained.

Lunar dates are written as the notices and the law write them: ``正月初一``, ``五月初五``,
``八月十五``, ``腊月二十八``, ``除夕`` (the last day of the lunar year).
"""

from __future__ import annotations

import datetime as dt
import functools
import re

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "LunarDay",
    "from_solar",
    "new_years_eve",
    "parse_lunar_day",
    "qingming",
    "to_solar",
]

#: The years over which the library was checked (see the module docstring).
FIRST_YEAR, LAST_YEAR = 1900, 2100

_MONTHS = {
    "正": 1,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "冬": 11,
    "十一": 11,
    "腊": 12,
    "十二": 12,
}
_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_LUNAR = re.compile(r"^(闰)?(正|十一|十二|冬|腊|[一二三四五六七八九十])月(.+)$")

LunarDay = tuple[int, int, bool]  # (month, day, leap month)


def _day_number(text: str) -> int | None:
    """``初七`` → 7, ``十五`` → 15, ``廿八``/``二十八`` → 28, ``三十`` → 30."""
    if text.startswith("初") and len(text) == 2:
        if text[1] == "十":
            return 10
        return _DIGITS.get(text[1])
    text = text.replace("廿", "二十")
    if text == "十":
        return 10
    if text.startswith("十") and len(text) == 2:
        unit = _DIGITS.get(text[1])
        return 10 + unit if unit else None
    if len(text) >= 2 and text[1] == "十" and text[0] in ("二", "三"):
        tens = _DIGITS[text[0]] * 10
        if len(text) == 2:
            return tens
        unit = _DIGITS.get(text[2]) if len(text) == 3 else None
        return tens + unit if unit and tens + unit <= 30 else None
    return None


def parse_lunar_day(text: str) -> LunarDay | None:
    """``正月初七`` → ``(1, 7, False)``; ``除夕`` → ``(12, 0, False)``; otherwise None.

    Day 0 of month 12 stands for 除夕, the last day of the lunar year (the 29th or the 30th).
    """
    text = text.removeprefix("农历")
    if text == "除夕":
        return (12, 0, False)
    if text.startswith("大年"):  # 大年初六 = 正月初六
        text = "正月" + text[2:]
    match = _LUNAR.match(text)
    if match is None:
        return None
    day = _day_number(match.group(3))
    if day is None or not 1 <= day <= 30:
        return None
    return (_MONTHS[match.group(2)], day, bool(match.group(1)))


def _check_range(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"农历换算只支持 {FIRST_YEAR}–{LAST_YEAR} 年：{year}")


def from_solar(day: dt.date) -> tuple[int, LunarDay]:
    """The lunar year and ``(month, day, leap)`` of a Gregorian date."""
    _check_range(day.year)
    from lunar_python import Solar  # imported on first use: most commands never need it

    lunar = Solar.fromYmd(day.year, day.month, day.day).getLunar()
    month = int(lunar.getMonth())
    return int(lunar.getYear()), (abs(month), int(lunar.getDay()), month < 0)


@functools.cache
def new_years_eve(lunar_year: int) -> dt.date:
    """除夕 of ``lunar_year``: the day before 正月初一 of the next lunar year."""
    return to_solar(lunar_year + 1, (1, 1, False)) - dt.timedelta(days=1)


@functools.cache
def to_solar(lunar_year: int, when: LunarDay) -> dt.date:
    """The Gregorian date of a lunar date (``day == 0`` of month 12: 除夕)."""
    month, day, leap = when
    if (month, day) == (12, 0):
        return new_years_eve(lunar_year)
    _check_range(lunar_year)
    from lunar_python import Lunar  # imported on first use: most commands never need it

    solar = Lunar.fromYmd(lunar_year, -month if leap else month, day).getSolar()
    return dt.date(int(solar.getYear()), int(solar.getMonth()), int(solar.getDay()))


@functools.cache
def qingming(year: int) -> dt.date:
    """The day of the 清明 solar term in ``year`` (Beijing time)."""
    _check_range(year)
    from lunar_python import Lunar  # imported on first use: most commands never need it

    solar = Lunar.fromYmd(year, 1, 1).getJieQiTable()["清明"]
    return dt.date(int(solar.getYear()), int(solar.getMonth()), int(solar.getDay()))


def matches(day: dt.date, when: LunarDay) -> bool:
    """Whether ``day`` is the lunar date ``when`` (除夕: the last day of a lunar year)."""
    if (when[0], when[1]) == (12, 0):
        return from_solar(day + dt.timedelta(days=1))[1][:2] == (1, 1)
    return from_solar(day)[1] == when
