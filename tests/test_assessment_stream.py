"""The streaming assessment equals the assessment over a whole projection, byte for byte.

Both paths run in the test on the demo ledger (the default demo year), in memory and in
SQLite (whose ``ticket_last_seqs`` is SQL), for the year, a quarter and a month (a period that
ends before the ledger does, so later events must be left out the same way).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from kernel.assessment.reports import assessment_report, emit_report, unit_report
from kernel.assessment.scoring import Assessment, FactCollector, assess, period_bounds
from kernel.assessment.stream import stream_assess, stream_tallies
from kernel.clocks.view import clock_titles
from kernel.demo.generate import Simulation, generate
from kernel.ledger.ledger import Ledger
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SqliteStorage


@pytest.fixture(scope="module")
def demo() -> Simulation:
    return generate()


def _collector(ruleset: RuleSet) -> FactCollector:
    assert ruleset.scoring is not None and ruleset.deadlines is not None
    assert ruleset.calendar is not None
    return FactCollector(ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference)


def _texts(ruleset: RuleSet, assessment: Assessment) -> list[str]:
    """The ranking in text, JSON and Markdown, and the first three penalised units' reports."""
    assert ruleset.deadlines is not None
    titles = clock_titles(ruleset.deadlines)
    report = assessment_report(assessment, titles)
    texts = [str(emit_report(report, fmt, None)) for fmt in ("text", "json", "md")]
    units = [u for u in assessment.units if u.deductions]
    for unit in units[:3]:
        texts.append(str(emit_report(unit_report(assessment, unit.unit, titles), "json", None)))
    return texts


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_stream_equals_reference(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path, backend: str
) -> None:
    if backend == "memory":
        ledger = Ledger(MemoryStorage(), ruleset.reference)
    else:
        ledger = Ledger(SqliteStorage(str(tmp_path / "demo.db")), ruleset.reference)
    with ledger.storage.transaction() as tx:
        for event in demo.ledger.events():
            tx.insert(event)
    projector, events = ledger.project_with_events()
    collector = _collector(ruleset)
    checked = 0
    for period in ("2026", "2026-Q2", "2026-05"):
        reference = assess(collector, projector, events, period)
        streamed, stats = stream_assess(_collector(ruleset), ledger, period)
        assert json.dumps(streamed.to_dict(), ensure_ascii=False) == json.dumps(
            reference.to_dict(), ensure_ascii=False
        )
        assert _texts(ruleset, streamed) == _texts(ruleset, reference)
        assert stats.events == len(events)
        assert stats.tickets == len(projector.tickets)
        checked += sum(len(u.deductions) for u in reference.units)
    assert checked > 0  # the demo year has deductions to compare


def test_stream_tallies_equal_reference(demo: Simulation, ruleset: RuleSet) -> None:
    """The tallies themselves (counts and deductions per unit and month) are equal."""
    ledger = demo.ledger
    projector, events = ledger.project_with_events()
    _, _, end = period_bounds("2026")
    reference = _collector(ruleset).tallies(projector, events, end)
    streamed, _ = stream_tallies(
        _collector(ruleset), ledger.events(), ledger.storage.ticket_last_seqs(), end
    )
    assert set(streamed) == set(reference)
    for key, tally in reference.items():
        other = streamed[key]
        assert (other.due, other.on_time, other.rated, other.satisfied) == (
            tally.due,
            tally.on_time,
            tally.rated,
            tally.satisfied,
        )
        assert dict(other.counts) == dict(tally.counts)
        assert sorted(other.deductions, key=repr) == sorted(tally.deductions, key=repr)


def test_stream_reads_a_snapshot(ruleset: RuleSet, tmp_path: Path) -> None:
    """Events stored after the bound was read are not in the pass (nor half in it)."""
    storage = SqliteStorage(str(tmp_path / "s.db"))
    sim = generate(seed=3, enterprises=6, problems=20)
    stored = list(sim.ledger.events())
    with storage.transaction() as tx:
        for event in stored:
            tx.insert(event)
    bound, last = storage.ticket_last_seqs()
    assert bound == len(stored)
    assert last == {
        str(e.ticket_id): int(e.seq or 0) for e in storage.events() if e.ticket_id is not None
    }
    assert (bound, last) == super(SqliteStorage, storage).ticket_last_seqs()
    _, stats = stream_tallies(
        _collector(ruleset), storage.events(), (bound // 2, last), dt.date(2026, 12, 31)
    )
    assert stats.events == bound // 2


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_streaming_rebuild_rows_equal_whole_projection(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path, backend: str
) -> None:
    """`huhang ledger rebuild`'s rows from the streaming replay equal those of a replay that
    holds every state; a ticket written after the last seqs were read falls back to that."""
    storage = MemoryStorage() if backend == "memory" else SqliteStorage(str(tmp_path / "r.db"))
    ledger = Ledger(storage, ruleset.reference)
    with storage.transaction() as tx:
        for event in demo.ledger.events():
            tx.insert(event)
    whole = ledger.replayed_rows(streaming=False)
    assert ledger.replayed_rows() == whole
    assert len(whole.tickets) > 100

    stale = storage.ticket_last_seqs()
    states = ledger.project().tickets
    open_ids = {t for t, s in states.items() if s.state == "dispatched"}
    first = next(e for e in storage.events() if e.ticket_id in open_ids)
    later = dataclasses.replace(
        first,
        event_id="E-later",
        type="ticket.progress_reported",
        actor=str(states[str(first.ticket_id)].route["primary"]),
        payload={"note": "进展"},
    )
    with storage.transaction() as tx:
        tx.insert(later)
    original = storage.ticket_last_seqs
    storage.ticket_last_seqs = lambda: stale  # type: ignore[method-assign]
    try:
        assert ledger.replayed_rows() == ledger.replayed_rows(streaming=False)
    finally:
        storage.ticket_last_seqs = original  # type: ignore[method-assign]
