"""Behaviour of the working-day calendar (工作日历) and its year files."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.calendar.workdays import DEFAULT_DIR, SCHEMA_PATH, CountingRule, WorkCalendar
from kernel.errors import CalendarError

CAL = WorkCalendar.default()
MISSING_2027 = (
    "缺少 2027 年的节假日数据（现有 2020 至 2026 年），无法计算 2027 年的工作日；"
    "请用 huhang calendar import 导入国务院办公厅关于 2027 年部分节假日安排的通知（生成 2027.yaml）"
)


# --------------------------------------------------------------------------- the data


def test_default_covers_2020_to_2026() -> None:
    assert CAL.years == frozenset(range(2020, 2027))
    assert CAL.source(2026) == "国务院办公厅关于2026年部分节假日安排的通知（国办发明电〔2025〕7号）"
    assert CAL.source(2020) == (
        "国务院办公厅关于2020年部分节假日安排的通知（国办发明电〔2019〕16号）；"
        "国务院办公厅关于延长2020年春节假期的通知（国办发明电〔2020〕1号）"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("year", range(2020, 2027))
def test_matches_chinesecalendar(year: int) -> None:
    chinese_calendar = pytest.importorskip("chinese_calendar")
    try:
        chinese_calendar.is_workday(date(year, 6, 30))
    except NotImplementedError:
        pytest.skip(f"the installed chinesecalendar has no data for {year}")
    disagree = []
    day = date(year, 1, 1)
    while day.year == year:
        ours = CAL.is_workday(day)
        if ours != chinese_calendar.is_workday(day):
            disagree.append(f"{day} ({day:%a}): ours={ours}")
        day += timedelta(days=1)
    assert not disagree, f"{len(disagree)} day(s) differ from chinesecalendar: {disagree}"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2020, 1, 31), False),  # Friday, inside the extended 2020 Spring Festival
        (date(2020, 2, 1), False),  # Saturday: planned makeup workday, cancelled by the extension
        (date(2020, 2, 3), True),
        (date(2020, 1, 19), True),  # Sunday makeup workday
        (date(2022, 12, 31), False),  # 元旦 2023 starts in 2022 (from the 2023 notice)
        (date(2023, 1, 2), False),
        (date(2024, 2, 9), True),  # 除夕 2024: only "encouraged" to rest, still a workday
        (date(2025, 1, 28), False),  # 除夕 2025: a statutory holiday under the 2024 rules
        (date(2025, 5, 5), False),
        (date(2026, 2, 23), False),
        (date(2026, 2, 28), True),  # Saturday makeup workday
        (date(2026, 10, 8), True),
    ],
)
def test_is_workday_known_days(day: date, expected: bool) -> None:
    assert CAL.is_workday(day) is expected


def test_holiday_name_includes_weekends_inside_the_range() -> None:
    assert CAL.holiday_name(date(2026, 2, 15)) == "春节"  # a Sunday
    assert CAL.holiday_name(date(2022, 12, 31)) == "元旦"
    assert CAL.holiday_name(date(2026, 3, 2)) is None


def test_is_workday_without_data_names_the_year() -> None:
    with pytest.raises(CalendarError) as info:
        CAL.is_workday(date(2027, 1, 4))
    assert str(info.value) == MISSING_2027


# --------------------------------------------------------------------------- add_workdays


def test_friday_before_national_day_2024() -> None:
    # Fri 2024-09-27; Sun 09-29 is a makeup workday, Mon 09-30 a workday, 10-01..07 off.
    assert CAL.add_workdays(date(2024, 9, 27), 1) == date(2024, 9, 29)
    assert CAL.add_workdays(date(2024, 9, 27), 2) == date(2024, 9, 30)
    assert CAL.add_workdays(date(2024, 9, 27), 3) == date(2024, 10, 8)


def test_makeup_weekend_counts_2023() -> None:
    # Thu 2023-09-28, then 09-29..10-06 off; Sat 10-07 and Sun 10-08 are makeup workdays.
    assert CAL.add_workdays(date(2023, 9, 28), 1) == date(2023, 10, 7)
    assert CAL.add_workdays(date(2023, 9, 28), 2) == date(2023, 10, 8)
    assert CAL.add_workdays(date(2023, 9, 28), 3) == date(2023, 10, 9)


def test_deadline_across_into_2027_raises() -> None:
    with pytest.raises(CalendarError) as info:
        CAL.add_workdays(date(2026, 12, 30), 2)
    assert str(info.value) == MISSING_2027
    with pytest.raises(CalendarError, match="缺少 2027 年"):
        CAL.add_workdays(date(2026, 12, 31), 1)


def test_deadline_on_last_workday_of_2026_needs_no_2027() -> None:
    assert CAL.add_workdays(date(2026, 12, 29), 2) == date(2026, 12, 31)
    assert CAL.add_workdays(date(2026, 12, 31), 1, CountingRule.INCLUSIVE) == date(2026, 12, 31)


def test_zero_and_negative_n() -> None:
    assert CAL.add_workdays(date(2026, 10, 3), 0) == date(2026, 10, 3)
    with pytest.raises(ValueError, match="工作日数不能为负数：-1"):
        CAL.add_workdays(date(2026, 10, 3), -1)


def test_inclusive_vs_next_day_on_a_workday() -> None:
    start = date(2024, 9, 30)  # Monday, a workday
    assert CAL.add_workdays(start, 1, CountingRule.INCLUSIVE) == date(2024, 9, 30)
    assert CAL.add_workdays(start, 1, CountingRule.NEXT_DAY) == date(2024, 10, 8)
    assert CAL.add_workdays(start, 5, CountingRule.INCLUSIVE) == date(2024, 10, 11)
    assert CAL.add_workdays(start, 5) == date(2024, 10, 12)  # Saturday makeup workday


def test_inclusive_vs_next_day_on_a_holiday() -> None:
    start = date(2024, 10, 1)  # National Day, not a workday: both rules agree
    assert CAL.add_workdays(start, 1, CountingRule.INCLUSIVE) == date(2024, 10, 8)
    assert CAL.add_workdays(start, 1, CountingRule.NEXT_DAY) == date(2024, 10, 8)
    assert CAL.add_workdays(start, 3, CountingRule.INCLUSIVE) == date(2024, 10, 10)
    assert CAL.add_workdays(start, 3, "next_day") == date(2024, 10, 10)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- other queries


def test_workdays_between() -> None:
    # 09-29 (makeup), 09-30, 10-08, 10-09
    assert CAL.workdays_between(date(2024, 9, 27), date(2024, 10, 9)) == 4
    assert CAL.workdays_between(date(2024, 10, 9), date(2024, 10, 9)) == 0
    assert CAL.workdays_between(date(2024, 10, 9), date(2024, 9, 27)) == 0
    assert CAL.workdays_between(date(2025, 12, 31), date(2026, 1, 5)) == 2  # 01-04 (Sun), 01-05
    assert CAL.workdays_between(date(2020, 1, 1), date(2020, 12, 31)) == 249
    with pytest.raises(CalendarError) as info:
        CAL.workdays_between(date(2026, 12, 1), date(2027, 1, 5))
    assert str(info.value) == MISSING_2027


def test_last_workday_of_month() -> None:
    assert CAL.last_workday_of_month(2023, 9) == date(2023, 9, 28)  # 09-29/30 off
    assert CAL.last_workday_of_month(2022, 4) == date(2022, 4, 29)  # 04-30 off
    assert CAL.last_workday_of_month(2026, 12) == date(2026, 12, 31)
    assert CAL.last_workday_of_month(2025, 1) == date(2025, 1, 27)  # 01-28..31 Spring Festival


def test_nth_workday_of_month() -> None:
    # October 2024: 01-07 off, 08-11 workdays, Sat 12 a makeup workday.
    assert CAL.nth_workday_of_month(2024, 10, 1) == date(2024, 10, 8)
    assert CAL.nth_workday_of_month(2024, 10, 5) == date(2024, 10, 12)
    with pytest.raises(CalendarError, match="2024 年 10 月只有 19 个工作日，没有第 30 个"):
        CAL.nth_workday_of_month(2024, 10, 30)
    with pytest.raises(ValueError, match="月份应在 1 到 12 之间：13"):
        CAL.nth_workday_of_month(2024, 13, 1)


def test_next_and_previous_workday() -> None:
    assert CAL.next_workday(date(2026, 2, 13)) == date(2026, 2, 14)  # Saturday makeup
    assert CAL.next_workday(date(2026, 2, 14)) == date(2026, 2, 24)
    assert CAL.previous_workday(date(2026, 2, 24)) == date(2026, 2, 14)
    assert CAL.previous_workday(date(2020, 2, 3)) == date(2020, 1, 23)
    with pytest.raises(CalendarError, match=r"^缺少 2019 年的节假日数据"):
        CAL.previous_workday(date(2020, 1, 2))


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 11, 30)),
    n=st.integers(min_value=1, max_value=20),
)
def test_add_workdays_agrees_with_a_day_by_day_walk(start: date, n: int) -> None:
    day, counted = start, 0
    while counted < n:
        day += timedelta(days=1)
        counted += CAL.is_workday(day)
    assert CAL.add_workdays(start, n) == day
    assert CAL.workdays_between(start, day) == n
    inclusive = CAL.add_workdays(start, n, CountingRule.INCLUSIVE)
    expected = CAL.add_workdays(start, n - 1) if CAL.is_workday(start) else day
    assert inclusive == expected


# --------------------------------------------------------------------------- loading errors

GOOD_2026 = """\
year: 2026
source: 测试通知
published: 2025-11-04
holidays:
  - name: 元旦
    from: 2026-01-01
    to: 2026-01-03
makeup_workdays:
  - date: 2026-01-04
    name: 元旦
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(folder: Path) -> str:
    with pytest.raises(CalendarError) as info:
        WorkCalendar.from_dir(folder)
    return str(info.value)


def test_fixture_file_loads(tmp_path: Path) -> None:
    _write(tmp_path, "2026.yaml", GOOD_2026)
    cal = WorkCalendar.from_dir(tmp_path)
    assert cal.years == frozenset({2026})
    assert cal.is_workday(date(2026, 1, 4)) is True
    assert cal.is_workday(date(2026, 1, 2)) is False


def test_unknown_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "2026.yaml",
        GOOD_2026.replace("    to: 2026-01-03\n", "    to: 2026-01-03\n    days: 3\n"),
    )
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 holidays[0].days 不是允许的字段（允许：name、from、to、note）"
    )


def test_missing_field_and_bad_date_format(tmp_path: Path) -> None:
    text = GOOD_2026.replace("published: 2025-11-04\n", "").replace("2026-01-04", "2026/1/4")
    path = _write(tmp_path, "2026.yaml", text)
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 makeup_workdays[0].date 应为 YYYY-MM-DD 格式的日期，"
        "实际为 '2026/1/4'\n"
        f"日历文件 {path} 的字段 published 缺失（必填）"
    )


def test_impossible_date(tmp_path: Path) -> None:
    path = _write(tmp_path, "2026.yaml", GOOD_2026.replace("2026-01-03", "2026-02-30"))
    assert (
        _load_error(tmp_path) == f"日历文件 {path} holidays[0].to 的值 '2026-02-30' 不是有效的日期"
    )


def test_makeup_workday_on_a_wednesday(tmp_path: Path) -> None:
    path = _write(tmp_path, "2026.yaml", GOOD_2026.replace("date: 2026-01-04", "date: 2026-03-04"))
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 makeup_workdays[0].date "
        "的日期 2026-03-04 是星期三，调休上班日只能是周六或周日"
    )


def test_date_outside_its_year(tmp_path: Path) -> None:
    path = _write(tmp_path, "2026.yaml", GOOD_2026.replace("date: 2026-01-04", "date: 2025-06-07"))
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 makeup_workdays[0].date 的日期 2025-06-07 不在 2026 年内"
    )
    text = GOOD_2026.replace("2026-01-01", "2027-01-01").replace("2026-01-03", "2027-01-03")
    _write(tmp_path, "2026.yaml", text)
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 holidays[0].from 的日期 2027-01-01 不在 2026 年内\n"
        f"日历文件 {path} 的字段 holidays[0].to 的日期 2027-01-03 不在 2026 年内"
    )


def test_new_year_may_start_in_the_previous_december(tmp_path: Path) -> None:
    # The real 2023 notice: 元旦 2022-12-31 .. 2023-01-02.
    shutil.copy(DEFAULT_DIR / "2023.yaml", tmp_path / "2023.yaml")
    cal = WorkCalendar.from_dir(tmp_path)
    assert cal.is_workday(date(2023, 1, 2)) is False
    with pytest.raises(CalendarError, match=r"^缺少 2022 年的节假日数据"):
        cal.is_workday(date(2022, 12, 31))


def test_holiday_day_listed_twice(tmp_path: Path) -> None:
    extra = "  - name: 元旦\n    from: 2026-01-03\n    to: 2026-01-03\nmakeup_workdays:\n"
    path = _write(tmp_path, "2026.yaml", GOOD_2026.replace("makeup_workdays:\n", extra))
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 holidays[1] 的日期 2026-01-03 已在 holidays[0]（元旦）中列出"
    )


def test_year_must_match_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "2025.yaml", GOOD_2026)
    assert _load_error(tmp_path) == (
        f"日历文件 {path} 的字段 year 的值 2026 与文件名 2025.yaml 不一致"
    )


def test_empty_file_and_empty_folder(tmp_path: Path) -> None:
    assert _load_error(tmp_path) == f"工作日历目录 {tmp_path} 中没有 *.yaml 文件"
    path = _write(tmp_path, "2026.yaml", "")
    assert _load_error(tmp_path) == f"日历文件 {path} 是空的"


def test_a_gap_between_years_is_not_bridged(tmp_path: Path) -> None:
    for year in (2024, 2026):
        shutil.copy(DEFAULT_DIR / f"{year}.yaml", tmp_path / f"{year}.yaml")
    cal = WorkCalendar.from_dir(tmp_path)
    assert cal.add_workdays(date(2024, 12, 27), 2) == date(2024, 12, 31)
    with pytest.raises(CalendarError) as info:
        cal.add_workdays(date(2024, 12, 27), 3)
    assert str(info.value).startswith("缺少 2025 年的节假日数据（现有 2024、2026 年）")
    with pytest.raises(CalendarError, match=r"^缺少 2025 年"):
        cal.workdays_between(date(2024, 12, 1), date(2026, 1, 5))
