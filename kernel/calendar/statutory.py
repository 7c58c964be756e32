"""The statutory holidays of 《全国年节及纪念日放假办法》, by the version in force.

The law's table is data (``data/statutory.yaml``): one entry per revision, with the date it took
effect and, for each festival, the days off it grants (a Gregorian ``MM-DD``, a lunar date such as
``正月初一`` or ``除夕``, or ``清明`` for the solar term). The notice importer checks every
announced holiday range against it; the provisional calendar is built from it.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kernel.calendar import lunar
from kernel.inputs.sourcefile import SAFE_LOADER

__all__ = [
    "FESTIVALS",
    "LAW_FILE",
    "LAW_TITLE",
    "LawVersion",
    "law_in_force",
    "law_versions",
]

LAW_FILE = Path(__file__).resolve().parent / "data" / "statutory.yaml"
LAW_TITLE = "《全国年节及纪念日放假办法》"
#: The festivals of the notices, in the notices' order.
FESTIVALS = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")


def chinese_date(day: dt.date) -> str:
    """``2025年1月1日``."""
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class LawVersion:
    """One version of the law: its statutory days off per festival."""

    effective: dt.date
    revised: dt.date
    decree: str
    festivals: dict[str, tuple[str, ...]]
    summary: str
    substitute_weekend: bool = True

    @property
    def label(self) -> str:
        """``2024年11月10日修订的《全国年节及纪念日放假办法》（国务院令第795号）``."""
        return f"{chinese_date(self.revised)}修订的{LAW_TITLE}（{self.decree}）"

    def days(self, festival: str, year: int) -> tuple[dt.date, ...]:
        """The statutory days off of ``festival`` in Gregorian ``year`` (empty if none)."""
        return tuple(_resolve(spec, year) for spec in self.festivals.get(festival, ()))

    def first_year_note(self) -> str:
        """The note written into the first year file arranged under this version."""
        return (
            f"首个按{chinese_date(self.revised)}修订的{LAW_TITLE}（{self.decree}，"
            f"{chinese_date(self.effective)}起施行）安排的年份：{self.summary}"
        )


def _resolve(spec: str, year: int) -> dt.date:
    """One day spec of the table in Gregorian ``year``."""
    if spec == "清明":
        return lunar.qingming(year)
    if spec[:2].isdigit():
        month, day = (int(x) for x in spec.split("-"))
        return dt.date(year, month, day)
    when = lunar.parse_lunar_day(spec)
    if when is None:
        raise ValueError(f"法定假日表中无法识别的日期：{spec}")
    if when[0] == 12:
        # 除夕 and 腊月 days belong to the lunar year that ends in this Gregorian year
        return lunar.to_solar(year - 1, when)
    return lunar.to_solar(year, when)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@functools.cache
def law_versions() -> tuple[LawVersion, ...]:
    """Every version of the law, oldest first."""
    data = yaml.load(LAW_FILE.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    out = []
    for item in data["versions"]:
        festivals = {str(k): tuple(str(d) for d in v) for k, v in item["festivals"].items()}
        unknown = set(festivals) - set(FESTIVALS)
        if unknown:
            raise ValueError(f"{LAW_FILE}: 未知节日 {sorted(unknown)}")
        out.append(
            LawVersion(
                effective=_date(item["effective"]),
                revised=_date(item["revised"]),
                decree=str(item["decree"]),
                festivals=festivals,
                summary=str(item["summary"]),
                substitute_weekend=bool(item.get("substitute_weekend", True)),
            )
        )
    return tuple(sorted(out, key=lambda v: v.effective))


def law_in_force(day: dt.date) -> LawVersion | None:
    """The version in force on ``day`` (None before the first one in the table)."""
    found = None
    for version in law_versions():
        if version.effective <= day:
            found = version
    return found
