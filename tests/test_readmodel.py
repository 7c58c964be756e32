"""The read model: rows written with the events equal a full replay, reads never replay, and
the sweep's index reads only the open work.

The property test drives random event streams (legal and illegal steps of several tickets, in
random batches) into SQLite and, as the reference, into the memory backend (which has no read
model): after every batch both accepted the same events and the stored rows equal the rows a
full replay computes.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.clocks.compute import ClockEvaluator
from kernel.clocks.sweep import EVENT_OF_ACTION, sweep
from kernel.demo.generate import generate
from kernel.errors import InputError
from kernel.evaluation.kernel import Kernel
from kernel.ledger.events import OFFICE
from kernel.ledger.ledger import Ledger
from kernel.ledger.readmodel import ReadModel, TicketQuery
from kernel.rules.model import RuleSet
from kernel.storage.contract import Storage
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SqliteStorage
from tests.timeline import CODE, Timeline, d

TERRITORY, LEAD = "汉台区", "商务局"
ESCALATION_TYPES = frozenset(EVENT_OF_ACTION.values())
KINDS = (
    "ticket.collected",
    "ticket.reported",
    "ticket.graded",
    "ticket.overridden",
    "ticket.dispatched",
    "ticket.progress_reported",
    "ticket.resolved",
    "ticket.feedback_given",
    "ticket.rated",
    "ticket.reopened",
    "supervision.issued",
    "contact.recorded",
    "enterprise.changed",
)


def event_of(number: int, kind: str, ticket: int, day: dt.date, pick: int) -> dict[str, Any]:
    """One event of ``kind`` (legal or not, depending on the ticket's state)."""
    ticket_id = f"T-{ticket}"
    actor = {
        "ticket.collected": LEAD,
        "ticket.reported": LEAD,
        "ticket.progress_reported": TERRITORY,
        "ticket.resolved": TERRITORY,
        "ticket.feedback_given": LEAD,
        "contact.recorded": LEAD,
    }.get(kind, OFFICE)
    event: dict[str, Any] = {
        "event_id": f"E-{number}",
        "type": kind,
        "date": day.isoformat(),
        "actor": actor,
        "ticket_id": ticket_id,
        "payload": {},
    }
    if kind == "ticket.collected":
        event["enterprise"] = CODE
        event["payload"] = {
            "category": "用工",
            "summary": f"问题 {number}",
            "assessment": {"authority_level": "本单位"},
        }
    elif kind == "ticket.graded":
        grade = "ABCD"[pick % 4]
        route = {"primary": TERRITORY, "co_handlers": [], "feedback_owner": LEAD}
        event["payload"] = {"grade": grade, "route": route}
    elif kind == "ticket.overridden":
        event["payload"] = {"grade": "ABCD"[pick % 4]}
    elif kind == "ticket.rated":
        event["payload"] = {"rating": ("满意", "基本满意", "不满意")[pick % 3]}
    elif kind == "supervision.issued":
        event["payload"] = {"unit": TERRITORY, "clock": "T-RESOLVE#1", "reason": "超期"}
    elif kind in ("contact.recorded", "enterprise.changed"):
        del event["ticket_id"]
        event["enterprise"] = CODE
        event["payload"] = (
            {"by": "liaison_cadre"} if kind == "contact.recorded" else {"lead_leader": f"人{pick}"}
        )
    return event


REGISTER = {
    "event_id": "E-0",
    "type": "enterprise.registered",
    "date": "2026-01-05",
    "actor": OFFICE,
    "enterprise": CODE,
    "payload": {
        "name": "汉运物流",
        "territory": TERRITORY,
        "lead_unit": LEAD,
        "lead_leader": "张明",
    },
}

steps = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(1, 3), st.integers(0, 3), st.integers(0, 11)),
    min_size=1,
    max_size=60,
)


def outcome(result: Any) -> str:
    return type(result).__name__ if isinstance(result, InputError) else str(result.status)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps, st.lists(st.integers(1, 12), min_size=1, max_size=8))
def test_read_model_equals_a_replay_after_every_batch(
    ruleset: RuleSet, tmp_path: Path, plan: list[tuple[str, int, int, int]], sizes: list[int]
) -> None:
    db = tmp_path / f"rm-{abs(hash((tuple(plan), tuple(sizes))))}.db"
    stored = Ledger(SqliteStorage(str(db)), ruleset.reference)
    reference = Ledger(MemoryStorage(), ruleset.reference)
    try:
        day = dt.date(2026, 3, 2)
        events = [REGISTER]
        for number, (kind, ticket, gap, pick) in enumerate(plan, start=1):
            day += dt.timedelta(days=gap)
            events.append(event_of(number, kind, ticket, day, pick))
        if len(plan) > 3:  # a resubmitted event and a conflicting one
            events.append(dict(events[2]))
            events.append({**events[3], "actor": OFFICE})
        position = 0
        while position < len(events):
            size = sizes[position % len(sizes)]
            batch = [(e, None, ()) for e in events[position : position + size]]
            position += size
            got = [outcome(r) for r in stored.submit_many(batch)]
            want = [outcome(r) for r in reference.submit_many(batch)]
            assert got == want
            model = ReadModel(stored)
            assert model.stored
            assert model.differences() == []
        assert [e.to_json() for e in stored.events()] == [e.to_json() for e in reference.events()]
        page = ReadModel(stored).tickets(TicketQuery(limit=None))
        assert page == ReadModel(reference).tickets(TicketQuery(limit=None))
    finally:
        stored.storage.close()


@pytest.fixture
def sqlite_tl(ruleset: RuleSet, tmp_path: Path) -> Timeline:
    tl = Timeline(ruleset, storage=SqliteStorage(str(tmp_path / "tl.db"))).register()
    tl.ledger.notifiers = ["屏幕"]
    return tl


def test_queries_filter_page_and_count(sqlite_tl: Timeline) -> None:
    tl = sqlite_tl
    for number in range(1, 8):
        tl.collect(f"2026-03-0{number + 1}", ticket_id=f"T-{number}").report(
            f"2026-03-0{number + 1}"
        )
        if number % 2:
            tl.grade(f"2026-03-0{number + 1}", "B", primary="汉台区").dispatch(
                f"2026-03-0{number + 1}"
            )
    model = ReadModel(tl.ledger)
    assert model.stored
    page = model.tickets(TicketQuery(filters={"state": "dispatched"}, limit=2, offset=1))
    assert page.total == 4
    assert [t.ticket_id for t in page.items] == ["T-3", "T-5"]
    assert page.items[0].primary_unit == "汉台区" and page.items[0].grade == "B"
    assert page.items[0].collected_on == d("2026-03-04")
    assert model.unit_counts() == {"汉台区": {"dispatched": 4}}
    detail = model.ticket("T-3")
    assert detail is not None
    assert [e.type for e in detail.timeline][-1] == "ticket.dispatched"
    assert detail.summary.event_count == 4 and detail.state.state == "dispatched"
    assert model.ticket("T-99") is None
    dated = model.tickets(TicketQuery(collected_from=d("2026-03-05"), collected_to=d("2026-03-06")))
    assert [t.ticket_id for t in dated.items] == ["T-4", "T-5"]
    with pytest.raises(ValueError, match="unknown ticket filters"):
        TicketQuery(filters={"summary": "x"})


def test_reads_answer_the_same_without_a_stored_read_model(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    memory = Timeline(ruleset).register()
    stored = Timeline(ruleset, storage=SqliteStorage(str(tmp_path / "a.db"))).register()
    for tl in (memory, stored):
        tl.collect("2026-03-02", ticket_id="T-1").report("2026-03-02")
        tl.collect("2026-03-03", ticket_id="T-2").report("2026-03-03").grade("2026-03-03", "A")
    a, b = ReadModel(memory.ledger), ReadModel(stored.ledger)
    assert not a.stored and b.stored
    assert a.tickets() == b.tickets()
    assert a.unit_counts() == b.unit_counts()
    assert a.ticket("T-2") == b.ticket("T-2")


def test_a_ledger_of_schema_1_is_upgraded_and_its_read_model_rebuilt(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    db = tmp_path / "old.db"
    tl = Timeline(ruleset, storage=SqliteStorage(str(db))).register()
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "C").dispatch("2026-03-02")
    tl.ledger.storage.close()
    # what the schema-1 code (main before the read model) leaves: no rm_* tables, version 1
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE rm_tickets")
    conn.execute("DROP TABLE rm_enterprises")
    conn.execute("DELETE FROM meta WHERE key = 'read_model_seq'")
    conn.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    storage = SqliteStorage.open_existing(str(db))
    ledger = Ledger(storage, ruleset.reference)
    model = ReadModel(ledger)
    assert not model.stored  # upgraded, empty: reads replay
    assert [t.ticket_id for t in model.tickets().items] == ["T-1"]
    assert model.differences()[0].startswith("读取模型未覆盖")
    # the next write brings it up to date in its own transaction
    ledger.submit(
        {
            "event_id": "late",
            "type": "ticket.resolved",
            "date": "2026-03-10",
            "actor": "汉台区",
            "ticket_id": "T-1",
            "payload": {},
        }
    )
    assert model.stored and model.differences() == []
    assert model.tickets().items[0].state == "resolved"
    storage.close()


def test_rebuild_reproduces_the_rows_exactly(sqlite_tl: Timeline) -> None:
    tl = sqlite_tl
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "C").dispatch("2026-03-02")
    before = tl.ledger.storage.read_model_rows()
    conn = sqlite3.connect(Path(tl.ledger.storage.url))
    conn.execute("UPDATE rm_tickets SET state = 'closed'")
    conn.commit()
    conn.close()
    model = ReadModel(tl.ledger)
    assert model.differences() == ["办理单 T-1：state 不同"]
    assert model.rebuild() == (1, 1)
    assert tl.ledger.storage.read_model_rows() == before
    assert before[0] == tl.ledger.replayed_rows().tickets


def test_the_sweep_reads_only_open_tickets_and_issues_the_same(
    ruleset: RuleSet, tmp_path: Path
) -> None:
    results = {}
    for name, storage in (("memory", MemoryStorage()), ("sqlite", None)):
        tl = Timeline(ruleset, storage=storage or SqliteStorage(str(tmp_path / "s.db"))).register()
        tl.ledger.notifiers = ["屏幕"]
        tl.collect("2026-03-02", ticket_id="T-1").report("2026-03-02")
        tl.grade("2026-03-02", "C").dispatch("2026-03-02")  # overdue after 30 March
        tl.collect("2026-03-02", ticket_id="T-2").report("2026-03-02")
        tl.grade("2026-03-02", "A").dispatch("2026-03-02").resolve("2026-03-03")
        tl.feedback("2026-03-04").rate("2026-03-05", "满意")  # closed: quiet once swept
        days = ["2026-03-27", "2026-03-31", "2026-04-08", "2026-05-06"]
        results[name] = [sweep(tl.ledger, tl.evaluator, d(day)).summary() for day in days]
        results[name + "-notices"] = [x.notice.notice_id for x in tl.ledger.storage.deliveries()]
        if name == "sqlite":
            storage_ = tl.ledger.storage
            from kernel.clocks.index import evaluator_key

            key = evaluator_key(tl.evaluator)
            # T-1 has had every step (its next 通报 is in June), T-2 is closed: nothing is due
            assert storage_.sweep_candidates(d("2026-05-07"), key) == []
            # a sweep of an earlier day, or under another calendar, looks at everything again
            assert storage_.sweep_candidates(d("2026-03-01"), key) == ["T-1", "T-2"]
            assert storage_.sweep_candidates(d("2026-05-07"), "other") == ["T-1", "T-2"]
            sweep(tl.ledger, tl.evaluator, d("2026-05-07"))
            assert storage_.sweep_candidates(d("2026-05-07"), key) == []
            # a new event of a quiet ticket makes it open again
            tl.ticket_id = "T-1"
            tl.resolve("2026-05-08")
            assert "T-1" in storage_.sweep_candidates(d("2026-05-08"), key)
    issued = {k: [s.split("件：", 1)[1] for s in v] for k, v in results.items() if "-" not in k}
    assert issued["sqlite"] == issued["memory"]
    assert results["sqlite-notices"] == results["memory-notices"]
    # the first sweep looked at both tickets, the later ones at the open one only
    assert results["sqlite"][0].startswith("2026-03-27 巡查 2 件")
    assert results["sqlite"][-1].startswith("2026-05-06 巡查 1 件")


def test_indexed_sweeps_issue_what_full_sweeps_issue_over_a_simulated_year(
    ruleset: RuleSet, kernel: Kernel, tmp_path: Path
) -> None:
    """Sweeping a simulated year every few days through the index (SQLite) issues exactly the
    notices and events that sweeping a full replay does (memory), and reads fewer tickets."""
    sim = generate(seed=11, enterprises=12, problems=60)
    ledgers = {
        "memory": Ledger(MemoryStorage(), ruleset.reference, notifiers=["屏幕"]),
        "sqlite": Ledger(
            SqliteStorage(str(tmp_path / "year.db")), ruleset.reference, notifiers=["屏幕"]
        ),
    }
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    events = sorted(sim.events, key=lambda e: e["date"])
    read = {"memory": 0, "sqlite": 0}
    day = dt.date(2026, 1, 5)
    position = 0
    while day <= dt.date(2026, 12, 31):
        due = []
        while position < len(events) and events[position]["date"] <= day.isoformat():
            due.append((events[position], None, ()))
            position += 1
        for name, ledger in ledgers.items():
            if due:
                ledger.submit_many(due, kernel=kernel)
            read[name] += sweep(ledger, evaluator, day).tickets
        day += dt.timedelta(days=3)
    notices = {
        name: sorted(d.notice.to_dict()["notice_id"] for d in ledger.storage.deliveries())
        for name, ledger in ledgers.items()
    }
    recorded = {
        name: sorted(e.to_json() for e in ledger.events() if e.type in ESCALATION_TYPES)
        for name, ledger in ledgers.items()
    }
    assert notices["sqlite"] == notices["memory"] and len(notices["memory"]) > 20
    assert recorded["sqlite"] == recorded["memory"] and recorded["memory"]
    assert read["sqlite"] < read["memory"] / 3
    ledgers["sqlite"].storage.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.test_postgres import drop, url_for  # skips the test without a server

    schema = f"huhang_rm_{random.randrange(1 << 40):x}"
    try:
        yield url_for(schema)
    finally:
        drop(schema)


def test_postgres_keeps_the_read_model_and_the_sweep_index(ruleset: RuleSet, pg_url: str) -> None:
    from kernel.clocks.index import evaluator_key
    from kernel.storage.postgres import PostgresStorage

    storage = PostgresStorage(pg_url)
    try:
        tl = Timeline(ruleset, storage=storage).register()
        tl.ledger.notifiers = ["屏幕"]
        tl.collect("2026-03-02", ticket_id="T-1").report("2026-03-02")
        tl.grade("2026-03-02", "C").dispatch("2026-03-02")
        tl.collect("2026-03-03", ticket_id="T-2").report("2026-03-03")
        model = ReadModel(tl.ledger)
        assert model.stored and model.differences() == []
        page = model.tickets(TicketQuery(filters={"state": "dispatched"}))
        assert (page.total, [t.ticket_id for t in page.items]) == (1, ["T-1"])
        assert model.unit_counts() == {"汉台区": {"dispatched": 1}}
        key = evaluator_key(tl.evaluator)
        assert sweep(tl.ledger, tl.evaluator, d("2026-03-04")).tickets == 2
        # T-1 runs until its warning day (27 March); T-2 waits for its report clock's due date
        assert storage.sweep_candidates(d("2026-03-05"), key) == ["T-2"]
        assert storage.sweep_candidates(d("2026-03-27"), key) == ["T-1", "T-2"]
        late = sweep(tl.ledger, tl.evaluator, d("2026-05-06"))  # both overdue by now
        assert (late.by_kind["supervision"], late.by_kind["interview"]) == (2, 2)
        # nothing more until the 通报 of June lists them again
        assert storage.sweep_candidates(d("2026-05-29"), key) == []
        assert storage.sweep_candidates(d("2026-06-01"), key) == ["T-1", "T-2"]
        assert model.differences() == []
        assert tl.ledger.rebuild_read_model() == (2, 1)
    finally:
        storage.close()


def test_claimed_sweeps_hand_out_the_index_and_issue_what_one_process_issues(
    ruleset: RuleSet, kernel: Kernel, tmp_path: Path, pg_url: str
) -> None:
    """``huhang sweep`` on PostgreSQL (workers claiming tickets) hands out only the tickets the
    sweep's index does not mark quiet, and issues what the sweep in one process (SQLite) does,
    over a simulated year swept every five days."""
    from kernel.clocks.sweep import sweep_claimed
    from kernel.storage.postgres import PostgresStorage

    sim = generate(seed=11, enterprises=12, problems=60)
    one = Ledger(SqliteStorage(str(tmp_path / "one.db")), ruleset.reference, notifiers=["屏幕"])
    claimed = Ledger(PostgresStorage(pg_url), ruleset.reference, notifiers=["屏幕"])
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    events = sorted(sim.events, key=lambda e: e["date"])
    summaries: dict[str, list[str]] = {"one": [], "claimed": []}
    day = dt.date(2026, 1, 5)
    position = 0
    try:
        while day <= dt.date(2026, 12, 31):
            due = []
            while position < len(events) and events[position]["date"] <= day.isoformat():
                due.append((events[position], None, ()))
                position += 1
            for ledger in (one, claimed):
                if due:
                    ledger.submit_many(due, kernel=kernel)
            summaries["one"].append(sweep(one, evaluator, day).summary())
            worker = f"w{day.toordinal() % 2}"  # two workers taking turns
            summaries["claimed"].append(sweep_claimed(claimed, evaluator, day, worker).summary())
            day += dt.timedelta(days=5)
        # the same tickets read (巡查 N 件) and the same notices and events counted, each day
        assert summaries["claimed"] == summaries["one"]
        notices = [
            sorted(d.notice.notice_id for d in ledger.storage.deliveries())
            for ledger in (one, claimed)
        ]
        assert notices[0] == notices[1] and len(notices[0]) > 20
        recorded = [
            sorted(e.to_json() for e in ledger.events() if e.type in ESCALATION_TYPES)
            for ledger in (one, claimed)
        ]
        assert recorded[0] == recorded[1] and recorded[0]
        tickets = len({e["ticket_id"] for e in events if e.get("ticket_id")})
        read = [int(s.split(" 巡查 ", 1)[1].split(" 件", 1)[0]) for s in summaries["claimed"]]
        assert max(read[-10:]) < tickets / 2  # late in the year: open work only
    finally:
        one.storage.close()
        claimed.storage.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_search_columns_written_as_none_are_repaired_on_opening(
    ruleset: RuleSet, tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """Search columns of an older ledger held ``none`` (``str(None)``) where the searched
    column is NULL, so ``q=none`` listed every ungraded ticket; SQLite schema 8 and PostgreSQL
    9 set them to NULL, without a rebuild, and leave the others as they were."""
    from kernel.storage.postgres import PostgresStorage

    url = str(tmp_path / "old.db") if backend == "sqlite" else request.getfixturevalue("pg_url")

    def opened() -> Storage:
        return SqliteStorage(url) if backend == "sqlite" else PostgresStorage(url)

    def execute(storage: Storage, statement: str) -> list[Any]:
        if isinstance(storage, SqliteStorage):
            with storage._write() as conn:
                return conn.execute(statement).fetchall()
        assert isinstance(storage, PostgresStorage)
        with storage._writing() as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if statement.startswith("SELECT") else []

    storage = opened()
    tl = Timeline(ruleset, storage=storage).register()
    tl.collect("2026-03-02", ticket_id="T-1").report("2026-03-02")  # ungraded: no primary
    tl.collect("2026-03-03", ticket_id="T-2").report("2026-03-03").grade("2026-03-03", "C")
    model = ReadModel(tl.ledger)
    assert model.tickets(TicketQuery(text="none")).total == 0
    assert model.tickets(TicketQuery(text="汉台")).total == 1
    old = 7 if backend == "sqlite" else 8
    execute(storage, "UPDATE rm_tickets SET search_primary = 'none' WHERE primary_unit IS NULL")
    execute(storage, f"UPDATE meta SET value = '{old}' WHERE key = 'schema_version'")
    assert [t.ticket_id for t in model.tickets(TicketQuery(text="none")).items] == ["T-1"]
    storage.close()
    storage = opened()
    try:
        model = ReadModel(Ledger(storage, ruleset.reference))
        assert model.stored  # repaired in place: nothing to rebuild
        assert model.tickets(TicketQuery(text="none")).total == 0
        assert [t.ticket_id for t in model.tickets(TicketQuery(text="汉台")).items] == ["T-2"]
        rows = execute(storage, "SELECT ticket_id, search_primary FROM rm_tickets ORDER BY 1")
        assert [tuple(r) for r in rows] == [("T-1", None), ("T-2", "汉台区")]
    finally:
        storage.close()


def test_postgres_counts_and_pages_a_list_in_one_snapshot(
    ruleset: RuleSet, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list's total and its page come from one snapshot: a writer committing a new ticket
    right after every read the list makes changes neither (two reads gave a total one short
    of the page)."""
    from kernel.storage.postgres import PostgresStorage

    writer = Timeline(ruleset, storage=PostgresStorage(pg_url)).register()
    for number in range(1, 4):
        writer.collect("2026-03-02", ticket_id=f"T-{number}")
    reader = PostgresStorage(pg_url)
    fetch = reader._fetch
    tickets = [3]

    def read_then_write(query: str, params: Any = ()) -> list[tuple[Any, ...]]:
        rows = fetch(query, params)
        tickets[0] += 1
        writer.collect("2026-03-03", ticket_id=f"T-{tickets[0]}")  # committed before the next
        return rows

    monkeypatch.setattr(reader, "_fetch", read_then_write)
    try:
        for query, page in (
            (TicketQuery(limit=None), None),
            (TicketQuery(limit=2, offset=1), ["T-2", "T-3"]),
            (TicketQuery(limit=50, offset=10), []),
            (TicketQuery(filters={"state": "collected"}, limit=None, by_id=True), None),
        ):
            before = tickets[0]
            total, rows = reader.ticket_rows(query)
            ids = [row[0] for row in rows]
            assert total == before and tickets[0] > before
            wanted = [f"T-{n}" for n in range(1, before + 1)] if page is None else page
            assert ids == wanted  # fewer than ten tickets: 台账 order and id order agree
    finally:
        reader.close()
        writer.ledger.storage.close()
