"""Reading the State Council's holiday notices into year files (huhang calendar import)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import chinese_calendar
import pytest

from kernel.calendar import lunar
from kernel.calendar.notice import amend_year, normalize, parse_notice, year_from_notice
from kernel.calendar.statutory import law_in_force, law_versions
from kernel.calendar.workdays import CalendarYear, WorkCalendar, load_year_file
from kernel.calendar.yearfile import render_year
from kernel.cli.main import main
from kernel.errors import ProblemsError
from tests.conftest import ROOT

NOTICES = ROOT / "tests" / "fixtures" / "notices"
SHIPPED = ROOT / "rules" / "calendar"
D = dt.date.fromisoformat


def notice_text(name: str) -> str:
    return (NOTICES / name).read_text(encoding="utf-8")


def imported(year: int) -> CalendarYear:
    """The year as ``huhang calendar import`` builds it from the fixture notices."""
    result = year_from_notice(parse_notice(notice_text(f"{year}.txt"), f"{year}.txt"))
    for amending in sorted(NOTICES.glob(f"{year}-*.txt")):
        result = amend_year(result, parse_notice(amending.read_text(encoding="utf-8"), "x"))
    return result


def problems_of(text: str, **kwargs: int) -> list[str]:
    with pytest.raises(ProblemsError) as info:
        parse_notice(text, "通知.txt", **kwargs)
    return [p.message for p in info.value.problems]


# --------------------------------------------------------------------------- shipped years


@pytest.mark.parametrize("year", range(2020, 2027))
def test_each_notice_reproduces_the_shipped_file(year: int) -> None:
    assert render_year(imported(year)) == (SHIPPED / f"{year}.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(SHIPPED.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_files_are_in_the_written_layout(path: Path) -> None:
    assert render_year(load_year_file(path)) == path.read_text(encoding="utf-8")


def test_older_notices_match_chinesecalendar_day_by_day() -> None:
    calendar = WorkCalendar(imported(year) for year in range(2014, 2027))
    # 3-5 September 2015 (抗战胜利70周年) came from a separate notice, not the yearly one
    victory_day = {D("2015-09-03"), D("2015-09-04"), D("2015-09-06")}
    day, differ = D("2014-01-01"), []
    while day <= D("2026-12-31"):
        if calendar.is_workday(day) != chinese_calendar.is_workday(day):
            differ.append(day)
        day += dt.timedelta(days=1)
    assert set(differ) == victory_day


def test_number_title_and_date_are_read_when_present() -> None:
    notice = parse_notice(notice_text("2014.txt"))  # title split over two lines
    assert notice.source == "国务院办公厅关于2014年部分节假日安排的通知（国办发明电〔2013〕28号）"
    assert notice.published == D("2013-12-11")
    bare = parse_notice(notice_text("2015.txt"))  # body and signature only
    assert (bare.year, bare.source) == (2015, "国务院办公厅关于2015年部分节假日安排的通知")


# --------------------------------------------------------------------------- wordings


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [("2023-繁體-新華社.txt", "2023.txt"), ("2025-半角标点-新华社.txt", "2025.txt")],
)
def test_traditional_characters_and_half_width_punctuation(variant: str, canonical: str) -> None:
    a = year_from_notice(parse_notice(notice_text(f"variants/{variant}")))
    b = year_from_notice(parse_notice(notice_text(canonical)))
    assert (a.holidays, a.makeup_workdays, a.published) == (
        b.holidays,
        b.makeup_workdays,
        b.published,
    )


def test_full_width_digits_and_run_together_items() -> None:
    text = notice_text("2026.txt")
    wide = text.replace("2月15日", "２月１５日").replace("。\n\n二、", "。二、")
    assert year_from_notice(parse_notice(wide)) == year_from_notice(parse_notice(text))


@pytest.mark.parametrize(
    ("year", "festival", "span", "note"),
    [
        (2024, "元旦", ("2024-01-01", "2024-01-01"), "1月1日放假，与周末连休。"),
        (2017, "元旦", ("2017-01-01", "2017-01-02"), "1月1日放假，1月2日（星期一）补休。"),
        # 补休 on Monday after a Saturday holiday: the Sunday between is part of the range
        (2015, "端午节", ("2015-06-20", "2015-06-22"), "6月20日放假，6月22日（星期一）补休。"),
        (2019, "劳动节", ("2019-05-01", "2019-05-04"), "原定5月1日至5月1日；"),
        (2025, "元旦", ("2025-01-01", "2025-01-01"), ""),  # 放假1天，不调休
        (2023, "元旦", ("2022-12-31", "2023-01-02"), "2022年12月31日至2023年1月2日放假调休"),
        (2020, "国庆节、中秋节", ("2020-10-01", "2020-10-08"), ""),
    ],
)
def test_wordings(year: int, festival: str, span: tuple[str, str], note: str) -> None:
    holiday = next(h for h in imported(year).holidays if h.name == festival)
    assert (holiday.start.isoformat(), holiday.end.isoformat()) == span
    assert note in holiday.note if note else holiday.note == ""


def test_amendments_are_applied_and_recorded() -> None:
    year = imported(2020)
    assert [m.day for m in year.makeup_workdays if m.name == "春节"] == [D("2020-01-19")]
    assert year.amendments[0].source.endswith("（国办发明电〔2020〕1号）")
    assert year.amendments[0].summary.endswith("原定2月1日（星期六）调休上班取消。")
    adjusted = imported(2019)
    assert [m.day for m in adjusted.makeup_workdays if m.name == "劳动节"] == [
        D("2019-04-28"),
        D("2019-05-05"),
    ]


# --------------------------------------------------------------------------- checks


def test_a_wrong_weekday_in_brackets_names_the_line() -> None:
    text = notice_text("2026.txt").replace("1月4日（周日）上班", "1月4日（周六）上班")
    assert problems_of(text) == ["通知第 8 行（一、元旦）：1月4日标注为“周六”，实际是星期日"]


def test_a_wrong_lunar_date_in_brackets() -> None:
    text = notice_text("2026.txt").replace("农历正月初七", "农历正月初八")
    assert problems_of(text) == [
        "通知第 10 行（二、春节）：2月23日标注为“农历正月初八”，实际是农历正月初七"
    ]


def test_a_range_without_the_statutory_days() -> None:
    text = notice_text("2025.txt").replace(
        "5月1日（周四）至5日（周一）放假调休，共5天", "5月2日（周五）至5日（周一）放假调休，共4天"
    )
    assert problems_of(text) == [
        "通知第 16 行（四、劳动节）：劳动节的法定假日 2025-05-01（星期四）不在放假区间 "
        "2025-05-02 至 2025-05-05 内（依据 2024年11月10日修订的《全国年节及纪念日放假办法》"
        "（国务院令第795号））"
    ]


def test_除夕_is_statutory_only_under_the_2024_revision() -> None:
    # 2024: 除夕 (9 February) was a working day, which the law of 2013 allowed
    assert law_in_force(D("2024-06-01")).days("春节", 2024)[0] == D("2024-02-10")  # type: ignore[union-attr]
    text = (
        notice_text("2025.txt")
        .replace("1月28日（农历除夕、周二）至2月4日", "1月29日（农历正月初一、周三）至2月4日")
        .replace("共8天。1月26日", "共7天。1月26日")
    )
    assert "春节的法定假日 2025-01-28（星期二）不在放假区间" in problems_of(text)[0]


def test_a_makeup_day_on_a_weekday_and_a_wrong_total_are_both_reported() -> None:
    text = (
        notice_text("2026.txt")
        .replace("5月9日（周六）上班", "5月8日（周五）上班")
        .replace("共9天", "共8天")
    )
    assert problems_of(text) == [
        "通知第 10 行（二、春节）：写明共 8 天，但 2026-02-15 至 2026-02-23 是 9 天",
        "通知第 14 行（四、劳动节）：调休上班日 2026-05-08 是星期五，调休上班日只能是周六或周日",
    ]


def test_unknown_wording_is_an_error_not_a_guess() -> None:
    text = notice_text("2026.txt").replace("放假，共3天。\n\n六", "放假三天。\n\n六")
    assert problems_of(text) == [
        "通知第 16 行（五、端午节）：无法识别的放假安排“6月19日（周五）至21日（周日）放假三天”"
    ]


def test_a_missing_festival_and_a_missing_year() -> None:
    lines = [line for line in notice_text("2026.txt").splitlines() if "端午节：" not in line]
    assert problems_of("\n".join(lines)) == [
        "通知：通知中没有端午节的安排（2024年11月10日修订的《全国年节及纪念日放假办法》"
        "（国务院令第795号）规定端午节放假）"
    ]
    items = "\n".join(line for line in notice_text("2026.txt").splitlines() if "、" in line[:3])
    assert problems_of(items) == ["通知中找不到年份（如“现将2027年元旦……”），请用 --year 指定"]
    assert parse_notice(items, year=2026).items[0].start == D("2026-01-01")


def test_normalize() -> None:
    assert normalize("一、勞動節:5月1日(週五) 至 5日") == "一、劳动节：5月1日（周五）至5日"
    assert normalize("（２０２５年）　1月1日") == "（2025年）1月1日"


# --------------------------------------------------------------------------- law and lunar


def test_law_versions_by_effective_date() -> None:
    assert [v.effective.year for v in law_versions()] == [1999, 2008, 2014, 2025]
    assert law_in_force(D("2013-12-31")).decree == "国务院令第513号"  # type: ignore[union-attr]
    assert law_in_force(D("2025-01-01")).days("劳动节", 2025) == (  # type: ignore[union-attr]
        D("2025-05-01"),
        D("2025-05-02"),
    )
    assert law_in_force(D("1999-01-01")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("农历正月初七", (1, 7, False)),
        ("腊月二十八", (12, 28, False)),
        ("八月十五", (8, 15, False)),
        ("五月初五", (5, 5, False)),
        ("冬月廿三", (11, 23, False)),
        ("闰四月初十", (4, 10, True)),
        ("除夕", (12, 0, False)),
        ("大年初六", (1, 6, False)),
        ("周二", None),
        ("三月三十一", None),
    ],
)
def test_parse_lunar_day(text: str, expected: lunar.LunarDay | None) -> None:
    assert lunar.parse_lunar_day(text) == expected


def test_lunar_library_answers() -> None:
    new_years = {1900: "1900-01-31", 2000: "2000-02-05", 2026: "2026-02-17", 2027: "2027-02-06"}
    for year, day in new_years.items():
        assert lunar.to_solar(year, (1, 1, False)) == D(day)
    assert lunar.new_years_eve(2024) == D("2025-01-28")
    assert lunar.qingming(2024) == D("2024-04-04") and lunar.qingming(2023) == D("2023-04-05")
    # the years where the candidate libraries disagree (see docs/operations/calendar-update.md)
    assert lunar.to_solar(1978, (8, 15, False)) == D("1978-09-17")
    assert lunar.to_solar(2089, (8, 15, False)) == D("2089-09-18")
    with pytest.raises(ValueError, match="1900–2100"):
        lunar.qingming(2101)


# --------------------------------------------------------------------------- the command


@pytest.fixture
def rules_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_writes_the_year_file(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (rules_copy / "calendar" / "2026.yaml").unlink()
    code, out, err = run(
        capsys, "calendar", "import", str(NOTICES / "2026.txt"), "--rules", str(rules_copy)
    )
    assert (code, err) == (0, "")
    assert out.startswith(
        "已写入 rules/calendar/2026.yaml：2026 年放假 7 段共 33 天，调休上班 6 天"
    )
    assert (rules_copy / "calendar" / "2026.yaml").read_bytes() == (
        SHIPPED / "2026.yaml"
    ).read_bytes()
    again = run(capsys, "calendar", "import", str(NOTICES / "2026.txt"), "--rules", str(rules_copy))
    assert again[1] == "rules/calendar/2026.yaml 已是这份通知的内容，未改动\n"


def test_import_refuses_to_overwrite_a_different_file(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rules_copy / "calendar" / "2026.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("2026-10-10", "2026-10-11"), "utf-8")
    before = path.read_bytes()
    code, _, err = run(
        capsys, "calendar", "import", str(NOTICES / "2026.txt"), "--rules", str(rules_copy)
    )
    assert code == 2 and "已存在且内容不同；核对后加 --force 覆盖" in err
    assert path.read_bytes() == before


def test_import_from_stdin_in_gb18030_to_the_screen(
    rules_copy: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    raw = notice_text("2025.txt").encode("gb18030")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code, out, _ = run(
        capsys, "calendar", "import", "-", "--output", "-", "--rules", str(rules_copy)
    )
    assert (code, out) == (0, (SHIPPED / "2025.yaml").read_text(encoding="utf-8"))


def test_import_of_a_bad_notice_writes_nothing(
    rules_copy: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "2027.txt"
    bad.write_text(notice_text("2026.txt").replace("2026", "2027"), encoding="utf-8")
    code, out, err = run(capsys, "calendar", "import", str(bad), "--rules", str(rules_copy))
    assert code == 2 and out == ""
    assert "通知第 8 行（一、元旦）：1月1日标注为“周四”，实际是星期五" in err
    assert err.rstrip().endswith("未写入任何文件")
    assert not (rules_copy / "calendar" / "2027.yaml").exists()


def test_an_amending_notice_needs_the_year_file(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rules_copy / "calendar" / "2020.yaml").unlink()
    code, _, err = run(
        capsys,
        "calendar",
        "import",
        str(NOTICES / "2020-延长春节假期.txt"),
        "--rules",
        str(rules_copy),
    )
    assert code == 2 and "需要先有 rules/calendar/2020.yaml" in err
