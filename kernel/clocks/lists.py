"""Ticket lists filtered by "overdue as of a day" without evaluating every ticket's clocks.

The read model answers the other filters in SQL (:class:`kernel.storage.readmodel_sql.
TicketQuery`). For "overdue", a sweep that marked a ticket quiet as of ``quiet_from`` stored
whether one of its clocks was overdue (``breached``); nothing of the ticket can change before
``quiet_until`` without a new event (:func:`kernel.clocks.index.next_check`), so that flag is the
answer for every day of ``[quiet_from, quiet_until)``. Only the tickets not quiet on the day
asked -- changed since the last sweep, never swept, or swept under other deadline rules or
another calendar (:func:`kernel.clocks.index.evaluator_key`) -- have their clocks evaluated
here, exactly as a list replaying every ticket did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import weakref

from kernel.clocks.compute import BREACHED, ClockEvaluator
from kernel.errors import CalendarError
from kernel.ledger.ledger import Ledger
from kernel.ledger.projection import TicketState
from kernel.storage.readmodel_sql import TicketQuery

_KEYS: weakref.WeakKeyDictionary[ClockEvaluator, str] = weakref.WeakKeyDictionary()


def cached_key(evaluator: ClockEvaluator) -> str:
    """:func:`kernel.clocks.index.evaluator_key`, computed once per evaluator."""
    from kernel.clocks.index import evaluator_key

    key = _KEYS.get(evaluator)
    if key is None:
        key = _KEYS[evaluator] = evaluator_key(evaluator)
    return key


def is_overdue(evaluator: ClockEvaluator, state: TicketState, as_of: dt.date) -> bool | None:
    """Whether a clock of the ticket is overdue as of ``as_of`` (None: the calendar lacks a
    year the clocks need)."""
    try:
        clocks = evaluator.evaluate(state, as_of)
    except CalendarError:
        return None
    return any(item.state == BREACHED for item in clocks.instances)


def overdue_flags(
    ledger: Ledger, evaluator: ClockEvaluator, query: TicketQuery, as_of: dt.date
) -> list[tuple[str, bool | None]]:
    """Every ticket matching ``query`` (paging ignored), in its order, with whether it is
    overdue as of ``as_of`` (None: cannot be told, the calendar lacks a year).

    Without a current read model every matching ticket's clocks are evaluated.
    """
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(ledger)
    whole = dataclasses.replace(query, offset=0, limit=None)
    flags: list[tuple[str, bool | None]]
    if model.stored:
        flags = ledger.storage.ticket_overdue(whole, as_of, cached_key(evaluator))
    else:
        flags = [(t.ticket_id, None) for t in model.tickets(whole).items]
    unknown = [ticket_id for ticket_id, flag in flags if flag is None]
    live = {state.ticket_id: is_overdue(evaluator, state, as_of) for state in model.states(unknown)}
    return [(t, live.get(t) if flag is None else flag) for t, flag in flags]


def overdue_ids(
    ledger: Ledger,
    evaluator: ClockEvaluator,
    query: TicketQuery,
    as_of: dt.date,
    overdue: bool,
) -> list[str]:
    """The tickets matching ``query`` (paging ignored), in its order, that are (``overdue``
    True) or are not (False) overdue as of ``as_of``; those whose clocks cannot be computed
    are in neither list."""
    return [t for t, flag in overdue_flags(ledger, evaluator, query, as_of) if flag is overdue]
