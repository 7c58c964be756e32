"""The assessment on a small ledger, with every expectation worked out by hand.

汉台区 is the primary handler of three tickets of 汉运物流 (lead unit 商务局); the assessments are
the ones the rules grade A, B and C (the impact tests replay this ledger under the rules):

* T-1 (A): reported on time; dispatched 5 March, due 12 March, resolved 11 March; rated 满意.
* T-2 (B): reported 6 March, due 4 March → late report (商务局 −0.5 on 5 March); dispatched
  9 March, due 23 March, resolved 25 March → overdue (汉台区 −1 on 24 March); rated 不满意
  (汉台区 −1); reopened 30 March, due 7 April (清明 4–6 April), resolved 3 April; rated 基本满意.
* T-3 (C): dispatched 1 April, due 30 April, never resolved → overdue (汉台区 −1 on 6 May, the
  first working day after 劳动节); 督办 −1, 通报 −2, 约谈 −3; a 台账 spot check −0.5.
* Contacts every month from February except March and July (商务局 −0.5 × 2).

汉台区 for 2026: closure 40 × 2/4 = 20; satisfaction 30 × 2/3 = 20; daily 30 − 9.5 = 20.5;
score 60.5; converted 60.5 ÷ 100 × 5 = 3.025 → 3.03; no outcome.
商务局: nothing due (无应办结事项, full 40), no rating (30), daily 30 − 1.5 = 28.5; score 98.5 → 鼓励.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kernel import load_rules
from kernel.assessment.scoring import Assessment, FactCollector, assess
from kernel.ledger.events import OFFICE
from kernel.rules.model import RuleSet
from tests.timeline import CODE, Timeline


def build(ruleset: RuleSet) -> Timeline:
    tl = Timeline(ruleset).register()
    tl.collect("2026-03-02", ticket_id="T-1").report("2026-03-04").grade(
        "2026-03-04", "A"
    ).dispatch("2026-03-05")
    tl.resolve("2026-03-11").feedback("2026-03-12").rate("2026-03-13", "满意")
    tl.collect("2026-03-02", ticket_id="T-2", needs_territory=True, departments=["人社局"]).report(
        "2026-03-06"
    ).grade("2026-03-06", "B").dispatch("2026-03-09")
    tl.resolve("2026-03-25").feedback("2026-03-26").rate("2026-03-27", "不满意").reopen(
        "2026-03-30"
    )
    tl.resolve("2026-04-03").feedback("2026-04-07").rate("2026-04-08", "基本满意")
    tl.collect("2026-04-01", ticket_id="T-3", needs_leader_decision=True).report(
        "2026-04-01"
    ).grade("2026-04-01", "C").dispatch("2026-04-01")
    for kind, day in (
        ("supervision.issued", "2026-05-06"),
        ("notice.published", "2026-05-13"),
        ("interview.recommended", "2026-06-01"),
    ):
        tl.submit(kind, day, OFFICE, {"unit": "汉台区"}, ticket_id="T-3")
    tl.submit(
        "spot_check.defect", "2026-06-15", OFFICE, {"unit": "汉台区", "finding": "台账缺反馈记录"}
    )
    for month in (2, 4, 5, 6, 8, 9, 10, 11, 12):
        tl.contact(f"2026-{month:02d}-10")
    return tl


def run(
    ruleset: RuleSet, tl: Timeline, period: str = "2026", *, monthly: bool = False
) -> Assessment:
    assert ruleset.scoring and ruleset.deadlines and ruleset.calendar
    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    return assess(collector, tl.ledger.project(), list(tl.ledger.events()), period, monthly=monthly)


@pytest.fixture(scope="module")
def year(ruleset: RuleSet) -> Assessment:
    return run(ruleset, build(ruleset))


def test_primary_handler_indicators(year: Assessment) -> None:
    unit = year.unit("汉台区")
    assert [(i.id, i.points, i.numerator, i.denominator) for i in unit.indicators] == [
        ("S-CLOSURE", 20.0, 2, 4),
        ("S-SATISFACTION", 20.0, 2, 3),
        ("S-DAILY", 20.5, None, None),
    ]
    assert (unit.score, unit.converted, unit.outcomes) == (60.5, 3.03, ())


def test_every_deduction_traces_to_its_facts(year: Assessment) -> None:
    rows = [
        (str(d.day), d.rule, d.points, d.ticket_id, d.source)
        for d in year.unit("汉台区").deductions
    ]
    assert rows == [
        ("2026-03-24", "D-OVERDUE", 1.0, "T-2", "T-RESOLVE#1"),
        ("2026-03-27", "D-UNSATISFIED", 1.0, "T-2", "E15"),
        ("2026-05-06", "D-OVERDUE", 1.0, "T-3", "T-RESOLVE#1"),
        ("2026-05-06", "D-SUPERVISION", 1.0, "T-3", "E24"),
        ("2026-05-13", "D-NOTICE", 2.0, "T-3", "E25"),
        ("2026-06-01", "D-INTERVIEW", 3.0, "T-3", "E26"),
        ("2026-06-15", "D-LEDGER-DEFECT", 0.5, None, "E27"),
    ]
    first = year.unit("汉台区").deductions[0]
    assert (
        first.clause == "政策 §6.5.2 默认扣 1 分/件"
        and first.version == 1
        and first.events == ("E12",)  # the dispatch that started the clock
    )


def test_lead_unit_owns_report_and_contact_clocks(year: Assessment) -> None:
    unit = year.unit("商务局")
    assert [(str(d.day), d.rule, d.source) for d in unit.deductions] == [
        ("2026-03-05", "D-LATE-REPORT", "T-REPORT#1"),
        ("2026-03-31", "D-MISSED-CONTACT", f"{CODE}@2026-03"),
        ("2026-07-31", "D-MISSED-CONTACT", f"{CODE}@2026-07"),
    ]
    assert [(i.points, i.note) for i in unit.indicators[:2]] == [
        (40.0, "无应办结事项"),
        (30.0, "无评价"),
    ]
    assert (unit.score, unit.converted, unit.outcomes) == (98.5, 4.93, (("O-COMMEND", "鼓励"),))


def test_untouched_units_and_ranking(year: Assessment) -> None:
    assert len(year.units) == 42  # 12 territories + 30 departments; offices are not assessed
    assert year.units[-1].unit == "汉台区" and year.units[-1].rank == 42
    assert year.unit("人社局").score == 100.0 and year.unit("人社局").rank == 1


def test_one_pass_equals_month_by_month(ruleset: RuleSet, year: Assessment) -> None:
    assert run(ruleset, build(ruleset), monthly=True) == year


def test_quarter_and_month_periods(ruleset: RuleSet) -> None:
    tl = build(ruleset)
    march = run(ruleset, tl, "2026-03").unit("汉台区")
    # due in March: T-1 (on time), T-2#1 (late); ratings in March: 满意, 不满意
    assert [(i.numerator, i.denominator) for i in march.indicators[:2]] == [(1, 2), (1, 2)]
    assert march.score == 20 + 15 + 28
    q2 = run(ruleset, tl, "2026-Q2").unit("汉台区")
    assert [(i.numerator, i.denominator) for i in q2.indicators[:2]] == [(1, 2), (1, 1)]
    assert q2.deduction_points == 7.5


def test_floor_at_zero_and_criticism(ruleset: RuleSet, rules_copy: Path) -> None:
    text = (rules_copy / "scoring.yaml").read_text(encoding="utf-8")
    (rules_copy / "scoring.yaml").write_text(
        text.replace(
            "    event: interview.recommended\n    unit: payload.unit\n    points: 3",
            "    event: interview.recommended\n    unit: payload.unit\n    points: 40",
        ),
        encoding="utf-8",
    )
    custom = load_rules(rules_copy)
    unit = run(custom, build(custom)).unit("汉台区")
    assert unit.indicators[2].points == 0.0  # 30 − 46.5, floored
    assert unit.score == 40.0
    assert unit.outcomes == (("O-CRITICIZE", "通报批评"),)


def test_accountability_below_half_closure(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset).register()
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A").dispatch("2026-03-02")
    unit = run(ruleset, tl, "2026-03").unit("汉台区")
    assert unit.metrics["closure_rate"] == 0.0
    assert [o for o, _ in unit.outcomes] == ["O-ACCOUNTABILITY", "O-CRITICIZE"]


def test_conversion_weight_per_unit(ruleset: RuleSet, rules_copy: Path) -> None:
    text = (rules_copy / "scoring.yaml").read_text(encoding="utf-8")
    (rules_copy / "scoring.yaml").write_text(
        text.replace("  weight: 5 ", "  weight: 5\n  weights: {汉台区: 6} "), encoding="utf-8"
    )
    custom = load_rules(rules_copy)
    result = run(custom, build(custom))
    assert (result.unit("汉台区").converted, result.unit("汉台区").weight) == (3.63, 6.0)
    assert result.unit("商务局").converted == 4.93


def test_mid_year_rule_change_rescores_nothing_before_it(
    ruleset: RuleSet, rules_copy: Path
) -> None:
    text = (rules_copy / "scoring.yaml").read_text(encoding="utf-8")
    v2 = (
        text.replace(
            "version: 1\neffective_from: 2026-01-01", "version: 2\neffective_from: 2026-07-01"
        )
        .replace("    clock: T-RESOLVE\n    points: 1", "    clock: T-RESOLVE\n    points: 2")
        .replace(
            "    event: spot_check.defect\n    unit: payload.unit\n    points: 0.5",
            "    event: spot_check.defect\n    unit: payload.unit\n    points: 1",
        )
    )
    (rules_copy / "scoring.2026-07.yaml").write_text(v2, encoding="utf-8")
    custom = load_rules(rules_copy)
    tl = build(custom)
    tl.submit(
        "spot_check.defect", "2026-07-10", OFFICE, {"unit": "汉台区", "finding": "台账缺办结材料"}
    )
    result = run(custom, tl)
    rows = [
        (str(d.day), d.rule, d.points, d.version)
        for d in result.unit("汉台区").deductions
        if d.rule in ("D-OVERDUE", "D-LEDGER-DEFECT")
    ]
    assert rows == [
        ("2026-03-24", "D-OVERDUE", 1.0, 1),
        ("2026-05-06", "D-OVERDUE", 1.0, 1),
        ("2026-06-15", "D-LEDGER-DEFECT", 0.5, 1),
        ("2026-07-10", "D-LEDGER-DEFECT", 1.0, 2),
    ]
    assert result.unit("汉台区").score == 59.5  # 60.5 − 1 for the new July finding
    assert result.version == 2


def test_scoring_versions_are_checked(rules_copy: Path) -> None:
    from kernel import check_rules

    text = (rules_copy / "scoring.yaml").read_text(encoding="utf-8")
    (rules_copy / "scoring.2026-07.yaml").write_text(
        text.replace("clock: T-REPORT", "clock: T-REPROT"), encoding="utf-8"
    )
    problems = [(p.code, p.message) for p in check_rules(rules_copy)[1]]
    assert problems == [
        (
            "UNKNOWN-CLOCK",
            "扣分项 D-LATE-REPORT 引用的时限 'T-REPROT' 不存在，是否想写 'T-REPORT'？",
        )
    ]
    (rules_copy / "scoring.2026-07.yaml").write_text(
        text, encoding="utf-8"
    )  # same version and date
    problems = [(p.code, p.message) for p in check_rules(rules_copy)[1]]
    assert [code for code, _ in problems] == ["SCORING-VERSION", "SCORING-VERSION"]
    assert problems[0][1].startswith("版本号 1 与 ") and problems[1][1].startswith(
        "生效日期 2026-01-01 与 "
    )


def test_clocks_already_evaluated_give_the_same_tallies(ruleset: RuleSet) -> None:
    assert ruleset.scoring and ruleset.deadlines and ruleset.calendar
    tl = build(ruleset)
    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    projector = tl.ledger.project()
    events = list(tl.ledger.events())
    as_of = dt.date(2026, 12, 31)
    clocks = {k: collector.evaluator.evaluate(s, as_of) for k, s in projector.tickets.items()}
    assert collector.tallies(projector, events, as_of, clocks=clocks) == collector.tallies(
        projector, events, as_of
    )
    with pytest.raises(ValueError, match="another day"):
        collector.tallies(projector, events, dt.date(2026, 6, 30), clocks=clocks)
