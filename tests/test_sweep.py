"""The deadline sweep: each warning and escalation issued exactly once, on any worker split."""

from __future__ import annotations

import pytest

from kernel.clocks.sweep import in_shard, sweep
from kernel.rules.model import RuleSet
from tests.timeline import Timeline, d


@pytest.fixture
def tl(ruleset: RuleSet) -> Timeline:
    tl = Timeline(ruleset).register()
    tl.ledger.notifiers = ["屏幕"]
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "C").dispatch("2026-03-02")
    return tl  # T-RESOLVE due Monday 30 March


def kinds(tl: Timeline) -> list[tuple[str, str]]:
    return [(x.notice.kind, x.notice.notice_id) for x in tl.ledger.storage.deliveries()]


def test_warning_then_supervision_then_notice(tl: Timeline) -> None:
    assert sweep(tl.ledger, tl.evaluator, d("2026-03-26")).notices == 0
    first = sweep(tl.ledger, tl.evaluator, d("2026-03-27"))  # the working day before the 30th
    assert (first.notices, first.by_kind) == (1, {"warning": 1})
    second = sweep(tl.ledger, tl.evaluator, d("2026-03-31"))
    assert second.by_kind == {"supervision": 1}
    assert second.summary() == "2026-03-31 巡查 1 件：新发通知 1 条（督办 1），记录督办事件 1 条"
    third = sweep(tl.ledger, tl.evaluator, d("2026-04-08"))
    assert third.by_kind == {"notice": 1}
    assert kinds(tl) == [
        ("warning", "预警:T-1:T-RESOLVE#1"),
        ("supervision", "督办:T-1:T-RESOLVE#1:汉台区"),
        ("notice", "通报:T-1:T-RESOLVE#1:汉台区"),
    ]
    recorded = [
        (e.type, e.date.isoformat(), e.payload.get("month"))
        for e in tl.ledger.events(types=("supervision.issued", "notice.published"))
    ]
    assert recorded == [
        ("supervision.issued", "2026-03-31", None),
        ("notice.published", "2026-04-08", "2026-04"),
    ]


def test_sweeping_again_issues_nothing_new(tl: Timeline) -> None:
    sweep(tl.ledger, tl.evaluator, d("2026-05-06"))
    again = sweep(tl.ledger, tl.evaluator, d("2026-05-06"))
    assert (again.notices, again.events) == (0, 0)
    assert sorted(k for k, _ in kinds(tl)) == ["interview", "notice", "notice", "supervision"]


def test_a_late_first_sweep_catches_up(tl: Timeline) -> None:
    result = sweep(tl.ledger, tl.evaluator, d("2026-05-06"))
    assert result.by_kind == {"interview": 1, "notice": 2, "supervision": 1}
    dates = [
        (e.type, e.date.isoformat(), e.payload.get("month"))
        for e in tl.ledger.events(
            types=("supervision.issued", "notice.published", "interview.recommended")
        )
    ]
    # the 约谈 cites two consecutive months of 通报, and both are on record
    assert dates == [
        ("supervision.issued", "2026-03-31", None),
        ("notice.published", "2026-04-08", "2026-04"),
        ("notice.published", "2026-05-06", "2026-05"),
        ("interview.recommended", "2026-05-06", "2026-05"),
    ]


def test_a_catch_up_sweep_notifies_nothing_about_closed_work(tl: Timeline) -> None:
    tl.resolve("2026-04-02").feedback("2026-04-02")  # after the 督办 day, before the sweep
    result = sweep(tl.ledger, tl.evaluator, d("2026-04-09"))
    assert result.by_kind == {"warning": 1}  # the rating's; no 督办: the work was done
    assert [e.type for e in tl.ledger.events(types=("supervision.issued",))] == [
        "supervision.issued"
    ]  # but the 督办 that was due on 31 March is on record


def test_one_day_late_is_overdue_but_not_supervised(tl: Timeline) -> None:
    tl.resolve("2026-03-31").feedback("2026-03-31")  # due 30 March; done on the 督办 day
    result = sweep(tl.ledger, tl.evaluator, d("2026-04-09"))
    assert (result.notices, result.events) == (0, 0)
    resolve = tl.clock("2026-04-09", "T-RESOLVE#1")
    assert (resolve.state, resolve.overdue_workdays, resolve.escalations) == ("breached", 1, ())


def test_shards_split_the_work_without_overlap(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset).register()
    for n in range(6):
        tl.collect("2026-03-02", ticket_id=f"T-{n}").report("2026-03-02").grade(
            "2026-03-02", "A"
        ).dispatch("2026-03-02")
    owners = [[f"T-{n}" for n in range(6) if in_shard(f"T-{n}", (k, 3))] for k in range(3)]
    assert sorted(t for part in owners for t in part) == [f"T-{n}" for n in range(6)]
    total = sum(
        sweep(tl.ledger, tl.evaluator, d("2026-03-10"), shard=(k, 3)).events for k in range(3)
    )
    assert total == 6  # one 督办 per ticket, each issued by exactly one worker
    assert sweep(tl.ledger, tl.evaluator, d("2026-03-10")).events == 0


def test_a_sweep_notice_shows_its_kind_once(tl: Timeline) -> None:
    from kernel.notify.contract import render_text
    from kernel.notify.webhook import render_markdown

    sweep(tl.ledger, tl.evaluator, d("2026-03-31"))
    for delivery in tl.ledger.storage.deliveries():
        notice = delivery.notice
        assert not notice.title.startswith("【")
        text = render_text(notice)
        assert text.count("【") == 1, text
        assert render_markdown(notice).count("【") == 1
        assert "工单" not in text and "办理单：T-1" in text
    (supervision,) = [
        x.notice for x in tl.ledger.storage.deliveries() if x.notice.kind == "supervision"
    ]
    assert render_text(supervision).splitlines()[0] == (
        "【督办】办理单 T-1「交办后按等级限期办结（A 5、B 10、C 20 个工作日）」超期"
    )
