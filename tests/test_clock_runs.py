"""One pass over a ticket's events finds every fixed-limit clock's runs (kernel/clocks/runs.py).

The evaluator used to scan a ticket's events once per clock and again after every start; the
oracle below is that scan, kept here, and the evaluator's clocks must equal its clocks in JSON
on every ticket of the demo year, as of days before, within and after it.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kernel.clocks.compute import ClockEvaluator, ClockInstance, TicketClocks, owners_of
from kernel.clocks.runs import role_table, scan_runs
from kernel.demo.generate import Simulation, generate
from kernel.errors import CalendarError, CalendarYearMissing
from kernel.ledger.events import Event
from kernel.ledger.projection import TicketState
from kernel.rules.deadlines import ClockRule, Limit
from kernel.rules.model import RuleSet


def _paused(
    evaluator: ClockEvaluator,
    clock: ClockRule,
    later: list[Event],
    stop: Event | None,
    as_of: dt.date,
) -> int:
    if not clock.pause:
        return 0
    total, paused_at = 0, None
    for event in later:
        if event is stop:
            break
        if event.type in clock.pause and paused_at is None:
            paused_at = event.date
        elif event.type in clock.resume and paused_at is not None:
            total += evaluator.calendar.workdays_between(paused_at, event.date)
            paused_at = None
    if paused_at is not None:
        total += evaluator.calendar.workdays_between(paused_at, stop.date if stop else as_of)
    return total


def per_clock(evaluator: ClockEvaluator, state: TicketState, as_of: dt.date) -> TicketClocks:
    """The former evaluation: for each clock, each start, the events after it scanned again."""
    events = [e for e in state.events if e.date <= as_of]
    grade = state.grade
    category = str(state.ticket.data.get("category"))
    out: list[ClockInstance] = []
    for clock in evaluator.rules.clocks:
        if not clock.applies_to(grade):
            continue
        owners = owners_of(clock.owner, state)
        if clock.monthly_report:
            out.extend(evaluator._monthly(clock, state, events, as_of, owners))
            continue
        assert clock.limit is not None
        limit = clock.limit.days(grade, category)
        if limit is None:
            continue
        number = 0
        for index, start in enumerate(events):
            if not clock.starts(start.type, start.payload):
                continue
            number += 1
            later = events[index + 1 :]
            end = next((e for e in later if e.type in clock.stop or e.type in clock.cancel), None)
            if end is not None and end.type not in clock.stop:
                out.append(evaluator._cancelled(clock, number, start, limit, end, state))
                continue
            before_end = later[: later.index(end)] if end is not None else later
            extended = sum(
                int(e.payload.get("workdays", 0)) for e in before_end if e.type in clock.extend
            )
            try:
                paused = _paused(evaluator, clock, later, end, as_of)
            except CalendarYearMissing as exc:
                out.append(evaluator._undecided(clock, number, start, limit, end, owners, exc.year))
                continue
            missing = None
            try:
                due: dt.date | None = evaluator.calendar.add_workdays(
                    start.date, limit + paused + extended, evaluator.counting
                )
            except CalendarYearMissing as exc:
                if exc.year <= start.date.year:
                    out.append(
                        evaluator._undecided(clock, number, start, limit, end, owners, exc.year)
                    )
                    continue
                due, missing = None, exc.year
            out.append(
                evaluator._instance(
                    clock,
                    number,
                    start,
                    due,
                    limit,
                    end,
                    owners,
                    as_of,
                    paused=paused,
                    missing=missing,
                    extended=extended,
                )
            )
    return TicketClocks(state.ticket_id, as_of, grade, tuple(out))


@pytest.fixture(scope="module")
def demo() -> Simulation:
    return generate()


def _as_json(evaluate: object, state: TicketState, as_of: dt.date) -> str:
    try:
        clocks = evaluate(state, as_of)  # type: ignore[operator]
    except CalendarError as exc:
        return f"error: {exc}"
    return json.dumps(clocks.to_dict(), ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("as_of", ["2026-02-10", "2026-07-01", "2026-12-31", "2027-03-31"])
def test_one_pass_equals_the_scan_per_clock(demo: Simulation, ruleset: RuleSet, as_of: str) -> None:
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    day = dt.date.fromisoformat(as_of)
    tickets = demo.ledger.project().tickets
    compared = breached = 0
    for state in tickets.values():
        new = _as_json(evaluator.evaluate, state, day)
        old = _as_json(lambda s, d: per_clock(evaluator, s, d), state, day)
        assert new == old, state.ticket_id
        compared += 1
        breached += '"state": "breached"' in new
    assert compared == len(tickets) > 1000
    if as_of != "2026-02-10":
        assert breached > 0  # the year has overdue clocks to compare


def _event(number: int, kind: str, day: int, **payload: object) -> Event:
    return Event(f"E{number}", kind, dt.date(2026, 3, day), "x", dict(payload), ticket_id="T1")


CLOCK = ClockRule(
    id="C",
    title="时限",
    clause="§",
    start=("a.start",),
    stop=("a.stop",),
    owner="primary",
    limit=Limit(default=5),
    pause=("a.pause",),
    resume=("a.resume",),
    extend=("a.extend",),
    cancel=("a.cancel",),
)


def test_runs_end_at_the_first_stop_and_count_only_what_lies_between() -> None:
    events = [
        _event(1, "a.start", 2),
        _event(2, "a.extend", 3, workdays=2),
        _event(3, "a.start", 4),  # a second run while the first is open
        _event(4, "a.pause", 5),
        _event(5, "a.extend", 6, workdays=3),
        _event(6, "a.resume", 9),
        _event(7, "a.stop", 10),  # ends both
        _event(8, "a.extend", 11, workdays=7),  # after the end: counts for neither
        _event(9, "a.start", 12),
        _event(10, "a.cancel", 13),
    ]
    first, second, third = scan_runs(events, role_table([CLOCK]), 1)[0]
    assert [r.number for r in (first, second, third)] == [1, 2, 3]
    assert first.end is second.end is events[6]
    assert (first.extended, second.extended) == (5, 3)
    assert first.pauses == second.pauses == [(dt.date(2026, 3, 5), dt.date(2026, 3, 9))]
    assert third.end is events[9] and third.extended == 0 and third.pauses == []


def test_an_ending_event_may_start_the_next_run_and_a_pause_may_stay_open() -> None:
    clock = ClockRule(
        id="R",
        title="时限",
        clause="§",
        start=("b.turn", "b.open"),
        stop=("b.turn",),
        owner="primary",
        limit=Limit(default=3),
        pause=("b.hold",),
        resume=("b.go",),
    )
    events = [_event(1, "b.open", 2), _event(2, "b.turn", 3), _event(3, "b.hold", 4)]
    first, second = scan_runs(events, role_table([clock]), 1)[0]
    assert first.end is events[1] and first.paused_at is None
    assert second.start is events[1] and second.end is None
    assert second.paused_at == dt.date(2026, 3, 4)  # still paused: counted up to as_of


def test_a_start_condition_on_the_payload_is_kept() -> None:
    clock = ClockRule(
        id="W",
        title="时限",
        clause="§",
        start=("c.rated",),
        stop=("c.done",),
        owner="primary",
        limit=Limit(default=3),
        start_when={"c.rated": {"rating": "不满意"}},
    )
    events = [_event(1, "c.rated", 2, rating="满意"), _event(2, "c.rated", 3, rating="不满意")]
    (run,) = scan_runs(events, role_table([clock]), 1)[0]
    assert run.start is events[1]
