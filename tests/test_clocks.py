"""Clocks of docs/policy.md §5 on the official calendar; expected dates are worked out by hand.

2026 calendar facts used below: 清明 4–6 April; 劳动节 1–5 May with Saturday 9 May worked;
中秋 25–27 September; 国庆 1–7 October with Sunday 20 September and Saturday 10 October worked.
2025: 国庆 1–8 October with Sunday 28 September and Saturday 11 October worked.
"""

from __future__ import annotations

import pytest

from kernel.clocks.compute import require_decided
from kernel.errors import CalendarError
from kernel.rules.model import RuleSet
from tests.timeline import Timeline, d


@pytest.fixture
def tl(ruleset: RuleSet) -> Timeline:
    return Timeline(ruleset).register()


def dispatched(tl: Timeline, day: str, grade: str, *, collected: str | None = None) -> Timeline:
    tl.collect(collected or day).report(collected or day).grade(collected or day, grade).dispatch(
        day
    )
    return tl


# --------------------------------------------------------------------------- T-REPORT


def test_report_clock_met(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-04")
    item = tl.clock("2026-03-10", "T-REPORT#1")
    assert (item.due, item.stop, item.state, item.owners) == (
        d("2026-03-04"),
        d("2026-03-04"),
        "met",
        ("商务局",),
    )


@pytest.mark.parametrize(
    ("as_of", "state", "overdue"),
    [
        ("2026-03-02", "running", 0),
        ("2026-03-03", "warning", 0),  # 1 working day before the deadline
        ("2026-03-04", "warning", 0),  # the deadline day itself
        ("2026-03-05", "breached", 1),
        ("2026-03-09", "breached", 3),  # Thu, Fri, Mon
    ],
)
def test_report_clock_states(tl: Timeline, as_of: str, state: str, overdue: int) -> None:
    tl.collect("2026-03-02")
    item = tl.clock(as_of, "T-REPORT#1")
    assert (item.due, item.state, item.overdue_workdays) == (d("2026-03-04"), state, overdue)
    assert item.warning_on == d("2026-03-03")


def test_late_report_stays_breached_after_it_stops(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-06")
    item = tl.clock("2026-03-20", "T-REPORT#1")
    assert (item.state, item.overdue_workdays) == ("breached", 2)
    assert [e.step.id for e in item.escalations] == ["E-SUPERVISE"]
    assert item.escalations[0].day == d("2026-03-05")


def test_events_after_as_of_are_ignored(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-06")
    item = tl.clock("2026-03-04", "T-REPORT#1")
    assert (item.stop, item.state) == (None, "warning")


# --------------------------------------------------------------------------- holiday edges


def test_collected_on_the_friday_before_national_day(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset).register("2025-01-06")
    tl.collect("2025-09-26")  # Friday; Sunday 28 September 2025 was a working day
    item = tl.clock("2025-09-26", "T-REPORT#1")
    assert item.due == d("2025-09-29")


def test_collected_before_a_long_holiday(tl: Timeline) -> None:
    tl.collect("2026-09-30")  # Wednesday before 国庆: next working days are 8 and 9 October
    assert tl.clock("2026-09-30", "T-REPORT#1").due == d("2026-10-09")


def test_a_makeup_saturday_counts(tl: Timeline) -> None:
    tl.collect("2026-10-09").report("2026-10-09")
    item = tl.clock("2026-10-09", "T-DISPATCH#1")
    assert item.due == d("2026-10-10")  # Saturday, worked instead of a 国庆 day
    assert item.owners == ("助商稳企办",)


def test_deadline_on_the_last_day_of_the_last_covered_year(tl: Timeline) -> None:
    dispatched(tl, "2026-12-24", "A")
    item = tl.clock("2026-12-31", "T-RESOLVE#1")
    assert (item.due, item.state) == (d("2026-12-31"), "warning")


def test_deadline_in_a_year_without_data_is_due_after_the_data(tl: Timeline) -> None:
    dispatched(tl, "2026-12-24", "B")
    item = tl.clock("2026-12-28", "T-RESOLVE#1")
    # ten working days from 24 December run past 2026: not due in 2026, whatever 2027 holds
    assert (item.due, item.due_after, item.state) == (None, d("2026-12-31"), "running")
    assert not item.undecided and not item.warning_undecided
    assert item.to_dict()["due"] is None and item.to_dict()["due_after"] == "2026-12-31"


def test_warning_close_to_a_year_without_data_is_undecided_alone(tl: Timeline) -> None:
    dispatched(tl, "2026-12-24", "B")
    assert not tl.clock("2026-12-30", "T-RESOLVE#1").warning_undecided  # 31st still ahead
    result = tl.clocks("2026-12-31")
    item = next(i for i in result.instances if i.key == "T-RESOLVE#1")
    # no working day left in 2026: the warning (1 working day ahead) may be due already
    assert (item.state, item.warning_undecided, item.undecided) == ("running", True, "")
    assert result.missing_years == (2027,)
    assert all(not i.warning_undecided for i in result.instances if i is not item)


def test_state_in_a_year_without_data_blocks_only_that_clock(tl: Timeline) -> None:
    dispatched(tl, "2026-12-24", "B")
    result = tl.clocks("2027-01-05")
    by_key = {i.key: i for i in result.instances}
    assert by_key["T-RESOLVE#1"].state == "undecided"
    assert by_key["T-RESOLVE#1"].undecided == "的到期日和状态需要 2027 年的工作日历"
    assert by_key["T-DISPATCH#1"].state == "met"  # decided in 2026
    with pytest.raises(CalendarError, match="需要 2027 年的工作日历"):
        require_decided(result, "考核")


# --------------------------------------------------------------------------- T-RESOLVE by grade


@pytest.mark.parametrize(
    ("grade", "due"), [("A", "2026-03-09"), ("B", "2026-03-16"), ("C", "2026-03-30")]
)
def test_resolution_limit_by_grade(tl: Timeline, grade: str, due: str) -> None:
    dispatched(tl, "2026-03-02", grade)
    item = tl.clock("2026-03-02", "T-RESOLVE#1")
    assert (item.limit, item.due, item.owners) == (
        {"A": 5, "B": 10, "C": 20}[grade],
        d(due),
        ("汉台区",),
    )


def test_d_grade_has_no_fixed_resolution_clock(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "D")
    keys = [i.key for i in tl.clocks("2026-03-05").instances]
    assert "T-RESOLVE#1" not in keys
    assert "T-PROGRESS-D@2026-03" in keys


def test_feedback_and_rating_clocks(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "A")
    tl.resolve("2026-03-06").feedback("2026-03-10").rate("2026-03-20", "满意")
    feedback = tl.clock("2026-03-20", "T-FEEDBACK#1")
    assert (feedback.due, feedback.state, feedback.owners) == (d("2026-03-10"), "met", ("商务局",))
    rating = tl.clock("2026-03-20", "T-RATING#1")
    assert (rating.due, rating.state, rating.overdue_workdays) == (d("2026-03-17"), "breached", 3)
    assert rating.escalations == ()  # the rating clock does not escalate


# --------------------------------------------------------------------------- reopening


def test_reopening_restarts_the_resolution_clock(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "A")
    tl.resolve("2026-03-06").feedback("2026-03-09").rate("2026-03-10", "不满意").reopen(
        "2026-03-11"
    )
    result = tl.clocks("2026-03-12")
    keys = {i.key: i for i in result.instances}
    assert keys["T-RESOLVE#1"].state == "met"
    second = keys["T-RESOLVE#2"]
    assert (second.start, second.due, second.state, second.start_event) == (
        d("2026-03-11"),
        d("2026-03-18"),
        "running",
        "E9",
    )
    tl.resolve("2026-03-20")
    second = tl.clock("2026-03-20", "T-RESOLVE#2")
    assert (second.state, second.overdue_workdays) == ("breached", 2)
    assert tl.clock("2026-03-20", "T-FEEDBACK#2").start == d("2026-03-20")


# --------------------------------------------------------------------------- escalation ladder


def ladder(tl: Timeline, as_of: str) -> list[tuple[str, str, str | None]]:
    return [
        (e.step.id, e.day.isoformat(), e.month) for e in tl.clock(as_of, "T-RESOLVE#1").escalations
    ]


def test_supervision_on_the_first_working_day_after_the_deadline(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")  # due Monday 30 March
    assert ladder(tl, "2026-03-30") == []
    assert ladder(tl, "2026-03-31") == [("E-SUPERVISE", "2026-03-31", None)]


def test_notice_five_working_days_after_supervision(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")
    # 1, 2, 3, (清明 4–6), 7, 8 April
    assert ladder(tl, "2026-04-07") == [("E-SUPERVISE", "2026-03-31", None)]
    assert ladder(tl, "2026-04-08") == [
        ("E-SUPERVISE", "2026-03-31", None),
        ("E-NOTICE", "2026-04-08", "2026-04"),
    ]


def test_interview_after_two_consecutive_monthly_notices(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")
    assert [s for s, _, _ in ladder(tl, "2026-04-30")] == ["E-SUPERVISE", "E-NOTICE"]
    # May's first working day is the 6th (劳动节 1–5 May)
    assert ladder(tl, "2026-05-06")[-1] == ("E-INTERVIEW", "2026-05-06", "2026-05")
    assert tl.clocks("2026-05-06").escalations[-1].units == ("汉台区",)


def test_resolution_stops_the_ladder(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")
    tl.resolve("2026-04-20")
    assert [s for s, _, _ in ladder(tl, "2026-06-30")] == ["E-SUPERVISE", "E-NOTICE"]


def test_resolved_before_the_notice_day_is_not_listed(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")
    tl.resolve("2026-04-07")
    assert [s for s, _, _ in ladder(tl, "2026-06-30")] == ["E-SUPERVISE"]


def test_met_clock_never_escalates(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")
    tl.resolve("2026-03-30")
    assert tl.clock("2026-06-30", "T-RESOLVE#1").escalations == ()


# --------------------------------------------------------------------------- D monthly progress


def test_d_grade_monthly_progress_reports(tl: Timeline) -> None:
    dispatched(tl, "2026-03-10", "D")
    tl.progress("2026-03-25")
    items = {i.key: i for i in tl.clocks("2026-05-15").instances if i.clock.id == "T-PROGRESS-D"}
    assert list(items) == ["T-PROGRESS-D@2026-03", "T-PROGRESS-D@2026-04", "T-PROGRESS-D@2026-05"]
    march, april, may = items.values()
    assert (march.due, march.state, march.stop) == (d("2026-03-31"), "met", d("2026-03-25"))
    # April: last working day Thursday 30 April; no report → 9 working days overdue by 15 May
    assert (april.due, april.state, april.overdue_workdays) == (d("2026-04-30"), "breached", 9)
    assert [(e.step.id, e.day) for e in april.escalations] == [
        ("E-SUPERVISE", d("2026-05-06")),
        ("E-NOTICE", d("2026-05-12")),
    ]
    assert (may.due, may.state) == (d("2026-05-29"), "running")


def test_a_late_report_counts_for_its_month_only(tl: Timeline) -> None:
    dispatched(tl, "2026-03-10", "D")
    tl.progress("2026-03-25").progress("2026-05-20")
    items = {i.key: i for i in tl.clocks("2026-06-10").instances if i.clock.id == "T-PROGRESS-D"}
    april, may = items["T-PROGRESS-D@2026-04"], items["T-PROGRESS-D@2026-05"]
    assert (april.state, april.stop) == ("breached", d("2026-05-20"))
    assert (may.state, may.stop, may.overdue_workdays) == ("breached", None, 8)  # 1–5, 8–10 June


def test_d_grade_resolved_mid_month_owes_no_report_that_month(tl: Timeline) -> None:
    dispatched(tl, "2026-03-10", "D")
    tl.progress("2026-03-30").resolve("2026-04-15")
    keys = [i.key for i in tl.clocks("2026-06-30").instances if i.clock.id == "T-PROGRESS-D"]
    assert keys == ["T-PROGRESS-D@2026-03"]


def test_dispatched_on_the_last_working_day_owes_nothing_that_month(tl: Timeline) -> None:
    dispatched(tl, "2026-03-31", "D")
    keys = [i.key for i in tl.clocks("2026-04-02").instances if i.clock.id == "T-PROGRESS-D"]
    assert keys == ["T-PROGRESS-D@2026-04"]


# --------------------------------------------------------------------------- explanation


def test_result_names_rule_clause_and_location(tl: Timeline) -> None:
    dispatched(tl, "2026-03-02", "C")
    item = tl.clock("2026-03-31", "T-RESOLVE#1")
    data = item.to_dict()
    assert data["clock"] == "T-RESOLVE"
    assert (
        data["clause"] == "政策 §5.4（默认）；不满意重新办理时重新计时；退回、延期、挂起见政策 §8"
    )
    assert data["escalations"][0]["clause"].startswith("政策 §5.9")
    assert item.clock.path.endswith("deadlines.yaml") and item.clock.line > 0


def test_open_d_grade_ticket_at_the_end_of_the_last_covered_year(tl: Timeline) -> None:
    dispatched(tl, "2026-11-02", "D")
    keys = [i.key for i in tl.clocks("2026-12-31").instances]
    assert keys == ["T-REPORT#1", "T-DISPATCH#1", "T-PROGRESS-D@2026-11", "T-PROGRESS-D@2026-12"]


def test_a_breach_in_late_december_does_not_need_next_years_calendar(tl: Timeline) -> None:
    # B from Thursday 10 December: due Thursday 24 December; 督办 on the 25th; the 通报 would be
    # five working days later, in 2027, for which there is no calendar yet: not due, no error.
    dispatched(tl, "2026-12-10", "B")
    item = tl.clock("2026-12-31", "T-RESOLVE#1")
    assert item.due == d("2026-12-24")
    assert [(e.step.id, e.day) for e in item.escalations] == [("E-SUPERVISE", d("2026-12-25"))]
    assert item.overdue_workdays == 5
