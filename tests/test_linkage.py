"""上下联动: a county refers a problem up to the city and gets the answer back (政策 §9.4)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.cli.main import main
from kernel.clocks.compute import ClockEvaluator
from kernel.evaluation.kernel import Kernel
from kernel.ledger.ledger import Ledger
from kernel.ledger.rows import ticket_row
from kernel.linkage.links import (
    carry_dispatched_down,
    carry_down,
    carry_resolved_up,
    carry_up,
    check_links,
    referrals,
    upper_ticket_id,
)
from kernel.rules.load import load_rules
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SqliteStorage
from tests.conftest import ROOT
from tests.levels_support import (
    EVENTS,
    HANTAI,
    city_answer,
    county_split,
    dispatched_to_county,
)

TICKET = "HT-2026-0001"
UPPER = "HANTAI:HT-2026-0001"
D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def county_rules() -> RuleSet:
    return load_rules(HANTAI)


@pytest.fixture(scope="module")
def city_rules() -> RuleSet:
    return load_rules(ROOT / "rules")


@pytest.fixture
def dbs(tmp_path: Path) -> tuple[str, str]:
    county, city = str(tmp_path / "hantai.db"), str(tmp_path / "city.db")
    assert (
        main(
            [
                "ingest",
                str(EVENTS / "hantai.jsonl"),
                "--grade",
                "--rules",
                str(HANTAI),
                "--db",
                county,
                "--as-of",
                "2026-03-20",
            ]
        )
        == 0
    )
    return county, city


def ledgers(dbs: tuple[str, str], county: RuleSet, city: RuleSet) -> tuple[Ledger, Ledger]:
    return (
        Ledger(SqliteStorage(dbs[0]), county.reference),
        Ledger(SqliteStorage(dbs[1]), city.reference),
    )


def add(ledger: Ledger, *events: dict[str, object]) -> None:
    for event in events:
        assert ledger.submit(event).accepted


def city_event(
    n: int, kind: str, day: str, actor: str = "助商稳企办", **payload: object
) -> dict[str, object]:
    return {
        "event_id": f"HZ-L-{n}",
        "type": kind,
        "date": day,
        "actor": actor,
        "ticket_id": UPPER,
        "payload": payload,
    }


def clock(rules: RuleSet, ledger: Ledger, ticket: str, clock_id: str, as_of: str) -> object:
    state = ledger.ticket(ticket)
    assert state is not None and rules.deadlines is not None and rules.calendar is not None
    clocks = ClockEvaluator(rules.deadlines, rules.calendar).evaluate(state, D(as_of))
    return next(i for i in clocks.instances if i.clock.id == clock_id)


def test_round_trip_up_and_down_exactly_once(
    dbs: tuple[str, str], county_rules: RuleSet, city_rules: RuleSet
) -> None:
    county, city = ledgers(dbs, county_rules, city_rules)
    level = county_rules.level
    kernel = Kernel(city_rules)
    try:
        first = carry_up(county, level, city, kernel, D("2026-03-20"))
        again = carry_up(county, level, city, kernel, D("2026-03-20"))
    finally:
        kernel.close()
    assert first.carried_up == [TICKET] and again.carried_up == [] and again.unchanged == 1
    linked = city.ticket(UPPER)
    assert linked is not None and linked.state == "graded"
    assert linked.reported_on == D("2026-03-12")
    # at the city the county is the territory; the county's own departments are left out
    assert linked.ticket.data["enterprise"]["territory"] == "汉台区"
    assert linked.ticket.data["assessment"]["departments"] == ["自然资源局"]
    assert sum(1 for _ in city.events(ticket_id=UPPER)) == 3  # collected, reported, graded
    assert check_links(county, level, city) == []

    # the county's clock pauses while the city works on it
    waiting = clock(county_rules, county, TICKET, "T-RESOLVE", "2026-04-30")
    assert waiting.state == "running" and waiting.paused_workdays > 0  # type: ignore[attr-defined]
    assert carry_down(county, level, city, D("2026-03-20")).waiting == [TICKET]

    add(
        city,
        city_event(1, "ticket.dispatched", "2026-03-13"),
        city_event(2, "ticket.resolved", "2026-03-27", actor="汉台区", summary="控规调整完成"),
    )
    assert [f.ticket for f in check_links(county, level, city)] == [TICKET]
    assert carry_down(county, level, city, D("2026-03-26")).carried_down == []  # not yet
    down = carry_down(county, level, city, D("2026-03-30"))
    assert down.carried_down == [TICKET]
    assert carry_down(county, level, city, D("2026-03-30")).unchanged == 1
    state = county.ticket(TICKET)
    assert state is not None and state.state == "resolved" and state.resolved_on == D("2026-03-27")
    answers = [e for e in state.events if e.type == "ticket.upper_resolved"]
    assert len(answers) == 1 and answers[0].payload["summary"] == "控规调整完成"
    assert check_links(county, level, city) == []

    # both levels' clocks: the county's stops met (the wait not counted), its feedback starts
    resolve = clock(county_rules, county, TICKET, "T-RESOLVE", "2026-04-30")
    assert resolve.state == "met"  # type: ignore[attr-defined]
    feedback = clock(county_rules, county, TICKET, "T-FEEDBACK", "2026-03-30")
    assert feedback.due == D("2026-03-30")  # type: ignore[attr-defined]  # 汉台区: 1 working day
    dispatch = clock(city_rules, city, UPPER, "T-DISPATCH", "2026-03-30")
    assert dispatch.state == "met"  # type: ignore[attr-defined]
    city_resolve = clock(city_rules, city, UPPER, "T-RESOLVE", "2026-03-30")
    assert city_resolve.state == "met"  # type: ignore[attr-defined]


def test_a_declined_referral_resumes_the_county_clock_and_can_be_sent_again(
    dbs: tuple[str, str], county_rules: RuleSet, city_rules: RuleSet
) -> None:
    county, city = ledgers(dbs, county_rules, city_rules)
    level = county_rules.level
    kernel = Kernel(city_rules)
    try:
        carry_up(county, level, city, kernel, D("2026-03-20"))
        add(city, city_event(1, "ticket.upper_declined", "2026-03-16", summary="属区级事权"))
        assert city.ticket(UPPER).state == "sent_back"  # type: ignore[union-attr]
        assert carry_down(county, level, city, D("2026-03-20")).carried_down == [TICKET]
        state = county.ticket(TICKET)
        assert state is not None and state.state == "dispatched"
        resumed = clock(county_rules, county, TICKET, "T-RESOLVE", "2026-03-20")
        # dispatched 03-09 (C: 20 working days) + 2 paused working days (03-12 → 03-16)
        assert resumed.paused_workdays == 2  # type: ignore[attr-defined]
        add(
            county,
            {
                "event_id": "HT-E-0006",
                "type": "ticket.referred_up",
                "date": "2026-03-18",
                "actor": "助商稳企办",
                "ticket_id": TICKET,
                "payload": {"summary": "再次报送"},
            },
        )
        again = carry_up(county, level, city, kernel, D("2026-03-20"))
    finally:
        kernel.close()
    assert again.carried_up == [TICKET]
    assert upper_ticket_id(level, TICKET, 2) == f"{UPPER}#2"  # type: ignore[arg-type]
    assert city.ticket(f"{UPPER}#2") is not None
    assert check_links(county, level, city) == []


def test_an_upper_ticket_of_another_origin_is_not_taken_over(
    dbs: tuple[str, str],
    county_rules: RuleSet,
    city_rules: RuleSet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = [json.loads(x) for x in (ROOT / "examples" / "events.jsonl").read_text().splitlines()]
    registered = dict(lines[0], event_id="X-1", enterprise="91610702MA6YQ5C2XL")
    collected = dict(
        lines[1],
        event_id="X-2",
        ticket_id=UPPER,
        enterprise="91610702MA6YQ5C2XL",
        date="2026-03-02",
    )
    registered["date"] = "2026-03-01"
    path = tmp_path / "city.jsonl"
    path.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in (registered, collected)))
    assert main(["ingest", str(path), "--db", dbs[1], "--as-of", "2026-03-20"]) == 0
    capsys.readouterr()
    args = ["--rules", str(HANTAI), "--db", dbs[0], "--upper-db", dbs[1], "--as-of", "2026-03-20"]
    assert main(["level", "up", *args]) == 2
    assert "不是由汉台区办理单 HT-2026-0001 报上级生成的" in capsys.readouterr().err


def test_cli_exit_codes(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    county, city = dbs
    args = ["--rules", str(HANTAI), "--db", county, "--upper-db", city, "--as-of", "2026-03-20"]
    assert main(["level", "down", *args]) == 2  # the city's ledger does not exist yet
    assert "错误：" in capsys.readouterr().err
    assert main(["level", "sync", *args]) == 0
    assert "已送达上级 1 件：HT-2026-0001" in capsys.readouterr().out
    assert main(["level", "sync", *args]) == 0
    out = capsys.readouterr().out
    assert "已送达上级" not in out and "待上级办理 1 件：HT-2026-0001" in out
    assert main(["level", "check", *args]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "报市级协调 1 件（上级办结 0、退回 0、待上级办理 1）；市级交办 0 件（本级已办结 0）",
        "联动核对（汉台区 ↔ 市级）：不一致 0 项",
    ]
    answers = str(EVENTS / "city-answers.jsonl")
    assert main(["ingest", answers, "--db", city, "--as-of", "2026-03-30"]) == 0
    assert main(["level", "check", *args]) == 1
    assert "尚未回传" in capsys.readouterr().out
    assert main(["level", "up", "--db", county, "--upper-db", city]) == 2  # the city has no upper
    assert "没有上级" in capsys.readouterr().err


def assessed(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, object]]:
    assert main(["report", "assessment", "--year", "2026", "--format", "json", *args]) == 0
    return {u["unit"]: u for u in json.loads(capsys.readouterr().out)["units"]}


def county_clocks(rules: RuleSet, ledger: Ledger, ticket: str, clock_id: str) -> list[Any]:
    state = ledger.ticket(ticket)
    assert state is not None and rules.deadlines is not None and rules.calendar is not None
    clocks = ClockEvaluator(rules.deadlines, rules.calendar).evaluate(state, D("2026-12-31"))
    return [i for i in clocks.instances if i.clock.id == clock_id]


def test_each_level_assesses_its_own_units_and_counts_the_problem_once(
    dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    county, city = dbs
    args = ["--rules", str(HANTAI), "--db", county, "--upper-db", city, "--as-of", "2026-03-30"]
    assert main(["level", "sync", *args]) == 0
    assert main(["ingest", str(EVENTS / "city-answers.jsonl"), "--db", city]) == 0
    assert main(["level", "sync", *args]) == 0
    capsys.readouterr()
    at_county = assessed(capsys, "--rules", str(HANTAI), "--db", county)
    assert set(at_county) == {
        "北关街道",
        "东大街街道",
        "龙江街道",
        "铺镇",
        "武乡镇",
        "区发改局",
        "区人社局",
        "区自然资源分局",
        "区住建局",
    }
    closure = at_county["铺镇"]["indicators"][0]  # type: ignore[index]
    assert (closure["id"], closure["numerator"], closure["denominator"]) == ("S-CLOSURE", 1, 1)
    at_city = assessed(capsys, "--db", city)
    assert "铺镇" not in at_city and "发改委" in at_city
    hantai = at_city["汉台区"]
    closure = hantai["indicators"][0]  # type: ignore[index]
    assert (closure["numerator"], closure["denominator"]) == (1, 1)
    # the enterprise's monthly contacts are the county's duty, not owed again at the city
    assert hantai["deductions"] == []
    assert (
        main(["report", "assessment", "--year", "2026", "--rules", str(HANTAI), "--db", county])
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("汉台区助商稳企·护航发展 2026 年考核结果")
    assert " 铺镇 " in text and "镇（街道）" in text and "县区部门" in text


def test_the_demo_simulates_the_county_and_both_assessments(tmp_path: Path) -> None:
    from kernel.demo.outputs import render_summary, run_demo

    result = run_demo(
        3, tmp_path, enterprises=20, problems=40, progress=False, chart=False, level_dir=HANTAI
    )
    county = result.county
    assert county is not None and county.assessment is not None
    assert result.problems == [] and county.findings == []
    assert county.problems == 30 and county.referred > 0
    assert county.resolved_above + county.declined_above == county.referred
    assert {row.unit for row in county.assessment.units} >= {"铺镇", "区发改局"}
    assert all(row.unit != "发改委" for row in county.assessment.units)
    assert (tmp_path / "hantai.db").is_file()
    assert (tmp_path / "assessment-hantai-2026.md").is_file()
    summary = render_summary(result)
    assert f"【汉台区】30 个问题，报市级协调 {county.referred} 个" in summary
    assert "两级台账联动核对不一致 0 项" in summary


def test_a_city_problem_dispatched_to_the_county_is_split_there_and_resolved_up(
    tmp_path: Path, county_rules: RuleSet, city_rules: RuleSet
) -> None:
    county, city = dispatched_to_county(tmp_path, county_rules, city_rules)
    level = county_rules.level
    kernel = Kernel(county_rules)
    try:
        first = carry_dispatched_down(county, level, city, kernel, D("2026-03-20"))
        again = carry_dispatched_down(county, level, city, kernel, D("2026-03-20"))
    finally:
        kernel.close()
    assert first.dispatched_down == ["HZ-2026-0101"] and again.unchanged == 1
    copy = county.ticket("CITY:HZ-2026-0101")
    assert copy is not None and copy.state == "graded"  # graded by the county's rules
    assert [f.message for f in check_links(county, level, city)] == []
    county_split(county)
    copy = county.ticket("CITY:HZ-2026-0101")
    assert copy is not None and copy.handlers == ("铺镇", "区住建局")  # split among its units
    assert [f.ticket for f in check_links(county, level, city)] == ["HZ-2026-0101"]
    up = carry_resolved_up(county, level, city, D("2026-03-20"))
    assert up.resolved_up == ["HZ-2026-0101"]
    assert carry_resolved_up(county, level, city, D("2026-03-20")).resolved_up == []
    above = city.ticket("HZ-2026-0101")
    assert above is not None and above.state == "resolved"
    assert above.resolved_on == D("2026-03-20") and above.events[-1].actor == "汉台区"
    assert check_links(county, level, city) == []
    # the enterprise hears from the city: the county's feedback clock stops at its resolution
    copy = county.ticket("CITY:HZ-2026-0101")
    assert copy is not None and copy.state == "feedback_given"
    feedback = clock(county_rules, county, "CITY:HZ-2026-0101", "T-FEEDBACK", "2026-04-30")
    assert feedback.state == "met"  # type: ignore[attr-defined]
    add(city, *city_answer(5, "HZ-2026-0101", "满意"))
    kernel = Kernel(county_rules)
    try:
        carry_dispatched_down(county, level, city, kernel, D("2026-03-31"))
    finally:
        kernel.close()
    copy = county.ticket("CITY:HZ-2026-0101")
    assert copy is not None and copy.state == "closed" and copy.rating == "满意"


def test_the_monthly_report_and_agenda_are_titled_with_the_level(
    dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    county, _ = dbs
    at_county = ["--month", "2026-03", "--rules", str(HANTAI), "--db", county]
    assert main(["report", "monthly", *at_county]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "汉台区助商稳企·护航发展 2026 年 3 月服务动态与问题办理通报"
    assert main(["report", "agenda", *at_county]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "汉台区 2026 年 3 月助商稳企·护航发展调度会议程"
    )
    assert main(["report", "monthly", "--month", "2026-03", "--db", county]) == 0
    # the same ledger read with the city's rules is the city's report, without a level's name
    assert capsys.readouterr().out.startswith("助商稳企·护航发展 2026 年 3 月")


def test_a_city_reopening_after_dissatisfaction_reopens_the_county_copy(
    tmp_path: Path, county_rules: RuleSet, city_rules: RuleSet
) -> None:
    county, city = dispatched_to_county(tmp_path, county_rules, city_rules)
    level = county_rules.level
    ticket, copy_id = "HZ-2026-0101", "CITY:HZ-2026-0101"

    def down(day: str) -> None:
        kernel = Kernel(county_rules)
        try:
            carry_dispatched_down(county, level, city, kernel, D(day))
        finally:
            kernel.close()

    down("2026-03-20")
    county_split(county)
    assert carry_resolved_up(county, level, city, D("2026-03-20")).resolved_up == [ticket]
    add(city, *city_answer(5, ticket, "不满意"))
    down("2026-03-24")
    copy = county.ticket(copy_id)
    assert copy is not None and (copy.state, copy.rating) == ("rated", "不满意")
    add(
        city,
        {"event_id": "HZ-D-0007", "type": "ticket.reopened", "date": "2026-03-25",
         "actor": "助商稳企办", "ticket_id": ticket, "payload": {}},
    )  # fmt: skip
    assert [f.ticket for f in check_links(county, level, city)] == [ticket]
    down("2026-03-25")
    down("2026-03-25")  # carried once
    copy = county.ticket(copy_id)
    assert copy is not None and (copy.state, copy.round_number) == ("dispatched", 2)
    assert [e.type for e in copy.events].count("ticket.reopened") == 1
    assert check_links(county, level, city) == []
    # the county's second round runs its own clock and its resolution goes up again
    second = clock(county_rules, county, copy_id, "T-RESOLVE", "2026-03-26")
    assert [i.round for i in county_clocks(county_rules, county, copy_id, "T-RESOLVE")] == [1, 2]
    assert second is not None
    add(
        county,
        {"event_id": "HT-E-0104", "type": "ticket.resolved", "date": "2026-03-27",
         "actor": "铺镇", "ticket_id": copy_id, "payload": {"summary": "另配 10 套"}},
    )  # fmt: skip
    assert carry_resolved_up(county, level, city, D("2026-03-27")).resolved_up == [ticket]
    above = city.ticket(ticket)
    assert above is not None and (above.state, above.resolved_on) == ("resolved", D("2026-03-27"))
    copy = county.ticket(copy_id)
    assert copy is not None and copy.state == "feedback_given"
    add(
        city,
        {"event_id": "HZ-D-0008", "type": "ticket.feedback_given", "date": "2026-03-30",
         "actor": "工信局", "ticket_id": ticket, "payload": {}},
        {"event_id": "HZ-D-0009", "type": "ticket.rated", "date": "2026-03-31",
         "actor": "助商稳企办", "ticket_id": ticket, "payload": {"rating": "满意"}},
    )  # fmt: skip
    down("2026-03-31")
    copy = county.ticket(copy_id)
    assert copy is not None and (copy.state, copy.rating) == ("closed", "满意")
    assert check_links(county, level, city) == []


def test_a_city_decision_not_to_reopen_closes_the_county_copy(
    tmp_path: Path, county_rules: RuleSet, city_rules: RuleSet
) -> None:
    county, city = dispatched_to_county(tmp_path, county_rules, city_rules)
    level = county_rules.level
    ticket = "HZ-2026-0101"
    kernel = Kernel(county_rules)
    try:
        carry_dispatched_down(county, level, city, kernel, D("2026-03-20"))
        county_split(county)
        carry_resolved_up(county, level, city, D("2026-03-20"))
        add(
            city,
            *city_answer(5, ticket, "不满意"),
            {"event_id": "HZ-D-0007", "type": "ticket.reopen_declined", "date": "2026-03-25",
             "actor": "助商稳企办", "ticket_id": ticket, "payload": {"reason": "诉求超出政策范围"}},
        )  # fmt: skip
        carry_dispatched_down(county, level, city, kernel, D("2026-03-31"))
    finally:
        kernel.close()
    copy = county.ticket("CITY:HZ-2026-0101")
    assert copy is not None and copy.state == "closed"
    assert copy.events[-1].type == "ticket.reopen_declined"
    # the county's 不满意 clock stopped with the city's decision: nothing left to chase
    reopen = clock(county_rules, county, "CITY:HZ-2026-0101", "T-REOPEN", "2026-04-30")
    assert reopen.state == "met"  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgres"])
def county_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty county ledger on SQLite or PostgreSQL (skipped without a server)."""
    if request.param == "sqlite":
        yield str(tmp_path / "copy.db")
        return
    from tests.test_postgres import drop, url_for  # skips the test without a server

    schema = f"huhang_link_{random.randrange(1 << 40):x}"
    try:
        yield url_for(schema)
    finally:
        drop(schema)


def test_referrals_project_only_the_referred_tickets(
    dbs: tuple[str, str],
    county_rules: RuleSet,
    city_rules: RuleSet,
    county_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kernel.storage.postgres import PostgresStorage

    county, city = ledgers(dbs, county_rules, city_rules)
    level = county_rules.level
    kernel = Kernel(city_rules)
    try:  # referred, declined above, referred again: round 2; and a ticket never referred
        carry_up(county, level, city, kernel, D("2026-03-20"))
        add(city, city_event(1, "ticket.upper_declined", "2026-03-16", summary="属区级事权"))
        carry_down(county, level, city, D("2026-03-20"))
    finally:
        kernel.close()
    first = next(county.events(ticket_id=TICKET))
    add(
        county,
        {"event_id": "HT-E-0006", "type": "ticket.referred_up", "date": "2026-03-18",
         "actor": "助商稳企办", "ticket_id": TICKET, "payload": {"summary": "再次报送"}},
        {**first.to_dict(), "event_id": "HT-E-0007", "ticket_id": "HT-2026-0002"},
    )  # fmt: skip
    replayed = Ledger(MemoryStorage(), county_rules.reference)
    pg = county_url.startswith("postgresql")
    storage = PostgresStorage(county_url) if pg else SqliteStorage(county_url)
    stored = Ledger(storage, county_rules.reference)
    for ledger in (replayed, stored):
        add(ledger, *(e.to_dict() for e in county.events()))

    def seen(ledger: Ledger) -> list[tuple[int, str, tuple[Any, ...]]]:
        return [(r.round, r.event.event_id, ticket_row(r.ticket)) for r in referrals(ledger)]

    want = seen(replayed)
    assert [(n, e) for n, e, _ in want] == [(2, "HT-E-0006")]
    assert want[0][2][0] == TICKET and want[0][2][7] == "referred"

    def whole_ledger(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole ledger was projected")

    monkeypatch.setattr(Ledger, "project", whole_ledger)
    try:
        assert seen(stored) == want
        assert seen(county) == want
    finally:
        stored.storage.close()


def test_what_the_city_dispatched_is_found_without_projecting_either_ledger(
    tmp_path: Path, county_rules: RuleSet, city_rules: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a read model the tickets the city dispatched to the county and the county's copies
    are found by index (dispatched with the county's unit; ids in the copies' range), and
    answer as a replay does."""
    from kernel.linkage.links import LinkSummary, _dispatched_copies, dispatched_to, link_summary

    county, city = dispatched_to_county(tmp_path, county_rules, city_rules)
    level = county_rules.level
    assert level is not None
    whole = Ledger.project

    def replay_only(self: Ledger, **kwargs: Any) -> Any:
        assert not self.storage.has_read_model, "the whole ledger was projected"
        return whole(self, **kwargs)

    monkeypatch.setattr(Ledger, "project", replay_only)

    def replayed(ledger: Ledger, rules: RuleSet) -> Ledger:
        copy = Ledger(MemoryStorage(), rules.reference)
        add(copy, *(e.to_dict() for e in ledger.events()))
        return copy

    Seen = tuple[list[Any], list[Any], list[Any], LinkSummary]

    def seen(lower: Ledger, upper: Ledger) -> Seen:
        return (
            [ticket_row(s) for s in dispatched_to(upper, level)],
            [(u, ticket_row(s)) for u, s in _dispatched_copies(lower, level)],
            check_links(lower, level, upper),
            link_summary(lower, level, upper),
        )

    def both() -> Seen:
        indexed = seen(county, city)
        assert indexed == seen(replayed(county, county_rules), replayed(city, city_rules))
        return indexed

    kernel = Kernel(county_rules)
    try:
        carry_dispatched_down(county, level, city, kernel, D("2026-03-20"))
    finally:
        kernel.close()
    county_split(county)
    dispatched, copies, findings, _ = both()
    assert len(dispatched) == len(copies) == len(findings) == 1
    assert carry_resolved_up(county, level, city, D("2026-03-20")).resolved_up == ["HZ-2026-0101"]
    dispatched, copies, findings, summary = both()
    assert dispatched == findings == [] and len(copies) == 1 and summary.resolved_below == 1
