"""The monthly report (月度通报, 调度会议程) without projecting the whole ledger.

The report is every ticket's part (:mod:`kernel.assessment.monthly_parts`) plus the month's
contacts and lifecycle steps and the enterprises as they stand. On the SQLite and PostgreSQL
backends :func:`cached_monthly_report`

1. reads every ticket's last event seq (an indexed ``GROUP BY``) and the parts cached for the
   month in the facts cache (``rm_facts``, kind ``m``, ``horizon`` the month's last day, under
   the same rules digest as the assessment's facts, :func:`kernel.assessment.facts.facts_key`);
2. keeps the parts still at their ticket's last seq, computes the others from their tickets'
   own events only (in batches) and caches them;
3. reads the month's contacts and steps and the enterprise events through the type index, and
   assembles the report as :func:`kernel.assessment.reports.monthly_report` does.

A ticket's part depends only on its own events, the month, the deadline rules and the calendar,
and the ledger only grows, so a cached part stays right until the ticket gets another event.
The report is byte for byte the one built from a projection of the whole ledger
(``tests/test_monthly_cache.py``). A backend without a read model projects the whole ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.assessment.facts import FactsWriter, rules_key
from kernel.assessment.monthly_parts import TicketMonth, decode, encode, ticket_month
from kernel.assessment.reports import LIFECYCLE_STEPS, Report, assemble_monthly, monthly_report
from kernel.assessment.stream import CONTACT
from kernel.clocks.compute import ClockEvaluator
from kernel.clocks.monthly import month_bounds
from kernel.ledger.ledger import Ledger, Projector, paused_gc
from kernel.ledger.readmodel import ENTERPRISE_TYPES
from kernel.rules.model import RuleSet

#: the kind of a monthly part's row in the facts cache
MONTH = "m"
#: tickets computed per query
BATCH = 500
#: the cached form of a ticket without a state (events naming a ticket never collected)
NOTHING = b"null"


@dataclass(frozen=True)
class MonthlyStats:
    """What one report read: parts taken from the cache, parts computed, parts written."""

    cached: int
    computed: int
    stored: int


def cached_monthly_report(
    ledger: Ledger,
    ruleset: RuleSet,
    evaluator: ClockEvaluator,
    month: str,
    *,
    store: bool = True,
) -> Report:
    """:func:`kernel.assessment.reports.monthly_report` of ``month``: from the read model and
    the facts cache on a backend with one (``store``: cache the parts it had to compute),
    else from a projection of the whole ledger."""
    return monthly_with_stats(ledger, ruleset, evaluator, month, store=store)[0]


def monthly_with_stats(
    ledger: Ledger,
    ruleset: RuleSet,
    evaluator: ClockEvaluator,
    month: str,
    *,
    store: bool = True,
) -> tuple[Report, MonthlyStats | None]:
    """:func:`cached_monthly_report` and what it read (None: the whole ledger was projected)."""
    storage = ledger.storage
    if not storage.has_read_model or ruleset.scoring is None or ruleset.deadlines is None:
        projector, events = ledger.project_with_events()
        return monthly_report(month, ruleset, projector, events, evaluator), None
    first, last = month_bounds(month)
    key = rules_key(ruleset.scoring, ruleset.deadlines, evaluator.calendar, ruleset.reference)
    writer = FactsWriter(ledger, last, key, store)
    with paused_gc():
        bound, tickets = storage.ticket_last_seqs()
        parts: dict[str, TicketMonth | None] = {}
        for _, ticket_id, seq, body in storage.facts_rows(last, key, (MONTH,)):
            if tickets.get(ticket_id) == seq:
                parts[ticket_id] = None if body == NOTHING else decode(ticket_id, body)
        cached = len(parts)
        stale = sorted(t for t in tickets if t not in parts)
        for start in range(0, len(stale), BATCH):
            batch = stale[start : start + BATCH]
            events = [e for e in storage.events_of_tickets(batch) if (e.seq or 0) <= bound]
            projector = Projector(ledger.reference).feed_all(events)
            for ticket_id in batch:
                state = projector.tickets.get(ticket_id)
                part = (
                    None
                    if state is None
                    else ticket_month(
                        state, month, first, last, evaluator, int(state.events[0].seq or 0)
                    )
                )
                parts[ticket_id] = part
                writer.add(
                    (
                        MONTH,
                        ticket_id,
                        tickets[ticket_id],
                        NOTHING if part is None else encode(part),
                    )
                )
        contacts = storage.events_of_types((CONTACT,), bound, first=first, last=last)
        steps = storage.events_of_types(LIFECYCLE_STEPS, bound, first=first, last=last)
        companies = Projector(ledger.reference).feed_all(
            storage.events_of_types(ENTERPRISE_TYPES, bound)
        )
        report = assemble_monthly(
            month,
            ruleset,
            (p for _, p in sorted(parts.items()) if p is not None),
            contacts=contacts,
            steps=steps,
            enterprises=companies.enterprises.values(),
        )
    writer.flush()
    return report, MonthlyStats(cached, len(stale), writer.written)
