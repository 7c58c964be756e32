"""The steps of a problem's life beyond the main path (docs/policy.md §8) and their rules.

The scenarios in tests/scenarios/ pin each step's clock and score effect; these tests pin what
the ledger, the rule loader and the guard do at their edges.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel import check_rules, load_rules
from kernel.assessment.scoring import effective_ratings
from kernel.clocks.compute import CANCELLED
from kernel.clocks.steps import step_guard
from kernel.ledger.events import OFFICE
from kernel.ledger.ledger import Ledger
from kernel.ledger.projection import TransitionRejected
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from tests.timeline import Timeline, d


def dispatched(ruleset: RuleSet, grade: str = "B") -> Timeline:
    tl = Timeline(ruleset).register()
    tl.collect("2026-06-01").report("2026-06-02").grade("2026-06-02", grade, co=["人社局"])
    return tl.dispatch("2026-06-02")  # B: due 16 June


def refused(tl: Timeline, kind: str, day: str, actor: str, payload: dict[str, object]) -> str:
    before = len(list(tl.ledger.events()))
    with pytest.raises(TransitionRejected) as caught:
        tl.submit(kind, day, actor, payload)
    assert len(list(tl.ledger.events())) == before, "a refused step must store nothing"
    return caught.value.reason


def edit(rules: Path, name: str, old: str, new: str) -> Path:
    path = rules / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return rules


# --------------------------------------------------------------------------- the guard


def test_a_return_by_a_unit_that_is_not_a_handler_is_refused(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    reason = refused(tl, "ticket.returned", "2026-06-03", "住建局", {"reason": "不属于本单位职责"})
    assert reason == "住建局 不是办理单 T-1 的办理单位（汉台区、人社局）"
    assert tl.state().state == "dispatched"


def test_a_late_return_must_say_so_and_a_timely_one_must_not(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    late = {"reason": "不属于本单位职责", "late": True}
    reason = refused(tl, "ticket.returned", "2026-06-03", "汉台区", late)
    assert reason.startswith("2026-06-03 在交办（2026-06-02）后 2 个工作日内（至 2026-06-04）")
    assert reason.endswith("（L-RETURN：政策 §8.2（默认 2 个工作日；逾期退回计为本单位延误））")
    reason = refused(tl, "ticket.returned", "2026-06-05", "汉台区", {"reason": "不属于本单位职责"})
    assert "须写明 late: true" in reason
    tl.submit("ticket.returned", "2026-06-05", "汉台区", late)
    assert tl.state().state == "returned"


def test_a_late_return_is_refused_when_the_rules_say_refuse(rules_copy: Path) -> None:
    ruleset = load_rules(edit(rules_copy, "lifecycle.yaml", "late: count", "late: refuse"))
    tl = dispatched(ruleset)
    payload = {"reason": "不属于本单位职责", "late": True}
    reason = refused(tl, "ticket.returned", "2026-06-05", "汉台区", payload)
    assert reason.startswith("只能在交办（2026-06-02）后 2 个工作日内（至 2026-06-04）退回")


def test_an_extension_after_the_due_date_is_refused(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    reason = refused(tl, "ticket.extension_requested", "2026-06-17", "汉台区", {"workdays": 2})
    assert reason.startswith("办结时限已于 2026-06-16 到期，到期后不能延期申请")


def test_an_approved_extension_moves_the_due_date_once_per_round(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    tl.submit("ticket.extension_requested", "2026-06-15", "汉台区", {"workdays": 3})
    tl.submit("ticket.extension_granted", "2026-06-16", OFFICE, {"workdays": 2})
    item = tl.clock("2026-06-16", "T-RESOLVE#1")
    assert (item.due, item.extended_workdays) == (d("2026-06-18"), 2)
    assert item.to_dict()["extended_workdays"] == 2
    reason = refused(tl, "ticket.extension_requested", "2026-06-17", "汉台区", {"workdays": 1})
    assert reason.startswith("本轮办理已延期 1 次，每轮至多 1 次")


def test_the_resolution_clock_is_cancelled_by_a_merge_and_not_counted(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    reason = refused(tl, "ticket.merged", "2026-06-03", OFFICE, {"into": "T-1"})
    assert reason == "办理单 T-1 不能合并到它自己"
    reason = refused(tl, "ticket.merged", "2026-06-03", OFFICE, {"into": "T-9"})
    assert reason == "要并入的办理单 T-9 不存在"
    tl.collect("2026-06-01", ticket_id="T-2")
    tl.ticket_id = "T-1"
    tl.submit("ticket.merged", "2026-06-03", OFFICE, {"into": "T-2"})
    state = tl.state()
    assert (state.state, state.merged_into, state.final) == ("merged", "T-2", True)
    item = tl.clock("2026-07-31", "T-RESOLVE#1")
    assert (item.state, item.due, item.escalations) == (CANCELLED, None, ())
    tl.collect("2026-06-01", ticket_id="T-3")
    reason = refused(tl, "ticket.merged", "2026-06-03", OFFICE, {"into": "T-1"})
    assert reason == "办理单 T-1 已合并到 T-2，请合并到 T-2"
    tl.ticket_id = "T-1"
    assert refused(tl, "ticket.resolved", "2026-06-04", "汉台区", {}).startswith(
        "办理单 T-1 当前状态为「已合并」"
    )


def test_suspension_needs_a_listed_reason_and_only_the_office(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    reason = refused(tl, "ticket.suspended", "2026-06-03", "汉台区", {"reason": "等待企业补充材料"})
    assert reason.startswith("挂起应由助商稳企办进行（助商稳企办），汉台区 不能")
    reason = refused(tl, "ticket.suspended", "2026-06-03", OFFICE, {"reason": "人手不足"})
    assert "不在规则所列之中（可选：等待企业补充材料、" in reason


def test_not_satisfied_starts_a_clock_that_the_sweep_escalates(ruleset: RuleSet) -> None:
    from kernel.clocks.sweep import sweep

    tl = dispatched(ruleset)
    tl.ledger.notifiers = ["屏幕"]
    tl.resolve("2026-06-05").feedback("2026-06-05").rate("2026-06-08", "不满意")
    item = tl.clock("2026-06-08", "T-REOPEN#1")
    assert (item.state, item.due, item.owners) == ("warning", d("2026-06-09"), (OFFICE,))
    result = sweep(tl.ledger, tl.evaluator, d("2026-06-10"))
    assert result.by_kind.get("supervision") == 1
    tl.submit("ticket.reopen_declined", "2026-06-11", OFFICE, {"reason": "诉求超出政策规定"})
    assert tl.state().closed
    satisfied = Timeline(ruleset).register()
    satisfied.collect("2026-06-01").report("2026-06-02").grade("2026-06-02", "B")
    satisfied.dispatch("2026-06-02").resolve("2026-06-05").feedback("2026-06-05")
    satisfied.rate("2026-06-08", "满意")
    keys = [i.key for i in satisfied.clocks("2026-06-30").instances]
    assert "T-REOPEN#1" not in keys  # start_when: only 不满意 starts it


def test_a_callback_corrects_a_rating_entered_wrongly(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    tl.resolve("2026-06-05").feedback("2026-06-05").rate("2026-06-08", "不满意")
    tl.submit(
        "ticket.callback_recorded", "2026-06-09", OFFICE, {"resolution": "认可", "rating": "满意"}
    )
    state = tl.state()
    assert (state.state, state.rating) == ("closed", "满意")
    assert effective_ratings(state, d("2026-06-30")) == [(d("2026-06-08"), "满意")]
    assert effective_ratings(state, d("2026-06-08")) == [(d("2026-06-08"), "不满意")]


def test_without_a_lifecycle_file_the_projection_alone_decides(rules_copy: Path) -> None:
    (rules_copy / "lifecycle.yaml").unlink()
    ruleset = load_rules(rules_copy)
    assert ruleset.lifecycle is None and step_guard(ruleset) is None
    tl = dispatched(ruleset)
    tl.submit("ticket.returned", "2026-06-30", "汉台区", {"reason": "任何理由"})
    assert tl.state().state == "returned"


def test_a_stored_history_replays_without_the_guard(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    tl.submit("ticket.returned", "2026-06-03", "汉台区", {"reason": "应由其他单位主办"})
    tl.submit("ticket.rerouted", "2026-06-04", OFFICE, {"route": {"primary": "人社局"}})
    replayed = Ledger(MemoryStorage(), ruleset.reference)
    for event in tl.ledger.events():
        replayed.submit(event)
    state = replayed.ticket("T-1")
    assert state is not None and (state.state, state.route["primary"], state.round_number) == (
        "dispatched",
        "人社局",
        2,
    )


# --------------------------------------------------------------------------- the rule files


def test_a_key_that_does_not_fit_its_event_is_located(rules_copy: Path) -> None:
    edit(
        rules_copy,
        "lifecycle.yaml",
        "    states: [returned]\n    actors: [office]\n",
        "    states: [returned]\n    actors: [office]\n    within_workdays: 1\n",
    )
    ruleset, problems = check_rules(rules_copy)
    assert ruleset is None
    assert [(p.code, p.message) for p in problems] == [
        ("LIFECYCLE-KEY", "within_workdays 不适用于 ticket.rerouted，只适用于 ticket.returned")
    ]


def test_the_same_event_twice_is_a_duplicate(rules_copy: Path) -> None:
    edit(rules_copy, "lifecycle.yaml", "event: ticket.resumed", "event: ticket.suspended")
    _, problems = check_rules(rules_copy)
    assert [p.code for p in problems] == ["DUPLICATE-ID"]
    assert "事件 ticket.suspended 已在第" in problems[0].message


def test_an_unknown_state_or_actor_is_a_schema_problem(rules_copy: Path) -> None:
    edit(rules_copy, "lifecycle.yaml", "actors: [lead_unit, office]", "actors: [enterprise]")
    _, problems = check_rules(rules_copy)
    assert [p.code for p in problems] == ["SCHEMA-VALUE"]


def test_a_start_condition_for_an_event_that_does_not_start(rules_copy: Path) -> None:
    edit(
        rules_copy,
        "deadlines.yaml",
        "      ticket.rated: {rating: 不满意}\n",
        "      ticket.rated: {rating: 不满意}\n      ticket.resolved: {summary: x}\n",
    )
    _, problems = check_rules(rules_copy)
    assert [(p.code, p.message) for p in problems] == [
        ("DEADLINE-START", "时限 T-REOPEN 的 start_when 写了 ticket.resolved，但它不是 start 事件")
    ]


def test_judged_at_start_supervises_work_done_on_the_day(rules_copy: Path) -> None:
    for judged, expected in (("end", ()), ("start", ("E-SUPERVISE",))):
        rules = edit(rules_copy, "deadlines.yaml", "judged_at: end", f"judged_at: {judged}")
        tl = dispatched(load_rules(rules))
        tl.resolve("2026-06-17")  # due 16 June; resolved on its 督办 day
        item = tl.clock("2026-06-30", "T-RESOLVE#1")
        assert (item.state, tuple(e.step.id for e in item.escalations)) == ("breached", expected)
        edit(rules_copy, "deadlines.yaml", f"judged_at: {judged}", "judged_at: end")


# --------------------------------------------------------------------------- reports


def _month(tl: Timeline, month: str) -> dict[str, object]:
    from kernel.assessment.reports import monthly_report

    report = monthly_report(
        month, tl.ruleset, tl.ledger.project(), list(tl.ledger.events()), tl.evaluator
    )
    return {s.key: s for s in report.sections}


def test_the_second_months_notice_is_swept_charged_and_reported(ruleset: RuleSet) -> None:
    from kernel.clocks.sweep import sweep

    tl = Timeline(ruleset).register()
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "C").dispatch("2026-03-02")
    sweep(tl.ledger, tl.evaluator, d("2026-05-06"))
    notices = [
        (e.date.isoformat(), e.payload["month"])
        for e in tl.ledger.events(types=("notice.published",))
    ]
    assert notices == [("2026-04-08", "2026-04"), ("2026-05-06", "2026-05")]
    may = _month(tl, "2026-05")["notice"]
    assert [row[0] for row in may.table.rows] == ["T-1"]  # type: ignore[attr-defined]
    assert may.lines == ["督办后仍超期、列入 2026-05 通报的问题 1 个。"]  # type: ignore[attr-defined]


def test_the_monthly_report_lists_the_months_steps_and_follows_an_override(
    ruleset: RuleSet, kernel: object
) -> None:
    tl = dispatched(ruleset)
    tl.submit("ticket.returned", "2026-06-03", "汉台区", {"reason": "应由其他单位主办"})
    tl.submit("ticket.rerouted", "2026-06-04", OFFICE, {"route": {"primary": "人社局"}})
    tl.submit(
        "ticket.overridden",
        "2026-06-04",
        OFFICE,
        {"grade": "C", "route": {"agenda": False}, "reason": "改判为 C 级，不上调度会"},
    )
    sections = _month(tl, "2026-06")
    steps = sections["steps"]
    assert steps.lines == ["本月退回 1 次、重新交办 1 次。"]  # type: ignore[attr-defined]
    assert [r[2] for r in steps.table.rows] == ["退回", "重新交办"]  # type: ignore[attr-defined]
    # the override says no 调度会: the report agrees with the route, not with the grade
    assert sections["agenda"].table.rows == []  # type: ignore[attr-defined]


def test_an_override_to_c_brings_the_coordinators_of_c(ruleset: RuleSet) -> None:
    from kernel.evaluation.kernel import Kernel

    tl = Timeline(ruleset).register()
    tl.collect("2026-06-01", needs_territory=True, departments=["人社局"])
    tl.submit("ticket.reported", "2026-06-02", tl.lead_unit)
    with Kernel(ruleset) as kernel:
        tl.ledger.grade("T-1", kernel, d("2026-06-02"))
    graded = tl.state()
    assert (graded.grade, graded.route["coordinators"], graded.route["agenda"]) == ("B", [], False)
    assert graded.grade_routes["C"] == {"coordinators": ["助商稳企办"], "agenda": True}
    tl.submit("ticket.overridden", "2026-06-02", OFFICE, {"grade": "C", "reason": "研判不全"})
    state = tl.state()
    assert (state.grade, state.route["coordinators"], state.route["agenda"]) == (
        "C",
        ["助商稳企办"],
        True,
    )
    assert state.rule_grade == "B" and state.rule_route["agenda"] is False  # kept on record
    tl.dispatch("2026-06-02")
    assert [r[0] for r in _month(tl, "2026-06")["agenda"].table.rows] == ["T-1"]  # type: ignore[attr-defined]


def test_the_ledger_table_counts_returns_and_extensions(ruleset: RuleSet) -> None:
    from kernel.assessment.ledger_table import ledger_table

    tl = dispatched(ruleset)
    tl.submit("ticket.returned", "2026-06-03", "汉台区", {"reason": "应由其他单位主办"})
    tl.submit("ticket.rerouted", "2026-06-04", OFFICE, {})
    tl.submit("ticket.extension_requested", "2026-06-05", "汉台区", {"workdays": 4})
    tl.submit("ticket.extension_granted", "2026-06-08", OFFICE, {"workdays": 4})
    table = ledger_table(tl.ledger.project(), tl.evaluator, d("2026-06-30"))
    row = dict(zip(table.keys, table.rows[0], strict=True))
    assert (row["reopened"], row["returned"], row["extended"]) == (0, 1, 4)


def test_lint_finds_a_deduction_the_lifecycle_rules_never_let_happen(rules_copy: Path) -> None:
    from kernel.tools.lint.checks import lint

    assert not [f for f in lint(load_rules(rules_copy)) if f.code == "LINT-DEAD-DEDUCTION"]
    ruleset = load_rules(edit(rules_copy, "lifecycle.yaml", "late: count", "late: refuse"))
    found = [f.message for f in lint(ruleset) if f.code == "LINT-DEAD-DEDUCTION"]
    assert found == [
        "扣分项 D-LATE-RETURN「逾期退回」永远不会触发：lifecycle.yaml 的 L-RETURN 拒绝逾期退回"
        "（late: refuse），台账不会有 late: true 的ticket.returned（退回）"
    ]


def test_a_round_cancelled_by_a_return_stays_with_the_unit_that_held_it(ruleset: RuleSet) -> None:
    tl = dispatched(ruleset)
    tl.submit("ticket.returned", "2026-06-03", "汉台区", {"reason": "应由其他单位主办"})
    tl.submit("ticket.rerouted", "2026-06-04", OFFICE, {"route": {"primary": "人社局"}})
    first, second = tl.clock("2026-06-10", "T-RESOLVE#1"), tl.clock("2026-06-10", "T-RESOLVE#2")
    assert (first.state, first.owners) == (CANCELLED, ("汉台区",))
    assert second.owners == ("人社局",)
