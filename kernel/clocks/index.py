"""The sweep's index: when a ticket can next have something become due.

After a sweep as of day D evaluates a ticket, :func:`next_check` says the first later day on
which a sweep could find anything new for it without a new event (never, once every clock has
stopped; the warning day or the day after the due date of a running clock; the next
escalation step's earliest day). The storage records ``quiet_from = D`` and ``quiet_until``
beside the ticket's read-model row; any later event of the ticket clears them, and a sweep
under other deadline rules or another calendar (:func:`evaluator_key`) clears them all. A sweep
as of a day then reads only the tickets not quiet on that day -- the work due -- instead of
every ticket of the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from kernel.clocks.compute import BREACHED, ClockEvaluator, TicketClocks
from kernel.ledger.projection import TicketState


def evaluator_key(evaluator: ClockEvaluator) -> str:
    """A digest of the deadline rules and the calendar the clocks are computed with."""
    rules = repr(evaluator.rules).encode("utf-8")
    return hashlib.sha256(rules + evaluator.calendar.fingerprint().encode("ascii")).hexdigest()


#: the ``until`` of a ticket that stays quiet until its next event
FOREVER = dt.date.max


def next_check(
    state: TicketState, clocks: TicketClocks, evaluator: ClockEvaluator
) -> dt.date | None:
    """The first day after ``clocks.as_of`` on which a sweep could find something new for
    ``state`` without a new event (:data:`FOREVER`: never), or None when that cannot be told
    (then the ticket is swept every day).

    Every bound is a lower bound: a sweep may look again earlier than needed, never later. A
    running instance can next warn on its warning day and next escalate the day after its due
    date; a breached one, on its next escalation step's earliest day (``n`` working days after
    the step it follows are at least ``n`` days; a step of consecutive months, not before the
    first day of its month) and, once listed in a 通报, on the first day of each next month (it
    is listed again while overdue); an open monthly clock, on the first day of the next month;
    and any ticket, on the first day past the calendar's data.
    """
    as_of = clocks.as_of
    if clocks.provisional or clocks.missing_years:
        return None
    if any(e.date > as_of for e in state.events):
        return None  # events dated later still change the clocks
    soonest = FOREVER
    steps = evaluator.rules.escalation
    steps_by_id = {step.id: step for step in steps}
    for item in clocks.instances:
        if item.undecided or item.warning_undecided:
            return None
        if item.stop is not None:
            continue
        if item.due is None:
            return None
        if item.state != BREACHED:
            if item.warning_on is not None and item.warning_on > as_of:
                soonest = min(soonest, item.warning_on)
            soonest = min(soonest, item.due + _DAY)
            continue
        if not item.clock.escalate:
            continue
        first = {e.step.id: e.day for e in item.escalations if not e.repeat}
        if any(steps_by_id[i].action == "notice" for i in first if i in steps_by_id):
            soonest = min(soonest, _next_month(as_of))  # 通报 again each month while overdue
        pending = [step for step in steps if step.id not in first]
        if not pending:
            continue
        step = pending[0]
        base = {"due": item.due, **first}.get(step.after)
        if base is None:
            return None
        if step.workdays is not None:
            soonest = min(soonest, max(base + dt.timedelta(days=step.workdays), as_of + _DAY))
        else:  # consecutive months of listing, counted from the month of the step it follows
            month = base.month + (step.consecutive_months or 2) - 1
            start = dt.date(base.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)
            soonest = min(soonest, max(start, base, as_of + _DAY))
    for clock in evaluator.rules.clocks:
        if not clock.applies_to(clocks.grade) or not clock.monthly_report:
            continue  # a running fixed-limit clock has an instance: bounded above
        ends = (*clock.stop, *clock.cancel)
        for index, event in enumerate(state.events):
            if clock.starts(event.type, event.payload) and not any(
                later.type in ends for later in state.events[index + 1 :]
            ):
                soonest = min(soonest, _next_month(as_of))
    # Past the calendar's data a clock may become undecided (an overdue count, a step's day):
    # the sweep then reads the ticket again, as a sweep over every ticket would, to say so.
    data_ends = _end_of_data(evaluator, as_of)
    if data_ends is not None:
        soonest = min(soonest, data_ends)
    return soonest if soonest > as_of else None


def _next_month(day: dt.date) -> dt.date:
    """The first day of the month after ``day``'s."""
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _end_of_data(evaluator: ClockEvaluator, as_of: dt.date) -> dt.date | None:
    """The first day after the run of calendar years that holds ``as_of`` (None: no data)."""
    years = evaluator.calendar.years
    if as_of.year not in years:
        return None
    year = as_of.year
    while year + 1 in years:
        year += 1
    return dt.date(year + 1, 1, 1)


_DAY = dt.timedelta(days=1)
