"""`huhang impact`: replay the ledger under two rule sets and report what changes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kernel import load_rules
from kernel.cli.main import main
from kernel.rules.model import RuleSet
from kernel.tools.impact import compare, replay
from tests.test_scoring import build

AS_OF = dt.date(2026, 12, 31)


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
    assert [(c.subject, c.what, c.baseline, c.candidate, c.rules) for c in impact.tickets] == [
        ("T-3", "T-RESOLVE#1 到期日", "2026-04-30", "2026-05-18", ("T-RESOLVE",))
    ]


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
    base, cand = replay(events, ruleset, AS_OF), replay(events, candidate, AS_OF)
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
    assert ("T-1", "T-RESOLVE#1 到期日", "2026-03-12", "2026-03-19") in [
        (c.subject, c.what, c.baseline, c.candidate) for c in impact.tickets
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
    assert "| T-3      | T-RESOLVE#1 到期日 | 2026-04-30 | 2026-05-18   | T-RESOLVE  |" in out
    code = main(
        ["impact", "--candidate", str(rules_copy), "--events", str(events), "--format", "json"]
    )
    data = json.loads(capsys.readouterr().out)
    assert data["tickets"][0]["what"] == "T-RESOLVE#1 到期日"
