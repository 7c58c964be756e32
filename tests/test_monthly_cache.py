"""The monthly report from the read model and the facts cache equals the one built from a
projection of the whole ledger, byte for byte.

On the demo ledger, in SQLite and PostgreSQL (``$HUHANG_PG_DSN``; skipped without a server):
every month of the year, cold (every ticket's part computed and cached), warm (every part read
from the cache), after appending the rest of the ledger (changed tickets computed again, the
others read), and the agenda; the cached form of every part decodes to the part; the report
never projects the whole ledger on such a backend.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kernel.assessment.facts import facts_key, facts_tallies, ledger_tallies
from kernel.assessment.monthly_cache import MONTH, cached_monthly_report, monthly_with_stats
from kernel.assessment.monthly_parts import decode, encode, ticket_month
from kernel.assessment.reports import Report, agenda_report, emit_report, monthly_report
from kernel.assessment.scoring import FactCollector
from kernel.clocks.compute import ClockEvaluator
from kernel.clocks.monthly import month_bounds
from kernel.demo.generate import Simulation, generate
from kernel.errors import CalendarYearMissing
from kernel.ledger.ledger import Ledger
from kernel.ledger.readmodel import ReadModel
from kernel.rules.model import RuleSet
from kernel.storage.contract import Storage
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SqliteStorage
from tests.test_assessment_facts import _collector, _insert

MONTHS = tuple(f"2026-{m:02d}" for m in range(1, 13))


@pytest.fixture(scope="module")
def demo() -> Simulation:
    return generate()


def _evaluator(ruleset: RuleSet) -> ClockEvaluator:
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    return ClockEvaluator(ruleset.deadlines, ruleset.calendar)


def _texts(report: Report) -> list[str]:
    return [str(emit_report(report, fmt, None)) for fmt in ("text", "md", "json")]


def _replayed(ruleset: RuleSet, ledger: Ledger, month: str) -> Report:
    projector, events = ledger.project_with_events()
    return monthly_report(month, ruleset, projector, events, _evaluator(ruleset))


def _same(ruleset: RuleSet, ledger: Ledger, months: tuple[str, ...] = MONTHS) -> dict[str, int]:
    """Every month from the cache equals the replayed report; the rows compared per table."""
    rows: dict[str, int] = {}
    projector, events = ledger.project_with_events()
    for month in months:
        expected = monthly_report(month, ruleset, projector, events, _evaluator(ruleset))
        got = cached_monthly_report(ledger, ruleset, _evaluator(ruleset), month)
        assert _texts(got) == _texts(expected), month
        assert _texts(agenda_report(got)) == _texts(agenda_report(expected)), month
        for table in expected.tables():
            rows[table.title] = rows.get(table.title, 0) + len(table.rows)
    return rows


def test_cached_monthly_reports_equal_the_replayed_ones(
    demo: Simulation, ruleset: RuleSet, rm_storage: Storage
) -> None:
    storage = rm_storage
    ledger = Ledger(storage, ruleset.reference)
    events = list(demo.ledger.events())
    cut = len(events) * 3 // 4
    _insert(storage, events[:cut])

    rows = _same(ruleset, ledger)  # cold: every part computed and cached
    # the comparison covered every kind of row the report has
    for title in ("问题分类", "通报名单", "超期问题", "调度会议程", "未联系企业", "办理过程记录"):
        assert rows[title] > 0, title
    _, warm = monthly_with_stats(ledger, ruleset, _evaluator(ruleset), "2026-09")
    assert warm is not None and warm.computed == 0 and warm.cached > 100

    _insert(storage, events[cut:])  # new tickets, and later events of cached ones
    _, after = monthly_with_stats(ledger, ruleset, _evaluator(ruleset), "2026-09", store=False)
    touched = {e.ticket_id for e in events[cut:] if e.ticket_id is not None}
    assert after is not None and after.computed == len(touched)
    assert 0 < after.cached < warm.cached
    _same(ruleset, ledger, ("2026-02", "2026-09", "2026-11", "2026-12"))


def test_every_part_survives_its_cached_form(demo: Simulation, ruleset: RuleSet) -> None:
    evaluator = _evaluator(ruleset)
    states = list(demo.projector.tickets.values())
    agenda = overdue = notices = 0
    for month in ("2026-04", "2026-09", "2026-12"):
        first, last = month_bounds(month)
        for order, state in enumerate(states):
            part = ticket_month(state, month, first, last, evaluator, order)
            assert decode(part.ticket_id, encode(part)) == part
            agenda += part.agenda is not None
            overdue += len(part.overdue)
            notices += len(part.notices)
    assert agenda and overdue and notices


def test_the_report_reads_no_whole_projection(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a read model the report reads the tickets' own events: a whole projection fails."""
    storage = SqliteStorage(str(tmp_path / "n.db"))
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    expected = _texts(_replayed(ruleset, ledger, "2026-10"))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the whole ledger was projected")

    monkeypatch.setattr(Ledger, "project_with_events", refuse)
    monkeypatch.setattr(Ledger, "project", refuse)
    assert (
        _texts(cached_monthly_report(ledger, ruleset, _evaluator(ruleset), "2026-10")) == expected
    )
    storage.close()


def test_backends_without_a_read_model_project(demo: Simulation, ruleset: RuleSet) -> None:
    storage = MemoryStorage()
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    report, stats = monthly_with_stats(ledger, ruleset, _evaluator(ruleset), "2026-07")
    assert stats is None
    assert _texts(report) == _texts(_replayed(ruleset, ledger, "2026-07"))


def test_a_month_the_calendar_cannot_decide_fails_alike(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path
) -> None:
    """A month past the calendar's data is refused with the same message, and nothing is
    cached for it."""
    storage = SqliteStorage(str(tmp_path / "c.db"))
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    assert ruleset.calendar is not None
    month = f"{max(ruleset.calendar.years) + 1}-03"
    with pytest.raises(CalendarYearMissing) as replayed:
        _replayed(ruleset, ledger, month)
    with pytest.raises(CalendarYearMissing) as cached:
        cached_monthly_report(ledger, ruleset, _evaluator(ruleset), month)
    assert str(cached.value) == str(replayed.value)
    key = facts_key(_collector(ruleset))
    assert list(storage.facts_rows(month_bounds(month)[1], key, (MONTH,))) == []
    storage.close()


def test_monthly_parts_and_assessment_facts_share_the_cache(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path
) -> None:
    """Parts are rows of kind ``m`` beside the assessment's rows of the same day: each reader
    reads its own kinds, and ``huhang ledger rebuild`` clears both."""
    storage = SqliteStorage(str(tmp_path / "s.db"))
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    end = month_bounds("2026-06")[1]
    collector = _collector(ruleset)
    key = facts_key(collector)
    cached_monthly_report(ledger, ruleset, _evaluator(ruleset), "2026-06")
    tallies, stats = facts_tallies(collector, ledger, end)
    assert stats.cached == 0 and stats.computed > 0  # the parts are no assessment facts
    assert {k for k, _, _, _ in storage.facts_rows(end, key)} == {"t", "e"}
    parts = list(storage.facts_rows(end, key, (MONTH,)))
    assert parts and {k for k, _, _, _ in parts} == {MONTH}
    _, again = monthly_with_stats(ledger, ruleset, _evaluator(ruleset), "2026-06")
    assert again is not None and again.computed == 0
    assert tallies == facts_tallies(collector, ledger, end)[0]
    ReadModel(ledger).rebuild()
    assert list(storage.facts_rows(end, key, ("t", "e", MONTH))) == []
    storage.close()


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_ledger_tallies_equal_a_whole_projection(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path, backend: str
) -> None:
    """The console's closure chart: the facts cache (or one streaming pass) gives the tallies
    a projection of the whole ledger gives."""
    storage: Storage = (
        SqliteStorage(str(tmp_path / "t.db")) if backend == "sqlite" else MemoryStorage()
    )
    ledger = Ledger(storage, ruleset.reference)
    _insert(storage, list(demo.ledger.events()))
    collector: FactCollector = _collector(ruleset)
    for day in (dt.date(2026, 5, 31), dt.date(2026, 11, 30)):
        expected = collector.tallies(ledger.project(), list(ledger.events()), day)
        got = ledger_tallies(_collector(ruleset), ledger, day)
        assert {k: (t.due, t.on_time) for k, t in got.items()} == {
            k: (t.due, t.on_time) for k, t in expected.items()
        }
        assert got == expected
    storage.close()


def test_events_of_types_by_date_and_bound(rm_storage: Storage) -> None:
    """``events_of_types``: the events of the types, up to the bound, dated within the days
    given (both ends included), in ledger order."""
    from kernel.testing.storage_contract import append, make_event

    days = [dt.date(2026, 3, 31), dt.date(2026, 4, 1), dt.date(2026, 4, 30), dt.date(2026, 5, 1)]
    made = [
        make_event(f"E-{n}", kind, ticket_id=None, date=day)
        for n, (kind, day) in enumerate(
            (kind, day) for day in days for kind in ("contact.recorded", "enterprise.changed")
        )
    ]
    storage = rm_storage
    append(storage, *made)
    april = storage.events_of_types(
        ("contact.recorded",), 99, first=dt.date(2026, 4, 1), last=dt.date(2026, 4, 30)
    )
    assert [e.event_id for e in april] == ["E-2", "E-4"]
    both = storage.events_of_types(("enterprise.changed", "contact.recorded"), 5)
    assert [e.event_id for e in both] == ["E-0", "E-1", "E-2", "E-3", "E-4"]
    assert storage.events_of_types(("ticket.collected",), 99) == []
    assert [
        e.event_id for e in storage.events_of_types(("enterprise.changed",), 99, first=days[3])
    ] == ["E-7"]


def test_prefill_fills_what_the_reports_read(
    demo: Simulation, ruleset: RuleSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``huhang report prefill --as-of D``: afterwards the year's assessment and the reports
    of D's month and the month before compute nothing; a second run reuses everything; a
    store without a read model says there is nothing to fill."""
    from kernel.cli.main import main
    from tests.conftest import RULES

    path = tmp_path / "p.db"
    storage = SqliteStorage(str(path))
    _insert(storage, list(demo.ledger.events()))
    storage.close()
    argv = ["report", "prefill", "--as-of", "2026-10-09", "--db", str(path), "--rules", str(RULES)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "2026 年考核：沿用缓存 0 项" in first and "2026-09 月度通报：沿用缓存 0 件" in first
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert "重算 0 项" in second and second.count("重算 0 件") == 2
    storage = SqliteStorage(str(path))
    ledger = Ledger(storage, ruleset.reference)
    for month in ("2026-09", "2026-10"):
        _, stats = monthly_with_stats(ledger, ruleset, _evaluator(ruleset), month, store=False)
        assert stats is not None and stats.computed == 0 and stats.cached > 100
    _, facts = facts_tallies(_collector(ruleset), ledger, dt.date(2026, 12, 31), store=False)
    assert facts.computed == 0
    storage.close()

    jsonl = tmp_path / "l.jsonl"
    jsonl.write_text("", encoding="utf-8")
    assert main(["report", "prefill", "--db", str(jsonl), "--rules", str(RULES)]) == 0
    assert "无需预先计算" in capsys.readouterr().out
    assert jsonl.read_text(encoding="utf-8") == ""
