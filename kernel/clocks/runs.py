"""One pass over a ticket's events that finds the runs of all its fixed-limit clocks at once.

A run opens at each start event of its clock and ends at the first later stop or cancel event
of that clock; the events in between count towards its extensions (延期) and pauses (挂起).
Each event is looked at once and handed only to the clocks its type concerns (the evaluator
used to scan a ticket's events once per clock, and again after every start).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from kernel.ledger.events import Event
from kernel.rules.deadlines import ClockRule


class ClockRun:
    """One run of a clock as the pass found it: its start, its end, what happened between."""

    __slots__ = ("end", "extended", "number", "paused_at", "pauses", "start")

    def __init__(self, number: int, start: Event) -> None:
        self.number = number
        self.start = start
        #: the first later stop or cancel event (None while the run is open)
        self.end: Event | None = None
        #: working days added by extensions (延期) between start and end
        self.extended = 0
        #: (paused, resumed) days in order; a pause still open at the end is in ``paused_at``
        self.pauses: list[tuple[dt.date, dt.date]] = []
        self.paused_at: dt.date | None = None


class _Role:
    """What events of one type do to one clock."""

    __slots__ = ("clock", "ends", "extends", "pauses", "resumes", "slot", "starts")

    def __init__(self, slot: int, clock: ClockRule, kind: str) -> None:
        self.slot = slot
        self.clock = clock
        self.ends = kind in clock.stop or kind in clock.cancel
        self.starts = kind in clock.start
        self.extends = kind in clock.extend
        self.pauses = kind in clock.pause
        self.resumes = kind in clock.resume


RoleTable = dict[str, tuple[_Role, ...]]


def role_table(clocks: Sequence[ClockRule]) -> RoleTable:
    """For each event type, its role in each of ``clocks`` (the slot is the clock's index)."""
    kinds: set[str] = set()
    for clock in clocks:
        kinds.update(clock.start, clock.stop, clock.cancel, clock.extend)
        kinds.update(clock.pause, clock.resume)
    table: RoleTable = {}
    for kind in sorted(kinds):
        roles = []
        for slot, clock in enumerate(clocks):
            role = _Role(slot, clock, kind)
            if role.ends or role.starts or role.extends or role.pauses or role.resumes:
                roles.append(role)
        table[kind] = tuple(roles)
    return table


def scan_runs(events: Sequence[Event], table: RoleTable, count: int) -> list[list[ClockRun]]:
    """The runs of each of the ``count`` clocks of ``table`` over ``events``, in start order.

    A run's end is the first stop or cancel event after its start; an extension or a pause
    counts only strictly between the two (an ending event is not also a pause), and an event
    that ends runs may start the next one.
    """
    runs: list[list[ClockRun]] = [[] for _ in range(count)]
    running: list[list[ClockRun]] = [[] for _ in range(count)]
    for event in events:
        roles = table.get(event.type)
        if roles is None:
            continue
        for role in roles:
            open_runs = running[role.slot]
            if open_runs:
                if role.ends:
                    for run in open_runs:
                        run.end = event
                    running[role.slot] = open_runs = []
                else:
                    if role.extends:
                        days = int(event.payload.get("workdays", 0))
                        for run in open_runs:
                            run.extended += days
                    if role.pauses or role.resumes:
                        _pause_or_resume(open_runs, role, event.date)
            if role.starts and role.clock.starts(event.type, event.payload):
                run = ClockRun(len(runs[role.slot]) + 1, event)
                runs[role.slot].append(run)
                open_runs.append(run)
    return runs


def _pause_or_resume(open_runs: list[ClockRun], role: _Role, day: dt.date) -> None:
    for run in open_runs:
        if role.pauses and run.paused_at is None:
            run.paused_at = day
        elif role.resumes and run.paused_at is not None:
            run.pauses.append((run.paused_at, day))
            run.paused_at = None
