"""The assessment from the facts cache equals the streaming assessment, byte for byte.

On the demo ledger, in SQLite and PostgreSQL (``$HUHANG_PG_DSN``; skipped without a server):
for the year, each quarter and some months, cold (every ticket's facts computed and cached),
warm (every ticket read from the cache), after appending the rest of the ledger (new and changed
tickets computed again, the others read) and under changed scoring rules (another key).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import cast

import pytest

from kernel.assessment.facts import ENTERPRISE_TYPES, facts_assess, facts_key, facts_tallies
from kernel.assessment.reports import assessment_report, emit_report, unit_report
from kernel.assessment.scoring import Assessment, FactCollector, period_bounds
from kernel.assessment.stream import stream_assess
from kernel.clocks.view import clock_titles
from kernel.demo.generate import Simulation, generate
from kernel.ledger.events import Event
from kernel.ledger.ledger import Ledger
from kernel.ledger.readmodel import ReadModel
from kernel.rules.model import RuleSet
from kernel.rules.scoring import ScoringHistory
from kernel.storage.contract import ReadModelTransaction, Storage
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SqliteStorage

PERIODS = ("2026", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2026-03", "2026-08")


@pytest.fixture(scope="module")
def demo() -> Simulation:
    return generate()


def _collector(ruleset: RuleSet, scoring: ScoringHistory | None = None) -> FactCollector:
    assert ruleset.scoring is not None and ruleset.deadlines is not None
    assert ruleset.calendar is not None
    return FactCollector(
        scoring or ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )


def _texts(ruleset: RuleSet, assessment: Assessment) -> list[str]:
    """The assessment as JSON, the ranking in text, JSON and Markdown, and the penalised
    units' reports."""
    assert ruleset.deadlines is not None
    titles = clock_titles(ruleset.deadlines)
    report = assessment_report(assessment, titles)
    texts = [json.dumps(assessment.to_dict(), ensure_ascii=False)]
    texts += [str(emit_report(report, fmt, None)) for fmt in ("text", "json", "md")]
    for unit in [u for u in assessment.units if u.deductions][:4]:
        texts.append(str(emit_report(unit_report(assessment, unit.unit, titles), "text", None)))
    return texts


def _insert(storage: Storage, events: list[Event]) -> None:
    """Store events as they are (around the ledger's checks: they were checked once)."""
    with storage.transaction() as tx:
        if not storage.has_read_model:
            for event in events:
                tx.insert(dataclasses.replace(event, seq=None))
            return
        batch = cast(ReadModelTransaction, tx)
        base = batch.last_seq()
        batch.insert_many(
            [dataclasses.replace(e, seq=base + i) for i, e in enumerate(events, start=1)]
        )


def _same(
    ruleset: RuleSet,
    ledger: Ledger,
    scoring: ScoringHistory | None = None,
    periods: tuple[str, ...] = PERIODS,
) -> int:
    """Every period from the cache equals the stream; how many deductions were compared."""
    compared = 0
    for period in periods:
        streamed, _ = stream_assess(_collector(ruleset, scoring), ledger, period)
        cached = facts_assess(_collector(ruleset, scoring), ledger, period)
        assert _texts(ruleset, cached) == _texts(ruleset, streamed), period
        compared += sum(len(u.deductions) for u in streamed.units)
    return compared


def test_cached_facts_equal_the_stream(
    demo: Simulation, ruleset: RuleSet, rm_storage: Storage
) -> None:
    storage = rm_storage
    ledger = Ledger(storage, ruleset.reference)
    events = list(demo.ledger.events())
    cut = len(events) * 3 // 4
    _insert(storage, events[:cut])
    _, _, year_end = period_bounds("2026")

    assert _same(ruleset, ledger) > 0  # cold: every ticket computed and cached
    _, cold = facts_tallies(_collector(ruleset), ledger, year_end)
    assert cold.computed == 0 and cold.cached > 100  # warm: all from the cache

    _insert(storage, events[cut:])  # new tickets, and later events of cached ones
    _, after = facts_tallies(_collector(ruleset), ledger, year_end, store=False)
    touched = {e.ticket_id for e in events[cut:] if e.ticket_id is not None}
    touched |= {e.enterprise for e in events[cut:] if e.type in ENTERPRISE_TYPES}
    assert after.computed == len(touched)
    assert 0 < after.cached < cold.cached
    assert _same(ruleset, ledger) > 0

    # another scoring version: a rule's points changed -- another key, every ticket again
    assert ruleset.scoring is not None
    first = ruleset.scoring.versions[0]
    rule = next(r for r in first.deductions if r.clock)
    changed = dataclasses.replace(rule, points=rule.points + 0.25)
    version = dataclasses.replace(
        first, deductions=tuple(changed if r is rule else r for r in first.deductions)
    )
    scoring = ScoringHistory((version, *ruleset.scoring.versions[1:]))
    assert facts_key(_collector(ruleset, scoring)) != facts_key(_collector(ruleset))
    _, rekeyed = facts_tallies(_collector(ruleset, scoring), ledger, year_end, store=False)
    assert rekeyed.cached == 0
    assert _same(ruleset, ledger, scoring, ("2026", "2026-Q3")) > 0
    # the old key's rows were dropped by the first write under the new one
    assert list(storage.facts_rows(year_end, facts_key(_collector(ruleset)))) == []


def test_rebuild_clears_the_cache(demo: Simulation, ruleset: RuleSet, tmp_path: Path) -> None:
    storage = SqliteStorage(str(tmp_path / "r.db"))
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    _, _, end = period_bounds("2026")
    facts_assess(_collector(ruleset), ledger, "2026")
    key = facts_key(_collector(ruleset))
    assert len(list(storage.facts_rows(end, key))) > 100
    ReadModel(ledger).rebuild()
    assert list(storage.facts_rows(end, key)) == []
    storage.close()


def test_backends_without_a_read_model_stream(demo: Simulation, ruleset: RuleSet) -> None:
    storage = MemoryStorage()
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    streamed, _ = stream_assess(_collector(ruleset), ledger, "2026")
    cached = facts_assess(_collector(ruleset), ledger, "2026")
    assert _texts(ruleset, cached) == _texts(ruleset, streamed)


def test_a_stale_row_is_computed_again(demo: Simulation, ruleset: RuleSet, tmp_path: Path) -> None:
    """A cached row whose ticket has a later event is not summed: its facts are computed from
    the ticket's events and the row replaced."""
    storage = SqliteStorage(str(tmp_path / "s.db"))
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    _, _, end = period_bounds("2026")
    collector = _collector(ruleset)
    facts_assess(collector, ledger, "2026")
    key = facts_key(collector)
    rows = list(storage.facts_rows(end, key))
    assert {kind for kind, _, _, _ in rows} == {"t", "e"}
    for kind, subject, seq, body in [r for r in rows if r[0] == "t"][:1] + [
        r for r in rows if r[0] == "e"
    ][:1]:
        # a row from earlier events never replaces one from later events
        storage.put_facts(end, key, [(kind, subject, seq - 1, b"[]")])
        assert (kind, subject, seq, body) in list(storage.facts_rows(end, key))
        # pretend the row was computed before the last event, with other facts
        with storage._write() as conn:
            conn.execute(
                "UPDATE rm_facts SET last_seq = ?, body = ? WHERE kind = ? AND subject = ?",
                (seq - 1, b"[]", kind, subject),
            )
        _, stats = facts_tallies(collector, ledger, end)
        assert stats.computed == 1
        assert (kind, subject, seq, body) in list(storage.facts_rows(end, key))
    storage.close()


def test_cached_rows_are_read_page_by_page(
    demo: Simulation, ruleset: RuleSet, rm_storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = rm_storage
    """Reading the rows a page at a time (keyset pagination) yields every row once."""
    from kernel.storage import readmodel_sql

    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events())[:3000])
    _, _, end = period_bounds("2026-Q1")
    facts_assess(_collector(ruleset), ledger, "2026-Q1")
    key = facts_key(_collector(ruleset))
    whole = list(storage.facts_rows(end, key))
    assert len(whole) > 50
    monkeypatch.setattr(readmodel_sql, "FACTS_PAGE_ROWS", 7)
    paged = list(storage.facts_rows(end, key))
    assert paged == whole
    assert len({(kind, subject) for kind, subject, _, _ in paged}) == len(paged)


def test_a_store_that_refuses_writes_is_still_read(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache is optional: when it cannot be written the report is computed all the same."""
    import sqlite3

    storage = SqliteStorage(str(tmp_path / "ro.db"))
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events())[:4000])

    def refuse(*_: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(storage, "put_facts", refuse)
    _, _, end = period_bounds("2026-Q1")
    _, stats = facts_tallies(_collector(ruleset), ledger, end)
    assert stats.computed > 0 and stats.stored == 0
    streamed, _ = stream_assess(_collector(ruleset), ledger, "2026-Q1")
    cached = facts_assess(_collector(ruleset), ledger, "2026-Q1")
    assert _texts(ruleset, cached) == _texts(ruleset, streamed)
    storage.close()
