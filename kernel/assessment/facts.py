"""The assessment from cached facts: a report reads only what changed since the last one.

Every fact an assessment as of a day ``H`` counts comes from one of three places:

* a **ticket** -- its clocks' closure counts and breaches, its ratings, the deductions of every
  event naming it. They depend on the ticket's own events, its enterprise at its first event,
  ``H`` and the rules;
* an **enterprise** -- its missed monthly contacts and the deductions of its contact and
  registration events naming no ticket. They depend on its ``enterprise.*`` and contact events,
  ``H`` and the rules;
* the few other events naming no ticket (escalations, 通报, spot checks), read every time.

The ledger only grows, so a ticket's or an enterprise's facts stay right until it gets another
event. The SQLite and PostgreSQL backends cache them in ``rm_facts`` -- per-unit, per-month
counts and deductions, one row per ticket or enterprise and ``H`` -- with the last event seq
they were computed from and a digest of the rules, calendar and units (:func:`facts_key`).

A report for a period ending ``H`` (:func:`facts_assess`) then

1. reads every ticket's and enterprise's last event seq (indexed ``GROUP BY`` queries) and the
   cached rows of ``H``;
2. sums the rows still at their last seq; computes the others (new, changed, never computed)
   from their own events only and caches them afterwards in short write transactions;
3. adds the facts of the other events naming no ticket and scores the period as before
   (:func:`kernel.assessment.scoring.score_period`).

Each deduction keeps the position the streaming pass gives it (``(0, first seq)`` for a
ticket's clocks, ``(1, seq)`` for an event, the monthly duties last by duty and enterprise), so
the deductions come out in the same order and the report is byte for byte the streaming one
(``tests/test_assessment_facts.py``). The cache is only a cache: ``huhang ledger rebuild``
clears it, a rules or calendar change changes the key (old rows are ignored, then dropped by the
next write), and a backend without a read model streams the ledger instead
(:func:`kernel.assessment.stream.stream_assess`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

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
from kernel.assessment.stream import (
    CONTACT,
    Position,
    PositionedTallies,
    rank_deductions,
    stream_assess,
    stream_tallies,
)
from kernel.calendar.workdays import WorkCalendar
from kernel.ledger.events import ENTERPRISE_EVENTS, TICKET_EVENTS, Event
from kernel.ledger.eventtypes import EVENT_TYPES
from kernel.ledger.ledger import Ledger, Projector, paused_gc
from kernel.ledger.projection import Enterprise, TicketState
from kernel.rules.deadlines import DeadlineRules
from kernel.rules.reference import Reference
from kernel.rules.scoring import DeductionRule, ScoringHistory

log = logging.getLogger("huhang.assessment.facts")

#: bump when what a cached row holds or how it is computed changes (old rows are then ignored)
FACTS_FORMAT = 1
#: tickets or enterprises computed per query
BATCH = 500
#: computed rows cached per write transaction (a first report over a large ledger writes as it
#: goes instead of holding every row)
STORE_CHUNK = 10_000
TICKET, ENTERPRISE = "t", "e"
#: the events an enterprise's facts come from
ENTERPRISE_TYPES = (CONTACT, *sorted(ENTERPRISE_EVENTS))
#: the other events that may name no ticket (read by every report)
LOOSE_TYPES = tuple(
    sorted(t for t in EVENT_TYPES if t not in TICKET_EVENTS and t not in ENTERPRISE_TYPES)
)

Row = tuple[str, str, int, bytes]


@dataclass(frozen=True)
class FactsStats:
    """What one report read: rows summed from the cache, rows computed, rows written, and the
    loose events (naming no ticket or enterprise group) read."""

    cached: int
    computed: int
    stored: int
    loose_events: int


def facts_key(collector: FactCollector) -> str:
    """A digest of everything cached facts depend on besides their events and the day: the
    scoring history, the deadline rules, the calendar and the units and categories."""
    return rules_key(
        collector.history, collector.deadlines, collector.calendar, collector.reference
    )


def rules_key(
    history: ScoringHistory, deadlines: DeadlineRules, calendar: WorkCalendar, reference: Reference
) -> str:
    """:func:`facts_key` of the rules and calendar themselves (no collector needed: the
    monthly report's parts are cached under the same key)."""
    text = repr(
        (
            FACTS_FORMAT,
            history,
            deadlines,
            reference.units,
            reference.categories,
            reference.own_level,
        )
    )
    digest = hashlib.sha256(text.encode("utf-8"))
    digest.update(calendar.fingerprint().encode("ascii"))
    return digest.hexdigest()


class _Recorder(PositionedTallies):
    """The facts of one subject, with their positions, in the cached form (:meth:`body`)."""

    def body(self, ticket_id: str | None) -> bytes:
        """The cached form: per unit and month the counts and the deductions, each with its
        position (``ticket_id``: the one every deduction names)."""
        rows = []
        for (unit, month), entry in self.out.items():
            positions = self.order.get((unit, month), [])
            deductions = []
            for d, position in zip(entry.deductions, positions, strict=True):
                if d.ticket_id != ticket_id or d.unit != unit:
                    raise ValueError(f"a deduction of {ticket_id or unit} names another owner")
                deductions.append(
                    [
                        list(position),
                        d.rule,
                        d.version,
                        d.day.isoformat(),
                        d.source,
                        list(d.events),
                        d.provisional,
                    ]
                )
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


def ticket_facts(
    collector: FactCollector,
    ticket_id: str,
    state: TicketState | None,
    events: Iterable[Event],
    as_of: dt.date,
) -> bytes:
    """The cached form of one ticket's facts as of ``as_of``: its clocks and ratings
    (``state``; None for events naming a ticket never collected) and the facts of ``events``,
    every event naming it in ledger order."""
    rec = _Recorder()
    if state is not None:
        collector.ticket_facts(state, as_of, rec.tally)
        rec.settle((0, int(state.events[0].seq or 0)))
    for event in events:
        if event.date <= as_of:
            collector.event_facts(event, state, rec.tally, as_of)
            rec.settle((1, int(event.seq or 0)))
    return rec.body(ticket_id)


def enterprise_facts(
    collector: FactCollector,
    code: str,
    company: Enterprise | None,
    events: Iterable[Event],
    as_of: dt.date,
) -> bytes:
    """The cached form of one enterprise's facts as of ``as_of``: the facts of its events
    (``events``: its enterprise.* and contact events, in ledger order) naming no ticket, and
    its missed monthly contacts (``company``: its state; None if never registered)."""
    rec = _Recorder()
    contacts = []
    for event in events:
        if event.type == CONTACT:
            contacts.append(event)
        if event.ticket_id is None and event.date <= as_of:
            collector.event_facts(event, None, rec.tally, as_of)
            rec.settle((1, int(event.seq or 0)))
    if company is not None:
        # the streaming pass adds every enterprise's missed months duty by duty, enterprises
        # by credit code: one position per duty and enterprise keeps that order
        collector.monthly_facts(
            [company], contacts, as_of, rec.tally, lambda duty: rec.settle((2, duty, code))
        )
    return rec.body(None)


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

    def add(self, ticket_id: str | None, body: bytes) -> None:
        """Add one cached row (``ticket_id``: the ticket every deduction names, if any)."""
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
            for position, rule_id, version, day_text, source, events, provisional in deductions:
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
                order.append(tuple(position))

    def add_live(self, rec: _Recorder) -> None:
        for key, part in rec.out.items():
            self.out[key].add(part)
            self.order[key].extend(rec.order.get(key, []))

    def tallies(self) -> Tallies:
        rank_deductions(self.out, self.order)
        return dict(self.out)


class FactsWriter:
    """Computed rows, cached in chunks of :data:`STORE_CHUNK` (when ``store``)."""

    def __init__(self, ledger: Ledger, as_of: dt.date, key: str, store: bool) -> None:
        self.storage = ledger.storage
        self.as_of, self.key, self.store = as_of, key, store
        self.rows: list[Row] = []
        self.written = 0
        self.failed = False

    def add(self, row: Row) -> None:
        if self.store and not self.failed:
            self.rows.append(row)
            if len(self.rows) >= STORE_CHUNK:
                self.flush()

    def flush(self) -> None:
        """Cache the rows in one short write transaction (a store this process cannot write
        is still read: the cache is optional, the report is not)."""
        if not self.rows:
            return
        try:
            self.storage.put_facts(self.as_of, self.key, self.rows)
            self.written += len(self.rows)
        except Exception as exc:
            log.warning("考核事实缓存未写入 %s：%s", self.storage.url, exc)
            self.failed = True
        self.rows = []


def _stale(last: dict[str, int], summed: set[str]) -> list[str]:
    """The subjects whose cached row was missing or behind, sorted."""
    return sorted(subject for subject in last if subject not in summed)


def facts_tallies(
    collector: FactCollector, ledger: Ledger, as_of: dt.date, *, store: bool = True
) -> tuple[Tallies, FactsStats]:
    """:func:`kernel.assessment.stream.stream_tallies` of the whole ledger as of ``as_of``,
    from the facts cache (``store``: cache what had to be computed)."""
    storage = ledger.storage
    key = facts_key(collector)
    total = _Sum(collector)
    writer = FactsWriter(ledger, as_of, key, store)
    with paused_gc():
        bound, tickets = storage.ticket_last_seqs()
        enterprises = storage.enterprise_last_seqs(ENTERPRISE_TYPES, bound)
        # sum the rows still at their subject's last seq as they are read (one page of
        # bodies held at a time); the others are computed below
        summed: dict[str, set[str]] = {TICKET: set(), ENTERPRISE: set()}
        last = {TICKET: tickets, ENTERPRISE: enterprises}
        for kind, subject, seq, body in storage.facts_rows(as_of, key, (TICKET, ENTERPRISE)):
            if last[kind].get(subject) == seq:
                total.add(subject if kind == TICKET else None, body)
                summed[kind].add(subject)
        stale_tickets = _stale(tickets, summed[TICKET])
        stale_enterprises = _stale(enterprises, summed[ENTERPRISE])
        for start in range(0, len(stale_tickets), BATCH):
            part = stale_tickets[start : start + BATCH]
            events = [e for e in storage.events_of_tickets(part) if (e.seq or 0) <= bound]
            projector = Projector(collector.reference).feed_all(events)
            naming: dict[str, list[Event]] = defaultdict(list)
            for event in events:
                if event.ticket_id is not None:
                    naming[event.ticket_id].append(event)
            for ticket_id in part:
                state = projector.tickets.get(ticket_id)
                body = ticket_facts(collector, ticket_id, state, naming[ticket_id], as_of)
                total.add(ticket_id, body)
                writer.add((TICKET, ticket_id, tickets[ticket_id], body))
        for start in range(0, len(stale_enterprises), BATCH):
            part = stale_enterprises[start : start + BATCH]
            events = storage.events_of_enterprises(part, ENTERPRISE_TYPES, bound)
            projector = Projector(collector.reference).feed_all(events)
            of: dict[str, list[Event]] = defaultdict(list)
            for event in events:
                of[str(event.enterprise)].append(event)
            for code in part:
                company = projector.enterprises.get(code)
                body = enterprise_facts(collector, code, company, of[code], as_of)
                total.add(None, body)
                writer.add((ENTERPRISE, code, enterprises[code], body))
        loose = storage.unticketed_events(LOOSE_TYPES, bound)
        rec = _Recorder()
        for event in loose:
            if event.date <= as_of:
                collector.event_facts(event, None, rec.tally, as_of)
                rec.settle((1, int(event.seq or 0)))
        total.add_live(rec)
        tallies = total.tallies()
    writer.flush()
    computed = len(stale_tickets) + len(stale_enterprises)
    from_cache = len(tickets) + len(enterprises) - computed
    return tallies, FactsStats(from_cache, computed, writer.written, len(loose))


def ledger_tallies(
    collector: FactCollector, ledger: Ledger, as_of: dt.date, *, store: bool = True
) -> Tallies:
    """Every fact dated on or before ``as_of`` summed per unit and month (what
    ``FactCollector.tallies`` gives over a whole projection): from the facts cache on a backend
    with a read model (``store``: cache what had to be computed), else in one streaming
    pass."""
    storage = ledger.storage
    if storage.has_read_model:
        return facts_tallies(collector, ledger, as_of, store=store)[0]
    return stream_tallies(collector, ledger.events(), storage.ticket_last_seqs(), as_of)[0]


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
