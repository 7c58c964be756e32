"""The assessment in one streaming pass over the ledger (rebuilds, impact analysis, benchmarks).

:func:`kernel.assessment.scoring.assess` takes a projector of the whole ledger and the list of
every event, so every ticket state -- each holding all its events -- is alive at once: 1.9 GB
at 10⁶ events. Here each ticket is finished at its last stored event: its clocks are evaluated
once, its facts and the facts of every event naming it are tallied, and the state is dropped.
What stays alive is the tickets still in flight, the enterprises and the contact events the
monthly duties count. The facts are the same ones, so the tallies and the scores are equal
(``tests/test_assessment_stream.py`` compares both paths on the demo ledger).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kernel.assessment.scoring import (
    Assessment,
    FactCollector,
    Tallies,
    Tally,
    period_bounds,
    score_period,
)
from kernel.clocks.monthly import month_label
from kernel.ledger.events import Event
from kernel.ledger.ledger import Ledger, Projector, paused_gc

CONTACT = "contact.recorded"


#: where a deduction stands in :func:`kernel.assessment.scoring.assess`'s order (see
#: :func:`stream_tallies`)
Position = tuple[Any, ...]


class PositionedTallies:
    """A ``tally`` callback for :class:`FactCollector` that also records the position of each
    deduction added since the last :meth:`settle`."""

    def __init__(self) -> None:
        self.out: dict[tuple[str, str], Tally] = {}
        self.order: dict[tuple[str, str], list[Position]] = defaultdict(list)
        self._touched: list[tuple[str, str]] = []

    def tally(self, unit: str, day: dt.date) -> Tally:
        """The tally of ``unit`` in ``day``'s month."""
        key = (unit, month_label(day))
        self._touched.append(key)
        entry = self.out.get(key)
        if entry is None:
            entry = self.out[key] = Tally()
        return entry

    def settle(self, position: Position) -> None:
        """Give the deductions added since the last call ``position``."""
        for key in self._touched:
            keys = self.order[key]
            keys.extend([position] * (len(self.out[key].deductions) - len(keys)))
        self._touched.clear()


def rank_deductions(
    out: dict[tuple[str, str], Tally], order: dict[tuple[str, str], list[Position]]
) -> None:
    """Put each tally's deductions in the order of their positions (stable among equals)."""
    for key, entry in out.items():
        if len(entry.deductions) > 1:
            keys = order[key]
            ranked = sorted(range(len(keys)), key=keys.__getitem__)
            entry.deductions = [entry.deductions[i] for i in ranked]


@dataclass(frozen=True)
class StreamStats:
    """What one streaming pass read."""

    events: int
    tickets: int
    enterprises: int
    clock_instances: int


def stream_tallies(
    collector: FactCollector,
    events: Iterable[Event],
    last_seqs: tuple[int, dict[str, int]],
    as_of: dt.date,
) -> tuple[Tallies, StreamStats]:
    """Every fact dated on or before ``as_of``, summed per unit and month, from ``events`` in
    ledger order up to the bound of ``last_seqs``
    (:meth:`kernel.storage.contract.Storage.ticket_last_seqs`: the ledger's last seq and each
    ticket's). A ticket whose last event the stream does not reach is finished at the end."""
    bound, last = last_seqs
    # scoring.assess appends deductions ticket by ticket (in the order of their first event),
    # then event by event, then the monthly duties, and the report's stable sort by (day, rule,
    # source) keeps that order among equals: each deduction here gets that position as its key
    positioned = PositionedTallies()
    tally, settle = positioned.tally, positioned.settle

    projector = Projector(collector.reference)
    pending: dict[str, list[Event]] = {}
    contacts: list[Event] = []
    count = tickets = instances = 0

    def finish(ticket_id: str) -> None:
        nonlocal tickets, instances
        state = projector.tickets.pop(ticket_id, None)
        if state is not None:
            tickets += 1
            clocks = collector.evaluator.evaluate(state, as_of)
            instances += len(clocks.instances)
            collector.ticket_facts(state, as_of, tally, clocks)
            settle((0, int(state.events[0].seq or 0)))
        for event in pending.pop(ticket_id):
            if event.date <= as_of:
                collector.event_facts(event, state, tally, as_of)
                settle((1, int(event.seq or 0)))

    with paused_gc():
        for event in events:
            if event.seq is not None and event.seq > bound:
                break  # stored after the bound was read: not in this snapshot
            count += 1
            projector.feed(event)
            ticket_id = event.ticket_id
            if ticket_id is None:
                if event.type == CONTACT:
                    contacts.append(event)
                if event.date <= as_of:
                    collector.event_facts(event, None, tally, as_of)
                    settle((1, int(event.seq or 0)))
                continue
            pending.setdefault(ticket_id, []).append(event)
            if event.type == CONTACT:
                contacts.append(event)
            if event.seq is not None and event.seq >= last.get(ticket_id, 0):
                finish(ticket_id)
        for ticket_id in list(pending):
            finish(ticket_id)
        collector.monthly_facts(list(projector.enterprises.values()), contacts, as_of, tally)
        settle((2, 0))
    rank_deductions(positioned.out, positioned.order)
    stats = StreamStats(count, tickets, len(projector.enterprises), instances)
    return dict(positioned.out), stats


def stream_assess(
    collector: FactCollector, ledger: Ledger, period: str
) -> tuple[Assessment, StreamStats]:
    """:func:`kernel.assessment.scoring.assess` for ``period`` (one pass, not month by month),
    streaming the ledger instead of holding it."""
    label, start, end = period_bounds(period)
    last_seqs = ledger.storage.ticket_last_seqs()
    tallies, stats = stream_tallies(collector, ledger.events(), last_seqs, end)
    assessment = score_period(label, start, end, tallies, collector.history, collector.reference)
    return assessment, stats
