"""`huhang impact`: replay the ledger under two rule sets and report what changes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kernel import load_rules
from kernel.cli.main import main
from kernel.rules.model import RuleSet
from kernel.tools.impact import compare, headline_lines, replay
from kernel.tools.rulediff import rule_changes
from tests.conftest import ROOT
from tests.test_scoring import build

AS_OF = dt.date(2026, 12, 31)
RESOLVE_TITLE = "交办后按等级限期办结（A 5、B 10、C 20 个工作日）"


def edit(rules: Path, name: str, old: str, new: str) -> Path:
    path = rules / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return rules


def test_same_rules_change_nothing(ruleset: RuleSet) -> None:
    events = list(build(ruleset).ledger.events())
    impact = compare(replay(events, ruleset, AS_OF), replay(events, ruleset, AS_OF))
    assert (impact.tickets, impact.units, impact.tickets_compared, impact.units_compared) == (
        [],
        [],
        3,
        42,
    )


def test_a_longer_c_limit_moves_a_due_date(ruleset: RuleSet, rules_copy: Path) -> None:
    candidate = load_rules(edit(rules_copy, "deadlines.yaml", "C: 20}", "C: 30}"))
    events = list(build(ruleset).ledger.events())
    impact = compare(replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF))
    # T-3 is C: dispatched 1 April; 20 working days → 30 April, 30 → 18 May (劳动节 1–5 May, 9 May worked)
    assert [
        (c.subject, c.field, c.clock, c.baseline, c.candidate, c.rules) for c in impact.tickets
    ] == [("T-3", "clock.due", "T-RESOLVE#1", "2026-04-30", "2026-05-18", ("T-RESOLVE",))]
    assert impact.tickets[0].what == f"{RESOLVE_TITLE}·到期日"


def test_regrading_changes_grades_deadlines_and_scores(ruleset: RuleSet, rules_copy: Path) -> None:
    candidate = load_rules(
        edit(
            rules_copy,
            "scoring.yaml",
            "    clock: T-RESOLVE\n    points: 1",
            "    clock: T-RESOLVE\n    points: 3",
        )
    )
    events = list(build(ruleset).ledger.events())
    # by the end of June: later, T-3's 通报 of every month would take the daily score to 0
    june = dt.date(2026, 6, 30)
    base, cand = replay(events, ruleset, june), replay(events, candidate, june)
    impact = compare(base, cand)
    assert impact.tickets == []
    assert [(c.subject, c.what, c.baseline, c.candidate, c.rules) for c in impact.units] == [
        (
            "汉台区",
            "得分",
            base.assessment.unit("汉台区").score,
            cand.assessment.unit("汉台区").score,
            ("S-DAILY",),
        )  # type: ignore[union-attr]
    ]
    assert cand.assessment.unit("汉台区").score == base.assessment.unit("汉台区").score - 2 * 2  # type: ignore[union-attr]


def test_a_grade_change_is_traced_to_its_rules(ruleset: RuleSet, rules_copy: Path) -> None:
    candidate = load_rules(
        edit(
            rules_copy,
            "grading.yaml",
            "        count: {le: 1}\n    then: {grade: A}",
            "        count: {le: 1}\n    then: {grade: B}",
        )
    )
    events = list(build(ruleset).ledger.events())
    impact = compare(replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF))
    grades = [
        (c.subject, c.baseline, c.candidate, c.rules) for c in impact.tickets if c.what == "等级"
    ]
    assert grades == [("T-1", "A", "B", ("G-A-OWN-AUTHORITY",))]  # T-2 is B and T-3 C already
    assert ("T-1", "T-RESOLVE#1", "2026-03-12", "2026-03-19") in [
        (c.subject, c.clock, c.baseline, c.candidate) for c in impact.tickets
    ]
    assert impact.units == []  # T-1 was resolved on 11 March: on time under either limit


def test_history_that_breaks_under_the_candidate(ruleset: RuleSet, rules_copy: Path) -> None:
    # Route every problem to 人社局: the resolutions by 汉台区 are no longer by a handler.
    candidate = load_rules(
        edit(
            rules_copy,
            "routing.yaml",
            "      primary: {ref: enterprise.territory}\n",
            "      primary: 人社局\n",
        )
    )
    events = list(build(ruleset).ledger.events())
    impact = compare(replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF))
    broken = [(c.subject, c.candidate) for c in impact.tickets if c.what == "历史在新规则下不成立"]
    assert [subject for subject, _ in broken] == ["T-1", "T-2"]
    assert "汉台区 不是办理单 T-1 的办理单位" in broken[0][1]


def test_cli_md_for_a_proposal(
    ruleset: RuleSet, rules_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps(e.to_dict(), ensure_ascii=False) + "\n"
            for e in build(ruleset).ledger.events()
        ),
        encoding="utf-8",
    )
    edit(rules_copy, "deadlines.yaml", "C: 20}", "C: 30}")
    code = main(
        [
            "impact",
            "--candidate",
            str(rules_copy),
            "--events",
            str(events),
            "--as-of",
            "2026-12-31",
            "--format",
            "md",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("# 规则修改影响分析\n")
    assert (
        f"| T-3      | 汉运物流 | {RESOLVE_TITLE}·到期日 | 2026-04-30 | 2026-05-18   | T-RESOLVE  |"
        in out
    )
    code = main(
        ["impact", "--candidate", str(rules_copy), "--events", str(events), "--format", "json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["tickets"][0]["field"], data["tickets"][0]["clock"]) == (
        "clock.due",
        "T-RESOLVE#1",
    )
    assert data["rule_changes"] == [
        {
            "file": "deadlines.yaml",
            "rule": "T-RESOLVE",
            "change": "changed",
            "title": RESOLVE_TITLE,
            "fields": ["limit.by_grade.C"],
        }
    ]


def _events_file(ruleset: RuleSet, tmp_path: Path) -> Path:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(
            json.dumps(e.to_dict(), ensure_ascii=False) + "\n"
            for e in build(ruleset).ledger.events()
        ),
        encoding="utf-8",
    )
    return events


def test_the_headline_names_problems_left_without_a_grade_first(
    ruleset: RuleSet, rules_copy: Path
) -> None:
    # 单一单位职权 now only for 政策咨询: T-1 (用工, no department) is matched by no grading rule
    candidate = load_rules(
        edit(
            rules_copy,
            "grading.yaml",
            "        - field: assessment.departments\n          count: {le: 1}\n",
            "",
        )
    )
    events = list(build(ruleset).ledger.events())
    impact = compare(replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF))
    headline = impact.headline()
    assert headline.ungraded == ["T-1"] and headline.grades == {("A", None): 1}
    lines = headline_lines(impact, baseline="rules", candidate="my-rules")
    assert lines[0].startswith(
        "1 个问题在拟修改规则下没有等级（现行规则下为 A 级 1 个，依据 G-A-OWN-AUTHORITY）：T-1。"
    )
    assert lines[1] == "等级改变 1 个问题：A 级 → 无等级 1 个。"
    assert "时限到期日改变：1 个问题的 1 个时限（不再计时 1 个）。" in lines


def test_a_grade_flip_shows_the_agenda_and_coordinators(ruleset: RuleSet, rules_copy: Path) -> None:
    # without G-C-LEADER, T-3 (needs a leader's decision, no department) is A, off the agenda
    text = (rules_copy / "grading.yaml").read_text(encoding="utf-8")
    start = text.index("  - id: G-C-LEADER")
    end = text.index("  - id: G-B-TERRITORY")
    (rules_copy / "grading.yaml").write_text(text[:start] + text[end:], encoding="utf-8")
    candidate = load_rules(rules_copy)
    events = list(build(ruleset).ledger.events())
    impact = compare(replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF))
    assert [(c.field, c.what, c.baseline, c.candidate) for c in impact.tickets[:3]] == [
        ("grade", "等级", "C", "A"),
        ("route.coordinators", "协调单位", ["助商稳企办"], []),
        ("route.agenda", "列入调度会议程", True, False),
    ]
    headline = impact.headline()
    assert headline.routes == {"coordinators": 1, "agenda": 1}
    lines = headline_lines(impact, baseline="rules", candidate="my-rules")
    assert lines[:2] == [
        "等级改变 1 个问题：C 级 → A 级 1 个。",
        "路由改变：协调单位 1 个问题、列入调度会议程 1 个问题。",
    ]
    # every label is Chinese
    assert all(not c.what.isascii() for c in impact.tickets + impact.units)


def test_rule_changes_by_id(rules_copy: Path) -> None:
    text = (rules_copy / "grading.yaml").read_text(encoding="utf-8")
    start = text.index("  - id: G-C-LEADER")
    end = text.index("  - id: G-B-TERRITORY")
    leader = text[start:end]
    text = text[:start] + text[end:] + leader.replace("G-C-LEADER", "G-C-MAYOR")
    text = text.replace("title: 问题分级", "title: 问题分级（征求意见稿）", 1)
    (rules_copy / "grading.yaml").write_text(text, encoding="utf-8")
    edit(rules_copy, "deadlines.yaml", "C: 20}", "C: 30}")
    (rules_copy / "calendar" / "2020.yaml").unlink()
    changes = [
        (r.file, r.rule, r.change, r.fields) for r in rule_changes(ROOT / "rules", rules_copy)
    ]
    assert changes == [
        ("calendar/2020.yaml", "", "removed", ()),
        ("deadlines.yaml", "T-RESOLVE", "changed", ("limit.by_grade.C",)),
        ("grading.yaml", "", "changed", ("title",)),
        ("grading.yaml", "G-C-LEADER", "removed", ()),
        ("grading.yaml", "G-C-MAYOR", "added", ()),
    ]


def test_impact_workbook(
    ruleset: RuleSet, rules_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from openpyxl import load_workbook

    events = _events_file(ruleset, tmp_path)
    edit(rules_copy, "deadlines.yaml", "C: 20}", "C: 30}")
    output = tmp_path / "影响.xlsx"
    argv = ["impact", "--candidate", str(rules_copy), "--events", str(events)]
    assert main([*argv, "--format", "xlsx", "--output", str(output)]) == 0
    assert capsys.readouterr().out == f"已写入 {output}\n"
    book = load_workbook(output)
    assert book.sheetnames == ["概要", "规则改动", "办理单", "考核单位"]
    summary = [(a.value, b.value) for a, b in book["概要"].iter_rows(min_row=2)]
    assert summary[1] == ("要点", "时限到期日改变：1 个问题的 1 个时限（推迟 1 个）。")
    tickets = book["办理单"]
    assert [c.value for c in tickets[2]] == [
        "T-3",
        "汉运物流",
        f"{RESOLVE_TITLE}·到期日",
        "2026-04-30",
        "2026-05-18",
        "T-RESOLVE",
    ]
    assert [c.value for c in book["规则改动"][2]] == [
        "deadlines.yaml",
        "T-RESOLVE",
        "修改",
        RESOLVE_TITLE,
        "limit.by_grade.C",
    ]


def test_stored_steps_are_checked_against_the_candidate_lifecycle(
    ruleset: RuleSet, rules_copy: Path
) -> None:
    from kernel.ledger.events import OFFICE
    from tests.test_lifecycle import dispatched

    tl = dispatched(ruleset, "A")  # dispatched 2 June, due 9 June
    tl.submit("ticket.extension_requested", "2026-06-08", "汉台区", {"workdays": 3})
    tl.submit("ticket.extension_granted", "2026-06-09", OFFICE, {"workdays": 3})
    events = list(tl.ledger.events())
    # A may be extended by at most 2 working days a round under the candidate
    candidate = load_rules(
        edit(rules_copy, "lifecycle.yaml", "{A: 3, B: 10, C: 10}", "{A: 2, B: 10, C: 10}")
    )
    base, cand = replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF)
    assert base.rejected == {}
    assert list(cand.rejected) == ["T-1"]
    assert "超过 A 级每轮至多 2 个工作日" in cand.rejected["T-1"]
    assert "L-EXTENSION-REQUEST" in cand.rejected["T-1"]
    broken = [c for c in compare(base, cand).tickets if c.field == "rejected"]
    assert [c.subject for c in broken] == ["T-1"]
