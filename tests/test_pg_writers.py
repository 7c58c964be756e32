"""PostgreSQL writers that check a batch before the ledger lock (kernel.ledger.checkfirst).

Against a live server (``$HUHANG_PG_DSN``; skipped without one, as tests/test_postgres.py):
another writer commits between a batch's snapshot and its lock -- on the batch's ticket, its
enterprise, its event id, or elsewhere -- and the batch's outcome is the one it would have had
run alone after that writer; then four processes write conflicting and non-conflicting batches
at once, and the ledger they leave is legal, holds each event id once, in seqs 1..n, with a read
model equal to a replay.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import InputError
from kernel.evaluation.kernel import Kernel
from kernel.ledger import checkfirst
from kernel.ledger.events import OFFICE
from kernel.ledger.ledger import Ledger, SubmitResult
from kernel.ledger.projection import TicketState, TransitionRejected
from kernel.ledger.readmodel import ReadModel
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from kernel.storage.postgres import PostgresStorage
from tests.test_postgres import (  # skips the module without a server
    credit_code,
    drop,
    enterprise_history,
    run_together,
    url_for,
)

CODE = credit_code(1)
CHANGE = {
    "event_id": "A:changed",
    "type": "enterprise.changed",
    "date": "2026-03-02",
    "actor": OFFICE,
    "enterprise": CODE,
    "payload": {"lead_unit": "工信局"},
}


@pytest.fixture
def url() -> Iterator[str]:
    schema = f"huhang_test_{secrets.token_hex(6)}"
    try:
        yield url_for(schema)
    finally:
        drop(schema)


def resolved(ticket: str, tag: str) -> dict[str, Any]:
    return {
        "event_id": f"{ticket}:resolved:{tag}",
        "type": "ticket.resolved",
        "date": "2026-03-05",
        "actor": "汉台区",
        "ticket_id": ticket,
        "payload": {"summary": f"已解决（{tag}）"},
    }


def submit_all(ledger: Ledger, events: list[dict[str, Any]]) -> list[SubmitResult | InputError]:
    return ledger.submit_many([(e, None, ()) for e in events])


@contextmanager
def two_writers(url: str, ruleset: RuleSet) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one schema, each with its own connections (as two processes)."""
    a = Ledger(PostgresStorage(url), ruleset.reference)
    b = Ledger(PostgresStorage(url), ruleset.reference)
    try:
        yield a, b
    finally:
        a.storage.close()
        b.storage.close()


def before_lock(ledger: Ledger, action: Callable[[], object]) -> None:
    """Run ``action`` once, after ``ledger``'s next batch was checked and before it takes the
    ledger lock (as another process committing meanwhile would)."""
    storage: Any = ledger.storage
    original = storage.transaction
    pending = [action]

    @contextmanager
    def transaction() -> Iterator[Any]:
        while pending:
            pending.pop()()
        with original() as tx:
            yield tx

    storage.transaction = transaction


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each checked batch held under the lock (True) or was checked again (False)."""
    held: list[bool] = []
    compare = checkfirst.versions_if_unmoved

    def spy(batch: Any, tx: Any) -> Any:
        now = compare(batch, tx)
        held.append(now is not None)
        return now

    monkeypatch.setattr(checkfirst, "versions_if_unmoved", spy)
    return held


def stored(ledger: Ledger) -> dict[str, int]:
    return {e.event_id: int(e.seq or 0) for e in ledger.events()}


def assert_consistent(ledger: Ledger, ruleset: RuleSet) -> None:
    """Seqs 1..n, a read model equal to a replay, and a ledger legal step by step."""
    events = list(ledger.events())
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert ReadModel(ledger).differences() == []
    again = Ledger(MemoryStorage(), ruleset.reference)
    outcomes = again.submit_many([(e.to_dict(), None, ()) for e in events])
    assert all(isinstance(o, SubmitResult) and o.accepted for o in outcomes), [
        str(o) for o in outcomes if isinstance(o, InputError)
    ]


def test_a_step_taken_meanwhile_on_the_batchs_ticket_refuses_the_batchs_step(
    url: str, ruleset: RuleSet, spied: list[bool]
) -> None:
    with two_writers(url, ruleset) as (a, b):
        submit_all(a, enterprise_history(CODE, "A", 2))
        before_lock(a, lambda: submit_all(b, [resolved("A-000", "b")]))
        (outcome,) = submit_all(a, [resolved("A-000", "a")])
        assert isinstance(outcome, TransitionRejected)  # resolved already, by b
        assert spied[-1] is False  # checked again under the lock
        ids = stored(a)
        assert "A-000:resolved:b" in ids and "A-000:resolved:a" not in ids
        assert_consistent(a, ruleset)


def test_a_write_elsewhere_meanwhile_moves_the_batchs_seqs_up(
    url: str, ruleset: RuleSet, spied: list[bool]
) -> None:
    with two_writers(url, ruleset) as (a, b):
        submit_all(a, enterprise_history(CODE, "A", 2))
        submit_all(a, enterprise_history(credit_code(2), "B", 1))
        top = a.storage.count()
        before_lock(a, lambda: submit_all(b, [resolved("B-000", "b")]))
        outcomes = submit_all(a, [resolved("A-000", "a"), resolved("A-001", "a")])
        assert spied[-1] is True  # nothing it read had moved: stored without a second check
        assert [o.event.seq for o in outcomes if isinstance(o, SubmitResult)] == [
            top + 2,
            top + 3,
        ]
        ids = stored(a)
        assert ids["B-000:resolved:b"] == top + 1
        assert (ids["A-000:resolved:a"], ids["A-001:resolved:a"]) == (top + 2, top + 3)
        # the states kept for the next batch carry the seqs as stored
        follow = {
            **resolved("A-000", "a"),
            "event_id": "A-000:feedback",
            "type": "ticket.feedback_given",
            "actor": "商务局",
            "payload": {},
        }
        assert all(isinstance(o, SubmitResult) for o in submit_all(a, [follow]))
        assert a._states["A-000"].events[-1].seq == top + 4
        assert_consistent(a, ruleset)


def test_the_same_event_stored_meanwhile_is_a_duplicate(
    url: str, ruleset: RuleSet, spied: list[bool]
) -> None:
    with two_writers(url, ruleset) as (a, b):
        submit_all(a, enterprise_history(CODE, "A", 1))
        event = resolved("A-000", "same")
        before_lock(a, lambda: submit_all(b, [event]))
        (outcome,) = submit_all(a, [event])
        assert isinstance(outcome, SubmitResult) and not outcome.accepted
        assert outcome.event.seq == stored(a)[event["event_id"]]
        assert spied[-1] is False
        assert_consistent(a, ruleset)


def test_an_enterprise_changed_meanwhile_is_the_context_of_a_ticket_collected_after(
    url: str, ruleset: RuleSet, spied: list[bool]
) -> None:
    change = CHANGE
    with two_writers(url, ruleset) as (a, b):
        history = enterprise_history(CODE, "A", 1)
        submit_all(a, history[:1])  # registered only
        before_lock(a, lambda: submit_all(b, [change]))
        assert all(isinstance(o, SubmitResult) for o in submit_all(a, history[1:3]))
        assert spied[-1] is False
        state = a.ticket("A-000")
        assert state is not None and state.lead_unit == "工信局"
        assert_consistent(a, ruleset)


def test_a_batch_checked_again_grades_each_report_once_and_as_the_ticket_now_is(
    url: str, ruleset: RuleSet, kernel: Kernel, spied: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    graded: list[tuple[str, str]] = []
    grade = Ledger._graded_event

    def counted(self: Ledger, state: TicketState, *args: Any) -> dict[str, Any]:
        graded.append((state.ticket_id, state.lead_unit))
        return grade(self, state, *args)

    monkeypatch.setattr(Ledger, "_graded_event", counted)
    history = enterprise_history(CODE, "A", 2, progress=False)  # registered, A-000 ×4, A-001 ×4
    reported = history[1:3]  # A-000 collected and reported: graded in the batch
    with two_writers(url, ruleset) as (a, b):
        submit_all(a, [history[0], *history[5:]])
        # another writer resolves A-001, which the batch also resolves: checked again
        before_lock(a, lambda: submit_all(b, [resolved("A-001", "b")]))
        outcomes = a.submit_many(
            [(e, None, ()) for e in [*reported, resolved("A-001", "a")]], kernel=kernel
        )
        assert spied[-1] is False and isinstance(outcomes[-1], TransitionRejected)
        assert graded == [("A-000", "商务局")]  # the same report of the same ticket: once
        # the enterprise changes before the next ticket's batch takes the lock: its ticket (and
        # so its grading) is not the one checked first, and it is graded as it is now
        change = {**CHANGE, "event_id": "A:changed:2"}
        before_lock(a, lambda: submit_all(b, [change]))
        collected = {**reported[0], "event_id": "A-009:collected", "ticket_id": "A-009"}
        report = {**reported[1], "event_id": "A-009:reported", "ticket_id": "A-009"}
        a.submit_many([(collected, None, ()), (report, None, ())], kernel=kernel)
        assert graded[1:] == [("A-009", "商务局"), ("A-009", "工信局")]
        stored_grade = next(a.events(ticket_id="A-009", types=("ticket.graded",)))
        assert stored_grade.payload["route"]["feedback_owner"] == "工信局"
        assert_consistent(a, ruleset)


def test_a_batch_of_duplicates_takes_no_lock(url: str, ruleset: RuleSet) -> None:
    with two_writers(url, ruleset) as (a, _):
        history = enterprise_history(CODE, "A", 2)
        submit_all(a, history)
        storage: Any = a.storage
        original = storage.transaction
        storage.transaction = lambda: pytest.fail("took the ledger lock")
        try:
            outcomes = submit_all(a, history)
        finally:
            storage.transaction = original
        assert all(isinstance(o, SubmitResult) and not o.accepted for o in outcomes)


WRITER = """
import json, os, sys, time
sys.path.insert(0, @ROOT@)
from pathlib import Path
from kernel import load_rules
from kernel.errors import InputError
from kernel.ledger import checkfirst
from kernel.ledger.ledger import Ledger
from kernel.storage.postgres import PostgresStorage

url, batches_file, go = sys.argv[1:4]
batches = json.loads(Path(batches_file).read_text(encoding="utf-8"))
held = []
compare = checkfirst.versions_if_unmoved
def spy(batch, tx):
    now = compare(batch, tx)
    held.append(now is not None)
    return now
checkfirst.versions_if_unmoved = spy
ledger = Ledger(PostgresStorage(url), load_rules(Path(@ROOT@) / "rules").reference)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
seen = {}
for batch in batches:
    for event, outcome in zip(batch, ledger.submit_many([(e, None, ()) for e in batch])):
        if isinstance(outcome, InputError):
            seen[event["event_id"]] = ["rejected", type(outcome).__name__]
        else:
            seen[event["event_id"]] = [outcome.status, outcome.event.seq]
ledger.storage.close()
print(json.dumps({"seen": seen, "held": held}, ensure_ascii=False))
"""


@pytest.mark.slow
def test_four_processes_write_conflicting_and_separate_batches(
    url: str, ruleset: RuleSet, tmp_path: Path
) -> None:
    PostgresStorage(url).close()
    shared = enterprise_history(credit_code(99), "共享", 20)
    shared_tickets = sorted({str(e["ticket_id"]) for e in shared if "ticket_id" in e})
    jobs = []
    for k in range(4):
        own = enterprise_history(credit_code(k), f"P{k}", 20)
        # each process also resolves every shared ticket under its own event id: only one of
        # the four steps per ticket is legal, whichever is stored first
        race = [*shared, *(resolved(t, f"p{k}") for t in shared_tickets)]
        mixed = [e for pair in itertools.zip_longest(own, race) for e in pair if e]
        batches = [mixed[i : i + 25] for i in range(0, len(mixed), 25)]
        file = tmp_path / f"batches-{k}.json"
        file.write_text(json.dumps(batches, ensure_ascii=False), encoding="utf-8")
        jobs.append([url, str(file)])
    outputs = run_together(WRITER, jobs, tmp_path)

    with PostgresStorage(url) as store:
        ledger = Ledger(store, ruleset.reference)
        ids = stored(ledger)
        for out in outputs:  # what each process was told is what is stored
            for event_id, (status, detail) in out["seen"].items():
                if status == "rejected":
                    assert detail == "TransitionRejected" and ":resolved:p" in event_id
                    assert event_id not in ids
                else:
                    assert ids[event_id] == detail, event_id
        for event in shared:  # each shared event stored once, the other three duplicates
            told = [out["seen"][event["event_id"]][0] for out in outputs]
            assert sorted(told) == ["accepted", "duplicate", "duplicate", "duplicate"]
        for ticket in shared_tickets:  # one resolution per shared ticket
            assert len([i for i in ids if i.startswith(f"{ticket}:resolved:")]) == 1
        assert_consistent(ledger, ruleset)
    checked = [h for out in outputs for h in out["held"]]
    assert any(checked)  # batches were stored as checked before the lock
    print(f"\n{len(ids)} events; {checked.count(False)} of {len(checked)} batches checked again")


def test_text_holding_nul_is_refused_on_postgresql_as_anywhere(url: str, ruleset: RuleSet) -> None:
    """PostgreSQL's text columns cannot hold NUL: such an event is refused before any write
    (located, like every bad event), not a database error, and the rest of the batch goes in."""
    events = enterprise_history(CODE, "N", 1, progress=False)
    events[0]["payload"]["name"] = "汉中\x00物流"
    ledger = Ledger(PostgresStorage(url), ruleset.reference)
    try:
        outcomes = submit_all(ledger, events)
        refused = outcomes[0]
        assert isinstance(refused, InputError)
        assert [str(p) for p in refused.problems] == [
            "<event>:0:0: INPUT-CONTROL-CHAR payload.name 中有不允许的控制字符 U+0000（NUL）；请删除它"
        ]
        assert ledger.storage.count() == sum(isinstance(o, SubmitResult) for o in outcomes)
        good = enterprise_history(CODE, "N", 1, progress=False)
        assert all(isinstance(o, SubmitResult) for o in submit_all(ledger, good))
    finally:
        ledger.storage.close()
