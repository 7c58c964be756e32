"""The append-only ledger: validation, legal transitions, idempotency, projections."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.ledger.events import OFFICE, EventInvalid
from kernel.ledger.ledger import EventConflict, Ledger
from kernel.ledger.projection import TransitionRejected
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from tests.timeline import CODE, Timeline


@pytest.fixture
def tl(ruleset: RuleSet) -> Timeline:
    return Timeline(ruleset).register()


def count(tl: Timeline) -> int:
    return tl.ledger.storage.count()


def rejected(
    tl: Timeline,
    kind: str,
    day: str,
    actor: str,
    payload: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    before = count(tl)
    with pytest.raises(TransitionRejected) as info:
        tl.submit(kind, day, actor, payload, **extra)
    assert count(tl) == before  # nothing stored
    return info.value.reason


def test_rating_before_feedback_is_rejected(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A").dispatch("2026-03-03")
    assert rejected(tl, "ticket.rated", "2026-03-05", OFFICE, {"rating": "满意"}) == (
        "办理单 T-1 当前状态为「办理中」，只有「已反馈」时才能满意度评价"
    )


def test_resolution_by_a_unit_that_is_not_a_handler(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "B", co=["人社局"]).dispatch(
        "2026-03-03"
    )
    assert rejected(tl, "ticket.resolved", "2026-03-05", "住建局") == (
        "住建局 不是办理单 T-1 的办理单位（汉台区、人社局）"
    )
    tl.resolve("2026-03-05", actor="人社局")  # a co-handler may resolve
    assert tl.state().state == "resolved"


def test_override_without_a_reason_is_invalid(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A")
    with pytest.raises(EventInvalid) as info:
        tl.submit("ticket.overridden", "2026-03-03", OFFICE, {"grade": "B"})
    assert [(p.code, p.message) for p in info.value.problems] == [
        ("SCHEMA-REQUIRED", "payload 缺少必填字段 'reason'")
    ]
    assert count(tl) == 4


def test_override_must_change_something(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A")
    assert rejected(tl, "ticket.overridden", "2026-03-03", OFFICE, {"reason": "没有改什么"}) == (
        "改判须写明新的等级（grade）或路由（route）"
    )


def test_override_only_by_the_office(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A")
    assert rejected(
        tl, "ticket.overridden", "2026-03-03", "商务局", {"grade": "B", "reason": "涉及两个部门"}
    ) == ("改判只能由助商稳企办进行，商务局 不能")


def test_event_for_an_unknown_ticket(tl: Timeline) -> None:
    assert (
        rejected(tl, "ticket.reported", "2026-03-02", "商务局", ticket_id="NOPE")
        == "办理单 NOPE 不存在"
    )
    assert (
        rejected(
            tl, "supervision.issued", "2026-03-02", OFFICE, {"unit": "汉台区"}, ticket_id="NOPE"
        )
        == "办理单 NOPE 不存在"
    )


def test_collection_for_an_unregistered_enterprise(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset)
    assert (
        rejected(
            tl,
            "ticket.collected",
            "2026-03-02",
            "商务局",
            {"category": "用工", "summary": "x", "assessment": {"authority_level": "本单位"}},
            enterprise=CODE,
            ticket_id="T-1",
        )
        == f"企业 {CODE} 尚未登记"
    )


def test_unknown_units_and_categories_in_events(tl: Timeline) -> None:
    with pytest.raises(EventInvalid) as info:
        tl.submit(
            "ticket.collected",
            "2026-03-02",
            "商务",
            {"category": "用电问题", "summary": "x", "assessment": {"authority_level": "本单位"}},
            enterprise=CODE,
        )
    assert sorted(p.code for p in info.value.problems) == ["UNKNOWN-CATEGORY", "UNKNOWN-UNIT"]


def test_collected_ticket_is_checked_against_the_ticket_contract(tl: Timeline) -> None:
    with pytest.raises(Exception) as info:
        tl.submit(
            "ticket.collected",
            "2026-03-02",
            "商务局",
            {"category": "用工", "summary": "x", "assessment": {"authority_level": "市里"}},
            enterprise=CODE,
        )
    assert "assessment.authority_level" in str(info.value)
    assert count(tl) == 1


def test_resubmitting_an_event_changes_nothing_and_says_so(tl: Timeline) -> None:
    event = {
        "event_id": "X-1",
        "type": "contact.recorded",
        "date": "2026-03-02",
        "actor": "商务局",
        "enterprise": CODE,
        "payload": {"by": "lead_leader"},
    }
    first = tl.ledger.submit(event)
    again = tl.ledger.submit(dict(event))
    assert (first.status, again.status) == ("accepted", "duplicate")
    assert again.event.seq == first.event.seq
    assert count(tl) == 2


def test_reusing_an_id_for_different_content_is_refused(tl: Timeline) -> None:
    event = {
        "event_id": "X-1",
        "type": "contact.recorded",
        "date": "2026-03-02",
        "actor": "商务局",
        "enterprise": CODE,
        "payload": {"by": "lead_leader"},
    }
    tl.ledger.submit(event)
    with pytest.raises(EventConflict, match="台账只能追加"):
        tl.ledger.submit({**event, "date": "2026-03-03"})


def test_override_keeps_the_rules_result_beside_it(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A")
    tl.submit(
        "ticket.overridden",
        "2026-03-03",
        OFFICE,
        {"grade": "C", "route": {"primary": "人社局"}, "reason": "需市级统筹"},
    )
    state = tl.state()
    assert (state.rule_grade, state.grade) == ("A", "C")
    assert (state.rule_route["primary"], state.route["primary"]) == ("汉台区", "人社局")
    assert [e.payload["reason"] for e in state.overrides] == ["需市级统筹"]


def test_not_satisfied_reopens_with_the_same_handlers(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "B", co=["人社局"]).dispatch(
        "2026-03-03"
    )
    tl.resolve("2026-03-05").feedback("2026-03-06").rate("2026-03-09", "不满意")
    assert tl.state().state == "rated"
    tl.reopen("2026-03-10")
    state = tl.state()
    assert (state.state, state.handlers, len(state.rounds)) == (
        "dispatched",
        ("汉台区", "人社局"),
        2,
    )
    assert state.ratings[0][1] == "不满意"


def test_reopening_needs_a_not_satisfied_rating(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A").dispatch("2026-03-03")
    tl.resolve("2026-03-05").feedback("2026-03-06").rate("2026-03-09", "满意")
    assert tl.state().closed
    assert rejected(tl, "ticket.reopened", "2026-03-10", OFFICE) == (
        "只有评价为「不满意」或回访有异议的办理单才能重新办理（当前：已关闭）"
    )


def test_enterprise_assignment_changes_over_time(tl: Timeline) -> None:
    tl.collect("2026-03-02", ticket_id="T-1")
    tl.submit(
        "enterprise.changed",
        "2026-04-01",
        OFFICE,
        {"lead_unit": "文旅局", "lead_leader": "刘洋"},
        enterprise=CODE,
    )
    tl.collect("2026-04-02", ticket_id="T-2")
    enterprise = tl.ledger.project().enterprises[CODE]
    assert enterprise.get("lead_unit") == "文旅局"
    assert [(str(day), name, old, new) for day, name, old, new in enterprise.changes] == [
        ("2026-04-01", "lead_unit", "商务局", "文旅局"),
        ("2026-04-01", "lead_leader", "张明", "刘洋"),
    ]
    # each ticket keeps the assignment in force when it was collected
    assert tl.state("T-1").lead_unit == "商务局"
    assert tl.state("T-2").lead_unit == "文旅局"


def test_projection_is_a_replay(tl: Timeline) -> None:
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A").dispatch("2026-03-03")
    replayed = Ledger(MemoryStorage(), tl.ruleset.reference)
    for event in tl.ledger.events():
        replayed.submit(event)
    assert replayed.ticket("T-1") == tl.state()


def test_submit_many_skips_bad_events_and_keeps_the_rest(tl: Timeline) -> None:
    good = {
        "event_id": "C-1",
        "type": "contact.recorded",
        "date": "2026-03-02",
        "actor": "商务局",
        "enterprise": CODE,
        "payload": {"by": "lead_leader"},
    }
    bad = {**good, "event_id": "C-2", "actor": "没有这个单位"}
    later = {**good, "event_id": "C-3", "date": "2026-03-03"}
    outcomes = tl.ledger.submit_many([(e, None, ()) for e in (good, bad, later)])
    assert [getattr(o, "status", type(o).__name__) for o in outcomes] == [
        "accepted",
        "EventInvalid",
        "accepted",
    ]
    assert [e.event_id for e in tl.ledger.events(types=("contact.recorded",))] == ["C-1", "C-3"]


def test_a_batch_sees_its_own_earlier_events(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset)
    ledger = tl.ledger
    events = [
        {
            "event_id": "R",
            "type": "enterprise.registered",
            "date": "2026-01-05",
            "actor": OFFICE,
            "enterprise": CODE,
            "payload": {
                "name": "汉运物流",
                "territory": "汉台区",
                "lead_unit": "商务局",
                "lead_leader": "张明",
            },
        },
        {
            "event_id": "C",
            "type": "ticket.collected",
            "date": "2026-03-02",
            "actor": "商务局",
            "enterprise": CODE,
            "ticket_id": "T-1",
            "payload": {
                "category": "用工",
                "summary": "x",
                "assessment": {"authority_level": "本单位"},
            },
        },
        {
            "event_id": "P",
            "type": "ticket.reported",
            "date": "2026-03-02",
            "actor": "商务局",
            "ticket_id": "T-1",
            "payload": {},
        },
    ]
    outcomes = ledger.submit_many([(e, None, ()) for e in events])
    assert [getattr(o, "status", None) for o in outcomes] == ["accepted"] * 3
    assert ledger.ticket("T-1") is not None and ledger.ticket("T-1").state == "reported"  # type: ignore[union-attr]
