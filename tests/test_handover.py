"""The year handover: a year without calendar data, the provisional year, calendar diff."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from kernel.calendar.provisional import calendar_reminders, provisional_year, with_provisional
from kernel.calendar.workdays import WorkCalendar
from kernel.cli.main import main
from kernel.clocks.sweep import SweepResult
from kernel.errors import CalendarYearMissing
from kernel.storage.sqlite import SqliteStorage
from tests.conftest import ROOT

D = dt.date.fromisoformat
EXAMPLE = ROOT / "examples" / "events.jsonl"
LATE = "HZ-2026-0900"  # a B-grade problem dispatched on 23 December: due in 2027

# A 2027 notice for the tests only (no real one exists yet): it passes every check.
NOTICE_2027 = """国务院办公厅关于2027年部分节假日安排的通知
各省、自治区、直辖市人民政府，国务院各部委、各直属机构：
经国务院批准，现将2027年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休日期的具体安排通知如下。
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月5日（农历除夕、周五）至12日（农历正月初七、周五）放假调休，共8天。2月20日（周六）上班。
三、清明节：4月3日（周六）至5日（周一）放假，共3天。
四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。4月25日（周日）、5月8日（周六）上班。
五、端午节：6月9日（周三）放假1天，不调休。
六、中秋节：9月15日（周三）放假1天，不调休。
七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。
国务院办公厅
2026年11月20日
"""


def late_ticket_events() -> list[dict[str, object]]:
    common = {"actor": "助商稳企办", "ticket_id": LATE}
    return [
        {
            "event_id": "L-1",
            "type": "ticket.collected",
            "date": "2026-12-21",
            "actor": "人社局",
            "enterprise": "91610702MA6YK3B1XQ",
            "ticket_id": LATE,
            "payload": {
                "category": "用工",
                "summary": "春节前需招聘 30 名分拣员",
                "assessment": {"authority_level": "本单位"},
            },
        },
        {
            **common,
            "event_id": "L-2",
            "type": "ticket.reported",
            "date": "2026-12-21",
            "actor": "人社局",
            "payload": {},
        },
        {
            **common,
            "event_id": "L-3",
            "type": "ticket.graded",
            "date": "2026-12-22",
            "payload": {
                "grade": "B",
                "grade_rule": "G-B",
                "route": {"primary": "人社局", "co_handlers": [], "feedback_owner": "人社局"},
            },
        },
        {
            **common,
            "event_id": "L-4",
            "type": "ticket.dispatched",
            "date": "2026-12-23",
            "payload": {},
        },
    ]


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a rules copy and a ledger holding the examples and the late ticket."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    monkeypatch.setenv("HUHANG_RULES", str(tmp_path / "rules"))
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    monkeypatch.delenv("HUHANG_CONFIG", raising=False)
    late = [json.dumps(e, ensure_ascii=False) for e in late_ticket_events()]
    (tmp_path / "late.jsonl").write_text("\n".join(late) + "\n", encoding="utf-8")
    assert main(["ingest", str(EXAMPLE), "--grade"]) == 0
    assert main(["ingest", "late.jsonl"]) == 0
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def provisional_config(folder: Path) -> None:
    (folder / "huhang.yaml").write_text(
        "calendar: {missing_year: provisional}\n"
        "notifiers:\n  - {name: 文件, type: file, path: notices.jsonl}\n",
        "utf-8",
    )


# --------------------------------------------------------------------------- refuse (default)


def test_the_years_reports_do_not_need_next_year(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    for argv in (
        ["report", "assessment", "--year", "2026"],
        ["report", "monthly", "--month", "2026-12"],
        ["report", "unit", "人社局", "--year", "2026"],
    ):
        code, out, err = run(capsys, *argv)
        assert (code, err) == (0, ""), argv
        assert "暂定" not in out  # nothing computed through a year without data
    code, _, err = run(capsys, "report", "monthly", "--month", "2027-01")
    assert code == 2
    assert "2027-01 月度通报需要 2027 年的工作日历：办理单" in err
    assert "calendar: {missing_year: provisional}" in err


def test_a_sweep_into_the_missing_year_finishes_and_names_the_rest_once(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "sweep", "--as-of", "2026-12-30")[0] == 0
    with SqliteStorage("huhang.db") as store:
        before = store.count()
    code, out, err = run(capsys, "sweep", "--as-of", "2027-01-05")
    assert code == 3  # done, with tickets left undecided
    lines = out.splitlines()
    assert lines[0].startswith("2027-01-05 巡查 3 件：")
    assert len(lines) == 2 and lines[1].startswith("2 件因缺少 2027 年日历未能计算：")
    assert LATE in lines[1] and "huhang calendar import" in lines[1]
    assert "缺少 2027 年的节假日数据" not in err  # no line per ticket any more
    with SqliteStorage("huhang.db") as store:
        assert store.count() >= before  # what was certain was still recorded


def test_sweep_summary_names_at_most_twenty_tickets() -> None:
    result = SweepResult(D("2027-01-05"), tickets=30)
    result.undecided[2027] = [f"HZ-{i:02d}" for i in range(25)]
    line = result.summary().splitlines()[1]
    assert line.startswith("25 件因缺少 2027 年日历未能计算：HZ-00, HZ-01")
    assert "HZ-19 等 25 件" in line and "HZ-20" not in line


# --------------------------------------------------------------------------- provisional


def test_provisional_year_from_the_law() -> None:
    year = provisional_year(2027)
    spans = {h.name: (h.start, h.end) for h in year.holidays}
    # 除夕 5 February (Friday) to 初三 8 February; the weekend's two days are given back
    assert spans["春节"] == (D("2027-02-05"), D("2027-02-10"))
    assert spans["劳动节"] == (D("2027-05-01"), D("2027-05-04"))  # Sat, Sun → Mon, Tue
    assert spans["清明节"] == (D("2027-04-05"), D("2027-04-05"))
    assert year.makeup_workdays == () and year.provisional
    # 中秋 falls inside 国庆 in 2028: one range, one more day
    merged = {h.name: (h.start, h.end) for h in provisional_year(2028).holidays}
    assert merged["国庆节、中秋节"] == (D("2028-10-01"), D("2028-10-05"))


def test_provisional_calendar_covers_two_years_and_marks_them() -> None:
    calendar = with_provisional(WorkCalendar.default())
    assert calendar.provisional_years == {2027, 2028}
    assert calendar.official_years == frozenset(range(2020, 2027))
    assert calendar.add_workdays(D("2026-12-24"), 10) == D("2027-01-08")
    assert calendar.is_provisional(D("2027-01-08")) and not calendar.is_provisional(D("2026-12-31"))
    with pytest.raises(CalendarYearMissing) as info:
        calendar.is_workday(D("2029-03-01"))
    assert info.value.year == 2029


def test_provisional_dates_are_marked_everywhere(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provisional_config(office)
    code, out, _ = run(capsys, "sweep", "--as-of", "2027-01-20")
    assert code == 0 and "按暂定日历计算" in out
    with SqliteStorage("huhang.db") as store:
        marked = [e for e in store.events() if e.payload.get("provisional") is True]
        notices = [d.notice for d in store.deliveries() if d.notice.data.get("provisional")]
    assert marked and all(
        e.type.endswith((".issued", ".published", ".recommended")) for e in marked
    )
    assert notices and all("暂定" in n.title or "暂定" in n.body for n in notices)
    code, out, _ = run(capsys, "ledger", "--format", "json", "--as-of", "2027-01-20")
    row = next(r for r in json.loads(out) if r["ticket_id"] == LATE)
    assert row["provisional"] is True and row["resolve_due"] == "2027-01-07（暂定）"
    code, out, _ = run(capsys, "report", "monthly", "--month", "2027-01", "--format", "json")
    assert code == 0 and json.loads(out)["provisional"] is True
    code, out, _ = run(capsys, "report", "monthly", "--month", "2027-01")
    assert "2027-01-07（暂定）" in out and "注：标注“暂定”的日期按暂定日历计算" in out


def test_diff_after_the_official_year_lands(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provisional_config(office)
    assert run(capsys, "sweep", "--as-of", "2027-01-20")[0] == 0
    with SqliteStorage("huhang.db") as store:
        events_before = [e.to_dict() for e in store.events()]
    (office / "2027.txt").write_text(NOTICE_2027, encoding="utf-8")
    code, out, _ = run(capsys, "calendar", "import", "2027.txt")
    assert code == 0 and "huhang calendar diff 2027" in out
    code, out, _ = run(
        capsys, "calendar", "diff", "2027", "--as-of", "2027-03-01", "--format", "json"
    )
    diff = json.loads(out)
    late = [c for c in diff["clocks"] if c["ticket_id"] == LATE]
    # 春节 is 5-12 February in the notice, 5-10 provisionally, and 20 February is worked
    assert {
        "ticket_id": LATE,
        "clock": "T-RESOLVE#1",
        "title": late[0]["title"],
        "field": "超期工作日",
        "before": "33",
        "after": "32",
    } in late
    assert diff["recorded_provisional"]  # on record with their provisional mark
    with SqliteStorage("huhang.db") as store:
        assert [e.to_dict() for e in store.events()] == events_before  # nothing rewritten
    code, text, _ = run(capsys, "calendar", "diff", "2027", "--as-of", "2027-03-01")
    assert text.startswith("2027 年日历：暂定 → 正式，截至 2027-03-01 的变化")
    assert f"{LATE} T-RESOLVE#1" in text


def test_diff_needs_the_official_file(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "calendar", "diff", "2027", "--as-of", "2027-03-01")
    assert code == 2 and "还没有 2027 年的正式日历文件" in err


def test_calendar_queries_mark_provisional_days(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "calendar", "is-workday", "2027-02-09")[0] == 2  # refused: no data
    provisional_config(office)
    assert run(capsys, "calendar", "is-workday", "2027-02-09")[1] == (
        "2027-02-09（星期二）不是工作日（春节）（暂定）\n"
    )


def test_bad_calendar_policy_is_located(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (office / "huhang.yaml").write_text("calendar:\n  missing_year: maybe\n", "utf-8")
    code, _, err = run(capsys, "sweep", "--as-of", "2026-12-01")
    assert code == 2
    assert "huhang.yaml:2:17: CONFIG calendar.missing_year 应为 refuse" in err


def test_reminders() -> None:
    calendar = WorkCalendar.default()
    assert calendar_reminders(calendar, D("2026-10-31")) == []
    (warning,) = calendar_reminders(calendar, D("2026-11-01"))
    assert warning.startswith("工作日历还没有 2027 年的正式文件")
    assert calendar_reminders(with_provisional(calendar), D("2026-11-01"))  # official years only


def test_deadlines_mark_counts_through_a_provisional_year(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = str(ROOT / "examples" / "history" / "hz-2026-0003.yaml")
    argv = ["deadlines", history, "--as-of", "2027-01-20"]
    assert run(capsys, *argv)[0] == 0  # refuse: the clock is undecided, the command still runs
    assert "状态：超期（超期工作日数和其后的督办需要 2027 年的工作日历）" in run(capsys, *argv)[1]
    provisional_config(office)
    code, out, _ = run(capsys, *argv)
    assert code == 0 and "  状态：超期 52 个工作日（暂定）；责任：主办单位 洋县" in out
    (ticket,) = json.loads(run(capsys, *argv, "--format", "json")[1])
    resolve = next(c for c in ticket["clocks"] if c["key"] == "T-RESOLVE#1")
    assert (resolve["provisional"], resolve["due_provisional"], ticket["provisional"]) == (
        True,
        False,  # due 2026-11-06: an official date
        True,
    )
