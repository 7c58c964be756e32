"""`huhang lint` (kernel.tools.lint.checks), driven by the folders in fixtures/lint.

Each fixture folder holds the rule files it changes (full copies of the default files with
deliberate mistakes) and ``expected.txt``: the exact text report, run from the folder above the
rule folder so that paths show as ``rules/...``. ``default`` changes nothing: it is the report
on the default rules. Besides the exact reports, the tests check every claim an example ticket
makes by evaluating it with the real engine (:class:`kernel.Kernel`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kernel import Kernel, load_rules
from kernel.evaluation.engine import EngineLimitExceeded
from kernel.rules.conditions import All, Always, AnyOf, Condition, Leaf, Not, holds
from kernel.rules.model import Rule, RuleSet, UnitValue
from kernel.tools.lint import exit_code, lint, render_findings
from kernel.tools.lint.checks import ENGINE_MAX_TRUE_TESTS
from kernel.tools.lint.findings import (
    CODES,
    CONFLICT,
    DEAD_DEDUCTION,
    ENGINE,
    ERROR,
    GAP,
    INFO,
    SHADOWED,
    STALE_NUMBER,
    UNKNOWN_TARGET,
    WARNING,
    Finding,
)
from tests.conftest import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "lint"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
RULE_FILES = {
    "units.yaml",
    "categories.yaml",
    "grading.yaml",
    "routing.yaml",
    "deadlines.yaml",
    "scoring.yaml",
}


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tmp_path, so that the copied rule folder is shown as ``rules``."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def case_rules(case: str, rules: Path) -> RuleSet:
    """The default rules with the fixture's files laid over them, loaded (and valid)."""
    for item in (FIXTURES / case).iterdir():
        if item.name in RULE_FILES:
            shutil.copyfile(item, rules / item.name)
    return load_rules(rules)


def expected(case: str) -> str:
    return (FIXTURES / case / "expected.txt").read_text(encoding="utf-8")


def example_of(findings: list[Finding], code: str, text: str) -> dict[str, Any]:
    """The example ticket of the one finding of ``code`` whose message contains ``text``."""
    found = [f for f in findings if f.code == code and text in f.message]
    assert len(found) == 1, [str(f) for f in found]
    assert found[0].example is not None
    return found[0].example


@pytest.fixture
def case_kernel(rules_copy: Path, in_tmp: Path) -> Iterator[Any]:
    """``load(case)`` -> (findings, kernel) for a fixture case; kernels are closed after."""
    kernels: list[Kernel] = []

    def load(case: str) -> tuple[list[Finding], Kernel]:
        ruleset = case_rules(case, rules_copy)
        kernel = Kernel(ruleset)
        kernels.append(kernel)
        return lint(ruleset), kernel

    yield load
    for kernel in kernels:
        kernel.close()


# --------------------------------------------------------------------------- the fixtures


def test_there_is_a_case_for_every_finding_kind() -> None:
    shown = {
        line.split(" ")[1]
        for case in CASES
        for line in expected(case).splitlines()
        if line.startswith("rules/")
    }
    assert set(CODES) <= shown


@pytest.mark.parametrize("case", CASES)
def test_fixture_folder_holds_only_the_rule_files_it_changes(case: str) -> None:
    names = {p.name for p in (FIXTURES / case).iterdir()}
    assert "expected.txt" in names
    assert names - {"expected.txt"} <= RULE_FILES
    for name in names & RULE_FILES:
        assert (FIXTURES / case / name).read_bytes() != (ROOT / "rules" / name).read_bytes()


@pytest.mark.parametrize("case", CASES)
def test_report(case: str, rules_copy: Path, in_tmp: Path) -> None:
    findings = lint(case_rules(case, rules_copy))
    assert render_findings(findings, "text") == expected(case)
    assert findings == sorted(findings, key=Finding.sort_key)
    assert all(f.path.startswith("rules/") and f.line > 0 and f.col > 0 for f in findings)


@pytest.mark.parametrize("case", CASES)
def test_every_example_is_a_valid_ticket(case: str, case_kernel: Any) -> None:
    findings, kernel = case_kernel(case)
    examples = [f.example for f in findings if f.example is not None]
    assert examples, f"{case}: every fixture case yields at least one example ticket"
    for example in examples:
        ticket = kernel.validate(example)  # raises TicketInvalid if not
        assert ticket is not None


# --------------------------------------------------------------------------- default rules


def test_default_rules_have_no_errors_or_warnings(ruleset: RuleSet) -> None:
    findings = lint(ruleset)
    assert {f.severity for f in findings} == {INFO}
    assert exit_code(findings) == 0
    assert sorted(f.code for f in findings) == [ENGINE, ENGINE, UNKNOWN_TARGET]


def test_default_rules_lint_in_well_under_a_second(ruleset: RuleSet) -> None:
    start = time.perf_counter()
    lint(ruleset)
    assert time.perf_counter() - start < 1.0


def test_default_info_about_the_lead_unit_as_co_handler_is_true(
    ruleset: RuleSet, kernel: Kernel
) -> None:
    example = example_of(lint(ruleset), UNKNOWN_TARGET, "R-CO-POLICY")
    result = kernel.evaluate(example)
    assert [a.unit for a in result.route.co_handlers] == ["助商稳企办"]
    assert ruleset.reference.units["助商稳企办"].kind == "offices"


# --------------------------------------------------------------------------- each kind


def test_shadowed_rules_really_never_decide(case_kernel: Any) -> None:
    findings, kernel = case_kernel("shadowed")
    assert [(f.code, f.severity, f.line) for f in findings if f.code == SHADOWED] == [
        (SHADOWED, WARNING, 42),
        (SHADOWED, WARNING, 77),
        (SHADOWED, WARNING, 49),
    ]
    # Four departments match G-C-MANY-DEPARTMENTS, but G-C-DEPARTMENTS (named as the cover)
    # decides first; the lead-unit fallback is always replaced by the territory.
    many = ["发改委", "工信局", "教育局", "科技局"]
    result = kernel.evaluate(_ticket(category="其他", assessment={"departments": many}))
    assert result.grade.decision.rule.id == "G-C-DEPARTMENTS"
    assert "G-C-MANY-DEPARTMENTS" not in [d.rule.id for d in result.grade.not_matched]
    assert result.route.primary.unit == "汉台区"
    assert [(o.slot, o.rule, o.by_rule) for o in result.route.overridden] == [
        ("primary", "R-PRIMARY-LEAD-UNIT", "R-PRIMARY-TERRITORY")
    ]


def test_gap_examples_get_no_grade_and_no_primary(case_kernel: Any) -> None:
    findings, kernel = case_kernel("gap")
    ungraded = kernel.evaluate(example_of(findings, GAP, "分级规则"))
    assert ungraded.grade.grade is None
    assert ungraded.grade.decision is None
    no_primary = kernel.evaluate(example_of(findings, GAP, "主办单位"))
    assert no_primary.route.primary is None
    assert exit_code(findings) == 1


def test_conflict_examples_match_both_rules(case_kernel: Any) -> None:
    findings, kernel = case_kernel("conflict")
    pairs = [("R-PRIMARY-APPROVAL", "行政审批服务局"), ("R-PRIMARY-FINANCE", "金融办")]
    for first, unit in pairs:
        result = kernel.evaluate(example_of(findings, CONFLICT, first))
        matched = [d.rule.id for d in result.route.matched]
        assert first in matched and "R-PRIMARY-MAJOR" in matched
        assert result.route.primary.unit == unit  # the earlier rule, by file order only
        assert ("primary", "发改委", "R-PRIMARY-MAJOR", first) in [
            (o.slot, o.unit, o.rule, o.by_rule) for o in result.route.overridden
        ]
    # Equal precedence that agrees (R-FEEDBACK-POLICY, R-FEEDBACK) and an override by a
    # higher precedence (R-FEEDBACK-D) are not conflicts.
    assert [f.code for f in findings if "FEEDBACK" in f.message] == []


def test_unknown_target_examples_resolve_to_the_wrong_kind(case_kernel: Any) -> None:
    findings, kernel = case_kernel("unknown-target")
    kinds = kernel.ruleset.reference.units
    primary = kernel.evaluate(example_of(findings, UNKNOWN_TARGET, "R-PRIMARY-OTHER"))
    assert kinds[primary.route.primary.unit].kind == "offices"
    coordinated = kernel.evaluate(example_of(findings, UNKNOWN_TARGET, "R-COORD-D"))
    assert coordinated.grade.grade == "D"
    assert {kinds[a.unit].kind for a in coordinated.route.coordinators} == {
        "offices",
        "departments",
    }
    assert exit_code(findings) == 1


def test_unknown_literal_unit_is_an_error(ruleset: RuleSet) -> None:
    """The loader rejects an unknown literal unit; lint still reports one in a rule set built
    in memory, and judges literal offices by the slot they stand in."""
    routing = ruleset.routing
    changed: dict[str, dict[str, Any]] = {
        "R-COORD-C": {"coordinators": (UnitValue(unit="调度办"),), "agenda": True},
        "R-PRIMARY-APPROVAL": {"primary": UnitValue(unit="助商稳企办")},
        "R-CO-LABOUR": {"co_handlers": (UnitValue(unit="领导小组办公室"),)},
    }
    rules = tuple(
        dataclasses.replace(r, then=changed[r.id]) if r.id in changed else r for r in routing.rules
    )
    files = {**ruleset.files, "routing": dataclasses.replace(routing, rules=rules)}
    findings = lint(dataclasses.replace(ruleset, files=files))
    got = [(f.severity, f.message) for f in findings if f.code == UNKNOWN_TARGET]
    assert got == [
        (
            WARNING,
            "规则 R-PRIMARY-APPROVAL 的主办单位（primary）助商稳企办 是协调机构，协调机构不宜主办",
        ),
        (
            INFO,
            "规则 R-CO-LABOUR 的协办单位（co_handlers）领导小组办公室 是协调机构，"
            "协调机构将作为协办单位",
        ),
        (INFO, _co_policy_message()),
        (ERROR, "规则 R-COORD-C 的协调单位（coordinators）'调度办' 不是 units.yaml 中登记的单位"),
    ]
    assert exit_code(findings) == 2


def _co_policy_message() -> str:
    return (
        "规则 R-CO-POLICY 的协办单位（co_handlers）{ref: enterprise.lead_unit} 可能取到协调机构"
        "（如 助商稳企办），协调机构将作为协办单位；例如下面这张办理单："
    )


def test_grade_without_clock_is_an_error(case_kernel: Any) -> None:
    findings, _ = case_kernel("grade-without-clock")
    assert [(f.code, f.severity) for f in findings if f.severity != INFO] == [
        ("LINT-GRADE-CLOCKS", ERROR)
    ]
    assert exit_code(findings) == 2


def test_grade_never_given_also_silences_its_routing_rule(case_kernel: Any) -> None:
    findings, kernel = case_kernel("grade-never-given")
    assert sorted(f.code for f in findings if f.severity == WARNING) == [
        DEAD_DEDUCTION,
        "LINT-GRADE-CLOCKS",
        SHADOWED,
    ]
    # No ticket is graded D any more, so R-COORD-D (grade D) never holds.
    result = kernel.evaluate(_ticket(assessment={"authority_level": "中央"}))
    assert result.grade.grade != "D"


def test_escalation_deductions_are_dead_when_no_clock_escalates(ruleset: RuleSet) -> None:
    deadlines = ruleset.deadlines
    assert deadlines is not None
    quiet = tuple(dataclasses.replace(c, escalate=False) for c in deadlines.clocks)
    changed = dataclasses.replace(ruleset, deadlines=dataclasses.replace(deadlines, clocks=quiet))
    found = [(f.line, f.message) for f in lint(changed) if f.code == DEAD_DEDUCTION]
    why = "永远不会触发：没有会升级的时限（都写了 escalate: false 或从不计时），巡查不会记录 {}事件"
    assert found == [
        (58, "扣分项 D-SUPERVISION「被督办」" + why.format("supervision.issued（督办）")),
        (65, "扣分项 D-NOTICE「被通报」" + why.format("notice.published（通报）")),
        (72, "扣分项 D-INTERVIEW「被约谈」" + why.format("interview.recommended（约谈建议）")),
    ]


def test_engine_limit_example_really_breaks_the_engine(case_kernel: Any) -> None:
    findings, kernel = case_kernel("engine-limit")
    example = example_of(findings, ENGINE, f"最多处理约 {ENGINE_MAX_TRUE_TESTS} 个")
    with pytest.raises(EngineLimitExceeded):
        kernel.evaluate(example)
    del example["amount"]  # without the amount, far fewer tests hold at once
    assert kernel.evaluate(example).grade.grade is not None


def test_priority_policy_shadows_by_precedence(rules_copy: Path, in_tmp: Path) -> None:
    path = rules_copy / "grading.yaml"
    text = path.read_text(encoding="utf-8").replace("hit_policy: first", "hit_policy: priority")
    text = text.replace(
        "rules:\n",
        "rules:\n"
        "  - id: G-D-CONSULT\n"
        "    title: 政策咨询按 D 级\n"
        "    clause: 示例\n"
        "    when: {field: category, eq: 政策咨询}\n"
        "    then: {grade: D}\n\n",
        1,
    )
    text = text.replace(
        "  - id: G-A-OWN-AUTHORITY\n", "  - id: G-A-OWN-AUTHORITY\n    precedence: 5\n"
    )
    path.write_text(text, encoding="utf-8")
    findings = lint(load_rules(rules_copy))
    assert [str(f) for f in findings if f.code == SHADOWED] == [
        "rules/grading.yaml:10:5: LINT-SHADOWED [warning] 规则 G-D-CONSULT「政策咨询按 D 级」永远不会"
        "命中：它能匹配的办理单都会先被优先级更高（或相同而靠前）的规则 G-A-OWN-AUTHORITY 命中"
    ]


# --------------------------------------------------------------------------- undecided


def test_a_search_over_budget_is_reported_as_undecided(ruleset: RuleSet) -> None:
    findings = lint(ruleset, max_steps=1)
    assert {f.severity for f in findings} == {INFO}
    shadowed = [f.message for f in findings if f.code == SHADOWED]
    # Every rule but the two that always hold (decided in one step) is undecided.
    always = [r for r in ruleset.routing.rules if isinstance(r.when, Always)]
    assert len(always) == 2
    assert len(shadowed) == len(ruleset.grading.rules) + len(ruleset.routing.rules) - 2
    assert shadowed[0] == (
        "无法判定规则 G-D-AUTHORITY 是否会被覆盖：需要检查的取值组合超过上限（1 步）"
    )
    # "No primary handler" is refuted in one step: R-PRIMARY-TERRITORY always holds.
    assert [f.message for f in findings if f.code == GAP] == [
        "无法判定是否每张办理单都能分级：需要检查的取值组合超过上限（1 步）"
    ]


def test_too_many_substrings_make_a_negative_answer_undecided(
    rules_copy: Path, in_tmp: Path
) -> None:
    words = [f"关键词{c}" for c in "甲乙丙丁戊己庚辛壬癸子"]  # none inside another
    block = "".join(
        f"  - id: G-A-WORD-{i}\n    title: 含{w}\n    clause: 示例\n"
        f"    when: {{field: summary, contains: {w}}}\n    then: {{grade: A}}\n\n"
        for i, w in enumerate([*words, words[0]])
    )
    path = rules_copy / "grading.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("  - id: G-D-AUTHORITY\n", block + "  - id: G-D-AUTHORITY\n"))
    findings = lint(load_rules(rules_copy))
    assert [(f.severity, f.message) for f in findings if f.code == SHADOWED] == [
        (INFO, "无法判定规则 G-A-WORD-11 是否会被覆盖：字段 summary 的取值太多，无法逐一检查")
    ]


# --------------------------------------------------------------------------- soundness


def _ticket(**changes: Any) -> dict[str, Any]:
    ticket: dict[str, Any] = {
        "ticket_id": "T-1",
        "collected_on": "2026-03-02",
        "category": "用工",
        "summary": "招工难",
        "enterprise": {
            "credit_code": "91610700MA6YT2A0X4",
            "name": "汉中市汉运物流有限公司",
            "territory": "汉台区",
            "lead_unit": "商务局",
        },
        "assessment": {"authority_level": "本单位"},
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            ticket[key].update(value)
        else:
            ticket[key] = value
    return ticket


LEVELS = ["本单位", "县区", "市级", "省级", "中央"]
CATEGORIES = ["用工", "用地", "政策咨询", "其他"]
DEPARTMENTS = ["发改委", "工信局", "教育局", "科技局", "公安局"]


def _random_leaf(rng: random.Random) -> Condition:
    kind = rng.choice(["level", "flag", "count", "member", "category"])
    if kind == "level":
        op = rng.choice(["eq", "ne", "in", "not_in"])
        if op in ("in", "not_in"):
            return Leaf("assessment.authority_level", op, tuple(rng.sample(LEVELS, 2)))
        return Leaf("assessment.authority_level", op, rng.choice(LEVELS))
    if kind == "flag":
        flag = rng.choice(["assessment.needs_territory", "assessment.needs_policy_change"])
        return Leaf(flag, rng.choice(["eq", "ne"]), rng.choice([True, False]))
    if kind == "count":
        op = rng.choice(["eq", "ne", "lt", "le", "gt", "ge"])
        return Leaf("assessment.departments", op, rng.randint(0, 4), count=True)
    if kind == "member":
        return Leaf("assessment.departments", "contains", rng.choice(DEPARTMENTS[:2]))
    return Leaf("category", rng.choice(["eq", "ne"]), rng.choice(CATEGORIES[:3]))


def _random_condition(rng: random.Random, depth: int = 0) -> Condition:
    if depth >= 2 or rng.random() < 0.4:
        return _random_leaf(rng)
    items = tuple(_random_condition(rng, depth + 1) for _ in range(rng.randint(2, 3)))
    shape = rng.choice(["all", "any", "not"])
    if shape == "not":
        return Not(items[0])
    return All(items) if shape == "all" else AnyOf(items)


def _every_ticket() -> Iterator[dict[str, Any]]:
    """Every combination that matters for :func:`_random_leaf` (other values behave alike)."""
    subsets = [
        list(s) for n in range(len(DEPARTMENTS) + 1) for s in itertools.combinations(DEPARTMENTS, n)
    ]
    for level, territory, policy, departments, category in itertools.product(
        LEVELS, [False, True], [False, True], subsets, CATEGORIES
    ):
        yield {
            "category": category,
            "assessment.authority_level": level,
            "assessment.needs_territory": territory,
            "assessment.needs_policy_change": policy,
            "assessment.departments": departments,
        }


@pytest.mark.parametrize("seed", range(12))
def test_shadowing_and_gaps_agree_with_exhaustive_enumeration(seed: int, ruleset: RuleSet) -> None:
    rng = random.Random(seed)
    template = ruleset.grading.rules[0]
    rules: list[Rule] = [
        dataclasses.replace(
            template,
            id=f"G-R{i}",
            title=f"随机{i}",
            when=_random_condition(rng),
            then={"grade": rng.choice("ABCD")},
            index=i,
        )
        for i in range(6)
    ]
    files = {**ruleset.files, "grading": dataclasses.replace(ruleset.grading, rules=tuple(rules))}
    findings = lint(dataclasses.replace(ruleset, files=files))
    decided = [f for f in findings if f.code in (SHADOWED, GAP) and "grading" in f.path]
    assert all(f.severity == WARNING for f in decided), [str(f) for f in decided]
    fired: set[str] = set()
    gap = False
    for values in _every_ticket():
        winner = next((r.id for r in rules if holds(r.when, values)), None)
        gap = gap or winner is None
        if winner is not None:
            fired.add(winner)
    reported = {r.id for r in rules if any(f"规则 {r.id}「" in f.message for f in decided)}
    assert reported == {r.id for r in rules} - fired
    assert any(f.code == GAP for f in decided) == gap


# --------------------------------------------------------------------------- output


def test_render_text_and_json() -> None:
    example = {"ticket_id": "X", "assessment": {"departments": ["发改委", "工信局"]}}
    findings = [
        Finding("rules/grading.yaml", 9, 1, GAP, WARNING, "有办理单不会命中任何分级规则", example),
        Finding("rules/routing.yaml", 11, 1, ENGINE, INFO, "规模"),
    ]
    assert render_findings(findings, "text") == (
        "rules/grading.yaml:9:1: LINT-GAP [warning] 有办理单不会命中任何分级规则\n"
        "    ticket_id: X\n"
        "    assessment:\n"
        "      departments: [发改委, 工信局]\n"
        "rules/routing.yaml:11:1: LINT-ENGINE [info] 规模\n"
        "规则检查：错误 0 项、警告 1 项、提示 1 项\n"
    )
    assert yaml.safe_load(
        "\n".join(line[4:] for line in render_findings(findings).splitlines()[1:4])
    ) == {"ticket_id": "X", "assessment": {"departments": ["发改委", "工信局"]}}
    assert json.loads(render_findings(findings, "json")) == [
        {
            "path": "rules/grading.yaml",
            "line": 9,
            "col": 1,
            "code": GAP,
            "severity": WARNING,
            "message": "有办理单不会命中任何分级规则",
            "example": example,
        },
        {
            "path": "rules/routing.yaml",
            "line": 11,
            "col": 1,
            "code": ENGINE,
            "severity": INFO,
            "message": "规模",
            "example": None,
        },
    ]
    assert render_findings([], "text") == "规则检查：没有发现问题\n"
    assert render_findings([], "json") == "[]\n"
    with pytest.raises(ValueError):
        render_findings([], "xml")


def test_exit_code() -> None:
    def one(severity: str) -> Finding:
        return Finding("p", 1, 1, GAP, severity, "m")

    assert exit_code([]) == 0
    assert exit_code([one(INFO)]) == 0
    assert exit_code([one(INFO), one(WARNING)]) == 1
    assert exit_code([one(WARNING), one(ERROR), one(INFO)]) == 2


def test_lint_command_on_the_default_rules(capsys: pytest.CaptureFixture[str]) -> None:
    from kernel.cli.main import main

    assert main(["lint"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == "规则检查：错误 0 项、警告 0 项、提示 3 项"


# --------------------------------------------------------------------------- stale numbers


def test_a_title_that_states_an_old_limit_or_points_is_flagged(
    rules_copy: Path, in_tmp: Path
) -> None:
    deadlines = rules_copy / "deadlines.yaml"
    text = deadlines.read_text(encoding="utf-8")
    deadlines.write_text(
        text.replace("by_grade: {A: 5, B: 10, C: 20}", "by_grade: {A: 5, B: 8, C: 20}"),
        encoding="utf-8",
    )
    scoring = rules_copy / "scoring.yaml"
    scoring.write_text(
        scoring.read_text(encoding="utf-8").replace("title: 被通报", "title: 被通报（扣 3 分）"),
        encoding="utf-8",
    )
    findings = [f for f in lint(load_rules(rules_copy)) if f.code == STALE_NUMBER]
    assert [f.message for f in findings] == [
        "时限 T-RESOLVE 的标题写着「B 10」，但规则的时限是 B 级 8 个工作日；"
        "通知和报告引用标题，请同步修改",
        "扣分项 D-NOTICE 的标题写着「3 分」，但规则扣 2 分；通知和报告引用标题，请同步修改",
    ]
    line = (
        text.splitlines().index("    title: 交办后按等级限期办结（A 5、B 10、C 20 个工作日）") + 1
    )
    assert (findings[0].line, findings[0].severity) == (line, WARNING)
    assert findings[0].path.endswith("deadlines.yaml")


def test_plain_day_limits_are_compared_too() -> None:
    from kernel.rules.deadlines import Limit
    from kernel.tools.lint.checks import stale_limit_numbers

    assert stale_limit_numbers("收集后 2 个工作日内上报", Limit(default=3)) == [
        ("2 个工作日", "3 个工作日")
    ]
    assert stale_limit_numbers("收集后 2 个工作日内上报", Limit(default=2)) == []
    assert stale_limit_numbers("按等级（A 5、B 10）", Limit(by_grade={"A": 5, "B": 10})) == []
