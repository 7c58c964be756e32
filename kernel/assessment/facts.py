"""The assessment from cached per-ticket facts: a report reads only what changed since the last.

Every fact a ticket contributes to an assessment as of a day ``H`` (its clocks' closure counts
and breaches, its ratings, the deductions of the events naming it) depends on the ticket's own
events, its enterprise at its first event, ``H`` and the rules (scoring, deadlines, calendar,
units). The ledger only grows, so those facts stay right until the ticket gets another event:
the SQLite and PostgreSQL backends cache them in ``rm_facts``, one row per ticket and ``H``,
with the ticket's last event seq and a digest of the rules (:func:`facts_key`).

A report for a period ending ``H`` (:func:`facts_assess`) then

1. reads every ticket's last event seq (one indexed ``GROUP BY``) and the cached rows of ``H``;
2. sums the rows still at their ticket's last seq; projects the other tickets (new, changed or
   never computed) from their own events only, computes their facts and caches them afterwards
   in one short write transaction;
3. computes the facts of the events naming no ticket and the monthly contact duties from
   those events alone (enterprises and contacts), as the streaming pass does;
4. scores the period as before (:func:`kernel.assessment.scoring.score_period`).

Each deduction keeps the position the streaming pass gives it (``(0, first seq)`` for a
ticket's clocks, ``(1, seq)`` for an event, ``(2, 0)`` for the monthly duties), so the
deductions come out in the same order and the report is byte for byte the streaming one
(``tests/test_assessment_facts.py``). The cache is only a cache: ``huhang ledger rebuild``
clears it, a rules or calendar change changes the key (the old rows are ignored, then dropped
by the next write), and a backend without a read model streams the ledger instead
(:func:`kernel.assessment.stream.stream_assess`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from kernel.assessment.scoring import (
    Assessment,
    Deduction,
    FactCollector,
    Tallies,
    Tally,
    period_bounds,
    score_period,
)
from kernel.assessment.stream import CONTACT, stream_assess
from kernel.clocks.monthly import month_label
from kernel.ledger.events import ENTERPRISE_EVENTS, Event
from kernel.ledger.ledger import Ledger, Projector, paused_gc
from kernel.rules.scoring import DeductionRule

log = logging.getLogger("huhang.assessment.facts")

#: bump when what a cached row holds or how it is computed changes (old rows are then ignored)
FACTS_FORMAT = 1
#: tickets projected per query when their facts are computed
BATCH = 500

Position = tuple[int, int]


@dataclass(frozen=True)
class FactsStats:
    """What one report read: tickets summed from the cache, tickets computed (and cached)."""

    cached: int
    computed: int
    stored: int
    ledger_wide_events: int


def facts_key(collector: FactCollector) -> str:
    """A digest of everything a ticket's facts depend on besides its events and the day:
    the scoring history, the deadline rules, the calendar and the units and categories."""
    reference = collector.reference
    text = repr(
        (
            FACTS_FORMAT,
            collector.history,
            collector.deadlines,
            reference.units,
            reference.categories,
            reference.own_level,
        )
    )
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(collector.calendar.fingerprint().encode("ascii"))
    return digest.hexdigest()


class _Recorder:
    """A ``tally`` callback for :class:`FactCollector` that also records each deduction's
    position (as :func:`kernel.assessment.stream.stream_tallies` does)."""

    def __init__(self) -> None:
        self.out: dict[tuple[str, str], Tally] = {}
        self.order: dict[tuple[str, str], list[Position]] = defaultdict(list)
        self._touched: list[tuple[str, str]] = []

    def tally(self, unit: str, day: dt.date) -> Tally:
        key = (unit, month_label(day))
        self._touched.append(key)
        entry = self.out.get(key)
        if entry is None:
            entry = self.out[key] = Tally()
        return entry

    def settle(self, position: Position) -> None:
        for key in self._touched:
            keys = self.order[key]
            keys.extend([position] * (len(self.out[key].deductions) - len(keys)))
        self._touched.clear()


def ticket_facts(
    collector: FactCollector,
    ticket_id: str,
    state: Any,
    events: Iterable[Event],
    as_of: dt.date,
) -> bytes:
    """The cached form of one ticket's facts as of ``as_of``: its clocks and ratings
    (``state``, None for events naming a ticket that was never collected) and the facts of
    ``events``, every event naming it in ledger order."""
    rec = _Recorder()
    if state is not None:
        collector.ticket_facts(state, as_of, rec.tally)
        rec.settle((0, int(state.events[0].seq or 0)))
    for event in events:
        if event.date <= as_of:
            collector.event_facts(event, state, rec.tally, as_of)
            rec.settle((1, int(event.seq or 0)))
    rows = []
    for (unit, month), entry in rec.out.items():
        deductions = [
            [
                *position,
                d.rule,
                d.version,
                d.day.isoformat(),
                d.source,
                list(d.events),
                d.provisional,
            ]
            for d, position in zip(entry.deductions, rec.order.get((unit, month), []), strict=True)
        ]
        for d in entry.deductions:
            if d.ticket_id != ticket_id or d.unit != unit:
                raise ValueError(f"deduction of {ticket_id} not keyed by its ticket and unit")
        counts = {k: v for k, v in entry.counts.items() if v}
        rows.append(
            [
                unit,
                month,
                entry.due,
                entry.on_time,
                entry.rated,
                entry.satisfied,
                counts,
                deductions,
            ]
        )
    return orjson.dumps(rows)


class _Sum:
    """Tallies summed from cached rows and live facts, each deduction with its position."""

    def __init__(self, collector: FactCollector) -> None:
        self.out: dict[tuple[str, str], Tally] = defaultdict(Tally)
        self.order: dict[tuple[str, str], list[Position]] = defaultdict(list)
        self.rules: dict[tuple[int, str], DeductionRule] = {}
        for version in collector.history.versions:
            for rule in version.deductions:
                self.rules[(version.version, rule.id)] = rule
        self._days: dict[str, dt.date] = {}

    def add_row(self, ticket_id: str, body: bytes) -> None:
        rules, days = self.rules, self._days
        for unit, month, due, on_time, rated, satisfied, counts, deductions in orjson.loads(body):
            entry = self.out[(unit, month)]
            entry.due += due
            entry.on_time += on_time
            entry.rated += rated
            entry.satisfied += satisfied
            for name, value in counts.items():
                entry.counts[name] += value
            if not deductions:
                continue
            order = self.order[(unit, month)]
            for pos0, pos1, rule_id, version, day_text, source, events, provisional in deductions:
                rule = rules[(version, rule_id)]
                day = days.get(day_text)
                if day is None:
                    day = days[day_text] = dt.date.fromisoformat(day_text)
                entry.deductions.append(
                    Deduction(
                        unit=unit,
                        rule=rule_id,
                        title=rule.title,
                        clause=rule.clause,
                        points=rule.points,
                        day=day,
                        version=version,
                        indicator=rule.indicator,
                        ticket_id=ticket_id,
                        source=source,
                        events=tuple(events),
                        provisional=provisional,
                    )
                )
                order.append((pos0, pos1))

    def add_live(self, rec: _Recorder) -> None:
        for key, part in rec.out.items():
            self.out[key].add(part)
            self.order[key].extend(rec.order.get(key, []))

    def tallies(self) -> Tallies:
        for key, entry in self.out.items():
            if len(entry.deductions) > 1:
                keys = self.order[key]
                ranked = sorted(range(len(keys)), key=keys.__getitem__)
                entry.deductions = [entry.deductions[i] for i in ranked]
        return dict(self.out)


def _ledger_wide(
    collector: FactCollector, events: list[Event], as_of: dt.date, total: _Sum
) -> None:
    """The facts of the events naming no ticket and the monthly duties (enterprises from their
    events, contacts from every contact event)."""
    rec = _Recorder()
    projector = Projector(collector.reference)
    contacts: list[Event] = []
    for event in events:
        if event.type in ENTERPRISE_EVENTS:
            projector.feed(event)
        if event.type == CONTACT:
            contacts.append(event)
        if event.ticket_id is None and event.date <= as_of:
            collector.event_facts(event, None, rec.tally, as_of)
            rec.settle((1, int(event.seq or 0)))
    collector.monthly_facts(list(projector.enterprises.values()), contacts, as_of, rec.tally)
    rec.settle((2, 0))
    total.add_live(rec)


def facts_tallies(
    collector: FactCollector, ledger: Ledger, as_of: dt.date, *, store: bool = True
) -> tuple[Tallies, FactsStats]:
    """:func:`kernel.assessment.stream.stream_tallies` of the whole ledger as of ``as_of``,
    from the facts cache (``store``: cache what had to be computed)."""
    storage = ledger.storage
    key = facts_key(collector)
    total = _Sum(collector)
    fresh: list[tuple[str, int, bytes]] = []
    with paused_gc():
        bound, last = storage.ticket_last_seqs()
        stale: list[str] = []
        cached = 0
        stored = {t: (seq, body) for t, seq, body in storage.facts_rows(as_of, key)}
        for ticket_id, seq in last.items():
            row = stored.pop(ticket_id, None)
            if row is not None and row[0] == seq:
                total.add_row(ticket_id, row[1])
                cached += 1
            else:
                stale.append(ticket_id)
        del stored
        stale.sort()
        for start in range(0, len(stale), BATCH):
            part = stale[start : start + BATCH]
            events = [e for e in storage.events_of_tickets(part) if (e.seq or 0) <= bound]
            projector = Projector(collector.reference).feed_all(events)
            naming: dict[str, list[Event]] = defaultdict(list)
            for event in events:
                if event.ticket_id is not None:
                    naming[event.ticket_id].append(event)
            for ticket_id in part:
                body = ticket_facts(
                    collector,
                    ticket_id,
                    projector.tickets.get(ticket_id),
                    naming[ticket_id],
                    as_of,
                )
                total.add_row(ticket_id, body)
                fresh.append((ticket_id, last[ticket_id], body))
        wide = storage.ledger_wide_events((CONTACT, *sorted(ENTERPRISE_EVENTS)), bound)
        _ledger_wide(collector, wide, as_of, total)
        tallies = total.tallies()
    written = 0
    if store and fresh:
        try:
            storage.put_facts(as_of, key, fresh)
            written = len(fresh)
        except Exception as exc:  # a cache: a store this process cannot write is still read
            log.warning("考核事实缓存未写入 %s：%s", storage.url, exc)
    stats = FactsStats(cached, len(stale), written, len(wide))
    return tallies, stats


def facts_assess(
    collector: FactCollector, ledger: Ledger, period: str, *, store: bool = True
) -> Assessment:
    """:func:`kernel.assessment.scoring.assess` for ``period``: from the facts cache on a
    backend with a read model, else in one streaming pass."""
    if not ledger.storage.has_read_model:
        return stream_assess(collector, ledger, period)[0]
    label, start, end = period_bounds(period)
    tallies, _ = facts_tallies(collector, ledger, end, store=store)
    return score_period(label, start, end, tallies, collector.history, collector.reference)
