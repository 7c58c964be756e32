"""The official Chinese working-day calendar (工作日历), with 调休 makeup workdays.

One YAML file per year under ``rules/calendar/`` records the State Council's notice for that
year: the days off (``holidays``, as announced ranges) and the weekend days worked instead
(``makeup_workdays``). A day is a working day if it is a Monday to Friday and not in a holiday
range, or if it is a makeup workday.

The calendar never guesses: asking about a day in a year without a file raises
:class:`~kernel.errors.CalendarError` naming that year.

A notice for year Y may reach back into the last days of December of Y-1 (the 2023 notice made
2022-12-31 a day off for 元旦). Those days are applied to Y-1 when both files are loaded; until
the notice for Y is published, the last days of December of Y-1 are answered from Y-1's notice
alone.
"""

from __future__ import annotations

import functools
import json
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jsonschema

from kernel.errors import (
    CalendarError,
    CalendarInvalid,
    CalendarYearMissing,
    Problem,
    ProblemsError,
)
from kernel.inputs.sourcefile import SourceDoc, read_file

__all__ = [
    "DEFAULT_DIR",
    "SCHEMA_PATH",
    "Amendment",
    "CalendarYear",
    "CountingRule",
    "Holiday",
    "MakeupWorkday",
    "WorkCalendar",
    "load_year_file",
]

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "calendar.schema.json"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "rules" / "calendar"

_ONE_DAY = timedelta(days=1)
# A notice for year Y may start 元旦 (or put a makeup workday) in the last days of Y-1.
_SPILL_MONTH, _SPILL_DAY = 12, 25
_WEEKDAY_NAMES = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_TYPE_NAMES = {
    "object": "映射（键: 值）",
    "array": "列表",
    "string": "字符串",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值",
}


class CountingRule(StrEnum):
    """How a period of N working days is counted from its start date."""

    #: Counting starts the day after the start date (default); due at the end of day N.
    NEXT_DAY = "next_day"
    #: 含本数: the start date itself is day 1 if it is a working day.
    INCLUSIVE = "inclusive"


@dataclass(frozen=True)
class Holiday:
    """One announced off period (both ends included, weekends inside it included)."""

    name: str
    start: date
    end: date
    note: str = ""

    def days(self) -> Iterator[date]:
        """Every day of the range, in order."""
        day = self.start
        while day <= self.end:
            yield day
            day += _ONE_DAY


@dataclass(frozen=True)
class MakeupWorkday:
    """A Saturday or Sunday worked instead of a day off (调休上班)."""

    day: date
    name: str
    note: str = ""


@dataclass(frozen=True)
class Amendment:
    """A later notice that changed the year's arrangement (already applied to the data)."""

    source: str
    published: date
    summary: str


@dataclass(frozen=True)
class CalendarYear:
    """The validated content of one year file."""

    year: int
    source: str
    published: date
    holidays: tuple[Holiday, ...]
    makeup_workdays: tuple[MakeupWorkday, ...]
    amendments: tuple[Amendment, ...] = ()
    note: str = ""
    path: str = ""
    #: Built from the law because the notice is not out yet (see kernel.calendar.provisional).
    provisional: bool = False


@dataclass(frozen=True)
class _Run:
    """Consecutive covered years with the sorted ordinals of their working days."""

    first_year: int
    last_year: int
    ordinals: tuple[int, ...]


# --------------------------------------------------------------------------- loading


#: year files in one calendar folder (a century of years is plenty)
MAX_YEAR_FILES = 100


@functools.cache
def _schema() -> dict[str, Any]:
    with SCHEMA_PATH.open(encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    # the schema ships with the package; tests/test_schemas.py checks it against the meta-schema
    # (doing so here cost every start-up ~14 ms)
    return jsonschema.Draft202012Validator(_schema())


def _to_plain(value: Any) -> Any:
    """Turn YAML-parsed dates back into ISO strings so the JSON Schema sees what the editor sees."""
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_plain(item) for item in value]
    if isinstance(value, date):  # datetime too: its isoformat() then fails the date pattern
        return value.isoformat()
    return value


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _schema_problems(error: jsonschema.ValidationError) -> list[tuple[str, str]]:
    """Chinese (field, text) pairs for one JSON Schema error."""
    where = _field(error.absolute_path)
    kind = error.validator
    instance = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        return [
            (_join(where, str(key)), f"不是允许的字段（允许：{'、'.join(allowed)}）")
            for key in instance
            if key not in allowed
        ]
    if kind == "required" and isinstance(instance, dict):
        required = error.validator_value if isinstance(error.validator_value, list) else []
        return [(_join(where, str(key)), "缺失（必填）") for key in required if key not in instance]
    if kind == "type":
        wanted = _TYPE_NAMES.get(str(error.validator_value), str(error.validator_value))
        return [(where, f"类型不对：应为{wanted}，实际为 {instance!r}")]
    if kind == "pattern" and error.validator_value == _schema()["$defs"]["date"]["pattern"]:
        return [(where, f"应为 YYYY-MM-DD 格式的日期，实际为 {instance!r}")]
    if kind == "minLength":
        return [(where, "不能为空")]
    if kind == "minItems":
        return [(where, f"至少需要 {error.validator_value} 项")]
    if kind == "minimum":
        return [(where, f"不能小于 {error.validator_value}，实际为 {instance!r}")]
    if kind == "maximum":
        return [(where, f"不能大于 {error.validator_value}，实际为 {instance!r}")]
    return [(where, f"不符合格式要求（{error.message}）")]


def _natural(field: str) -> list[tuple[int, int | str]]:
    """Sort key for field paths: ``holidays[2]`` before ``holidays[10]``."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", field)]


def _path_of(field: str) -> tuple[str | int, ...]:
    """``holidays[0].to`` as a document path ``("holidays", 0, "to")``."""
    return tuple(
        int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field)
    )


def _raise_problems(
    path: str, problems: list[tuple[str, str]], doc: SourceDoc | None = None
) -> None:
    if not problems:
        return
    seen: dict[str, Problem] = {}
    for where, text in problems:
        line = f"日历文件 {path} 的字段 {where} {text}" if where else f"日历文件 {path} {text}"
        row, col = doc.where(_path_of(where)) if doc is not None else (0, 0)
        message = f"{where} {text}" if where else text
        seen.setdefault(line, Problem(path, row, col, "CALENDAR", message))
    raise CalendarInvalid(list(seen.values()), "\n".join(seen))


def _parse_date(raw: str, where: str, problems: list[tuple[str, str]]) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append((where, f"不是有效的日期：{raw!r}"))
        return None


def load_year_file(path: Path) -> CalendarYear:
    """Read, validate and check one year file; raise :class:`CalendarError` on any problem.

    The file is read like every other input (bounded, duplicate keys refused) and each problem
    is located at its line.
    """
    shown = str(path)
    try:
        doc = read_file(path, shown)
    except ProblemsError as exc:
        raise CalendarInvalid(
            exc.problems, "\n".join(f"日历文件 {shown} {p.message}" for p in exc.problems)
        ) from None
    if doc.problems:
        raise CalendarInvalid(
            doc.problems, "\n".join(f"日历文件 {shown} {p.message}" for p in doc.problems)
        )
    if doc.data is None:
        _raise_problems(shown, [("", "是空的")], doc)
    data = _to_plain(doc.data)
    problems = [p for error in _validator().iter_errors(data) for p in _schema_problems(error)]
    _raise_problems(shown, sorted(problems, key=lambda p: _natural(p[0])), doc)
    return _check_year(data, path, doc)


def _check_year(data: dict[str, Any], path: Path, doc: SourceDoc | None = None) -> CalendarYear:
    """Semantic checks on schema-valid data, and conversion to :class:`CalendarYear`."""
    shown = str(path)
    problems: list[tuple[str, str]] = []
    year: int = data["year"]
    if path.stem.isdigit() and int(path.stem) != year:
        problems.append(("year", f"的值 {year} 与文件名 {path.name} 不一致"))
    window_start = date(year - 1, _SPILL_MONTH, _SPILL_DAY)
    year_end = date(year, 12, 31)

    def in_window(day: date, where: str) -> bool:
        if window_start <= day <= year_end:
            return True
        problems.append((where, f"的日期 {day} 不在 {year} 年内"))
        return False

    published = _parse_date(data["published"], "published", problems)
    if published is not None and published > year_end:
        problems.append(("published", f"的日期 {published} 晚于 {year} 年年底"))

    holidays: list[Holiday] = []
    off_days: dict[date, int] = {}
    for index, item in enumerate(data["holidays"]):
        where = f"holidays[{index}]"
        start = _parse_date(item["from"], f"{where}.from", problems)
        end = _parse_date(item["to"], f"{where}.to", problems)
        if start is None or end is None:
            continue
        ok = in_window(start, f"{where}.from")
        if end.year != year:
            problems.append((f"{where}.to", f"的日期 {end} 不在 {year} 年内"))
            ok = False
        if start > end:
            problems.append((where, f"的开始日期 {start} 晚于结束日期 {end}"))
            ok = False
        holiday = Holiday(item["name"], start, end, item.get("note", ""))
        holidays.append(holiday)
        if not ok:
            continue
        for day in holiday.days():
            if day in off_days:
                other = off_days[day]
                problems.append(
                    (where, f"的日期 {day} 已在 holidays[{other}]（{holidays[other].name}）中列出")
                )
            else:
                off_days[day] = index

    makeups: list[MakeupWorkday] = []
    on_days: dict[date, int] = {}
    for index, item in enumerate(data["makeup_workdays"]):
        where = f"makeup_workdays[{index}].date"
        when = _parse_date(item["date"], where, problems)
        if when is None:
            continue
        makeups.append(MakeupWorkday(when, item["name"], item.get("note", "")))
        if not in_window(when, where):
            continue
        if when.weekday() < 5:
            weekday = _WEEKDAY_NAMES[when.weekday()]
            problems.append((where, f"的日期 {when} 是{weekday}，调休上班日只能是周六或周日"))
        if when in on_days:
            problems.append((where, f"的日期 {when} 已在 makeup_workdays[{on_days[when]}] 中列出"))
        else:
            on_days[when] = index
        if when in off_days:
            problems.append((where, f"的日期 {when} 同时列在 holidays[{off_days[when]}] 中"))

    amendments: list[Amendment] = []
    for index, item in enumerate(data.get("amendments", [])):
        when = _parse_date(item["published"], f"amendments[{index}].published", problems)
        if when is not None:
            amendments.append(Amendment(item["source"], when, item["summary"]))

    _raise_problems(shown, problems, doc)
    assert published is not None  # a bad date was reported above
    return CalendarYear(
        year=year,
        source=data["source"],
        published=published,
        holidays=tuple(holidays),
        makeup_workdays=tuple(makeups),
        amendments=tuple(amendments),
        note=data.get("note", ""),
        path=shown,
    )


def _describe_years(years: Iterable[int]) -> str:
    """``2020 至 2026 年``, ``2020、2022 至 2023 年`` or ``无``."""
    ordered = sorted(years)
    if not ordered:
        return "无"
    parts: list[str] = []
    first = prev = ordered[0]
    for year in [*ordered[1:], None]:
        if year is not None and year == prev + 1:
            prev = year
            continue
        parts.append(str(first) if first == prev else f"{first} 至 {prev}")
        if year is not None:
            first = prev = year
    return "、".join(parts) + " 年"


# --------------------------------------------------------------------------- the calendar


class WorkCalendar:
    """Working days of the covered years, precomputed for O(log n) counting."""

    __slots__ = ("_data", "_holiday_names", "_provisional", "_run_of_year", "_workdays", "_years")

    def __init__(self, data: Iterable[CalendarYear]) -> None:
        """Build a calendar from already validated year files; cross-file conflicts raise."""
        by_year: dict[int, CalendarYear] = {}
        for item in data:
            if item.year in by_year:
                raise CalendarError(
                    f"日历文件 {item.path} 的字段 year 的值 {item.year} "
                    f"已在日历文件 {by_year[item.year].path} 中使用"
                )
            by_year[item.year] = item

        off: dict[date, tuple[str, CalendarYear]] = {}
        on: dict[date, CalendarYear] = {}
        for item in sorted(by_year.values(), key=lambda y: y.year):
            for holiday in item.holidays:
                for day in holiday.days():
                    if day in off:
                        raise CalendarError(
                            f"日历文件 {item.path} 的字段 holidays 的日期 {day} "
                            f"已在日历文件 {off[day][1].path} 中列为放假日"
                        )
                    off[day] = (holiday.name, item)
            for makeup in item.makeup_workdays:
                if makeup.day in on:
                    raise CalendarError(
                        f"日历文件 {item.path} 的字段 makeup_workdays 的日期 {makeup.day} "
                        f"已在日历文件 {on[makeup.day].path} 中列为调休上班日"
                    )
                on[makeup.day] = item
        for day, item in on.items():
            if day in off:
                raise CalendarError(
                    f"日历文件 {item.path} 的字段 makeup_workdays 的日期 {day} "
                    f"已在日历文件 {off[day][1].path} 中列为放假日"
                )

        self._data = dict(sorted(by_year.items()))
        self._years = frozenset(by_year)
        self._provisional = frozenset(y for y, item in by_year.items() if item.provisional)
        self._holiday_names = {day: name for day, (name, _) in off.items()}
        workdays: set[int] = set()
        self._run_of_year: dict[int, _Run] = {}
        for first, last in self._spans():
            ordinals: list[int] = []
            day, end = date(first, 1, 1), date(last, 12, 31)
            while day <= end:
                if day in on or (day.weekday() < 5 and day not in off):
                    ordinals.append(day.toordinal())
                day += _ONE_DAY
            run = _Run(first, last, tuple(ordinals))
            for year in range(first, last + 1):
                self._run_of_year[year] = run
            workdays.update(ordinals)
        self._workdays = frozenset(workdays)

    def fingerprint(self) -> str:
        """A digest of every working day, the covered years and which are provisional: equal
        for calendars that count alike (the sweep's index is keyed by it)."""
        import hashlib

        text = repr((sorted(self._years), sorted(self._provisional), sorted(self._workdays)))
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    def _spans(self) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        for year in sorted(self._years):
            if spans and spans[-1][1] == year - 1:
                spans[-1] = (spans[-1][0], year)
            else:
                spans.append((year, year))
        return spans

    @classmethod
    def from_dir(cls, path: Path) -> WorkCalendar:
        """Load every ``*.yaml`` year file in ``path``."""
        folder = Path(path)
        if not folder.is_dir():
            raise CalendarError(f"工作日历目录 {folder} 不存在")
        files = sorted(folder.glob("*.yaml"))
        if not files:
            raise CalendarError(f"工作日历目录 {folder} 中没有 *.yaml 文件")
        if len(files) > MAX_YEAR_FILES:
            raise CalendarError(
                f"工作日历目录 {folder} 中有 {len(files)} 个文件，超过上限 {MAX_YEAR_FILES}"
            )
        return cls(load_year_file(file) for file in files)

    @classmethod
    def default(cls) -> WorkCalendar:
        """The repository's ``rules/calendar`` (loaded once per process and shared)."""
        return _default_calendar()

    # ------------------------------------------------------------------ data

    @property
    def years(self) -> frozenset[int]:
        """The years with holiday data (official or provisional)."""
        return self._years

    @property
    def official_years(self) -> frozenset[int]:
        """The years with a file from the State Council's notice."""
        return self._years - self._provisional

    @property
    def provisional_years(self) -> frozenset[int]:
        """The years built from the law while their notice is not out (暂定)."""
        return self._provisional

    def is_provisional(self, d: date | None) -> bool:
        """Whether ``d`` lies in a provisional year (a date computed through it is 暂定)."""
        return d is not None and d.year in self._provisional

    def year_files(self) -> tuple[CalendarYear, ...]:
        """Every loaded year, official and provisional, in year order."""
        return tuple(self._data.values())

    def year_data(self, year: int) -> CalendarYear:
        """The loaded year file for ``year``."""
        self._run(year)
        return self._data[year]

    def source(self, year: int) -> str:
        """The notice (and any amending notices) the year's data comes from."""
        item = self.year_data(year)
        return "；".join([item.source, *(a.source for a in item.amendments)])

    def holiday_name(self, d: date) -> str | None:
        """The festival whose announced off period contains ``d`` (weekends included), or None."""
        self._run(d.year)
        return self._holiday_names.get(d)

    # ------------------------------------------------------------------ queries

    def _missing(self, year: int) -> CalendarYearMissing:
        return CalendarYearMissing(
            f"缺少 {year} 年的节假日数据（现有 {_describe_years(self._years)}），"
            f"无法计算 {year} 年的工作日；"
            f"请用 huhang calendar import 导入国务院办公厅关于 {year} 年部分节假日安排的通知"
            f"（生成 {year}.yaml）",
            year,
        )

    def _run(self, year: int) -> _Run:
        run = self._run_of_year.get(year)
        if run is None:
            raise self._missing(year)
        return run

    def is_workday(self, d: date) -> bool:
        """True if ``d`` is a working day (a weekday not off, or a makeup workday)."""
        if d.year not in self._run_of_year:
            raise self._missing(d.year)
        return d.toordinal() in self._workdays

    def add_workdays(self, start: date, n: int, rule: CountingRule = CountingRule.NEXT_DAY) -> date:
        """The date ``n`` working days after ``start`` under ``rule`` (``n == 0`` gives ``start``).

        Only the days actually counted need data: a deadline on the last working day of the
        last covered year succeeds, one beyond it raises :class:`CalendarError`.
        """
        if n < 0:
            raise ValueError(f"工作日数不能为负数：{n}")
        if n == 0:
            return start
        first = start if CountingRule(rule) is CountingRule.INCLUSIVE else start + _ONE_DAY
        run = self._run(first.year)
        index = bisect_left(run.ordinals, first.toordinal()) + n - 1
        if index >= len(run.ordinals):
            raise self._missing(run.last_year + 1)
        return date.fromordinal(run.ordinals[index])

    def workdays_between(self, start: date, end: date) -> int:
        """Working days ``d`` with ``start < d <= end`` (0 if ``end <= start``)."""
        if end <= start:
            return 0
        run = self._run((start + _ONE_DAY).year)
        if end.year > run.last_year:
            raise self._missing(run.last_year + 1)
        return bisect_right(run.ordinals, end.toordinal()) - bisect_right(
            run.ordinals, start.toordinal()
        )

    def next_workday(self, d: date) -> date:
        """The first working day after ``d``."""
        return self.add_workdays(d, 1)

    def previous_workday(self, d: date) -> date:
        """The last working day before ``d``."""
        last = d - _ONE_DAY
        run = self._run(last.year)
        index = bisect_right(run.ordinals, last.toordinal()) - 1
        if index < 0:
            raise self._missing(run.first_year - 1)
        return date.fromordinal(run.ordinals[index])

    def _month(self, year: int, month: int) -> tuple[_Run, int, int]:
        if not 1 <= month <= 12:
            raise ValueError(f"月份应在 1 到 12 之间：{month}")
        run = self._run(year)
        first = date(year, month, 1)
        following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return run, first.toordinal(), following.toordinal() - 1

    def last_workday_of_month(self, year: int, month: int) -> date:
        """The last working day of the month."""
        run, first, last = self._month(year, month)
        index = bisect_right(run.ordinals, last) - 1
        if index < 0 or run.ordinals[index] < first:
            raise CalendarError(f"{year} 年 {month} 月没有工作日")
        return date.fromordinal(run.ordinals[index])

    def nth_workday_of_month(self, year: int, month: int, n: int) -> date:
        """The ``n``-th (1-based) working day of the month."""
        if n < 1:
            raise ValueError(f"第几个工作日应从 1 开始：{n}")
        run, first, last = self._month(year, month)
        start = bisect_left(run.ordinals, first)
        index = start + n - 1
        if index >= len(run.ordinals) or run.ordinals[index] > last:
            count = bisect_right(run.ordinals, last) - start
            raise CalendarError(f"{year} 年 {month} 月只有 {count} 个工作日，没有第 {n} 个")
        return date.fromordinal(run.ordinals[index])

    def __repr__(self) -> str:
        return f"WorkCalendar(years={_describe_years(self._years)})"


@functools.cache
def _default_calendar() -> WorkCalendar:
    return WorkCalendar.from_dir(DEFAULT_DIR)
