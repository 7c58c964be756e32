"""Evaluate a ticket's clocks on the working-day calendar, as of a given date.

Nothing here reads the wall clock: every result is a function of the ticket's events, the
deadline rules, the calendar and ``as_of``. Events dated after ``as_of`` are ignored, so the
same history gives the state of any past day exactly.

A clock *instance* opens at each of its start events and closes at the first stop event after
it: reopening after 不满意 therefore opens a new resolution clock, and a second resolution a new
feedback clock. A monthly clock (D-grade progress) has one instance per month in which the
ticket is still open on the month's last working day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from kernel.calendar.workdays import CountingRule, WorkCalendar
from kernel.errors import CalendarError
from kernel.ledger.events import OFFICE, Event
from kernel.ledger.projection import TicketState
from kernel.rules.deadlines import ClockRule, DeadlineRules, EscalationStep

RUNNING, WARNING, MET, BREACHED = "running", "warning", "met", "breached"


@dataclass(frozen=True)
class EscalationDue:
    """An escalation step that is due for a breached clock instance."""

    step: EscalationStep
    day: dt.date
    units: tuple[str, ...]
    month: str | None = None  # for notices and interviews: the month of the 通报 listing

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "step": self.step.id,
            "action": self.step.action,
            "title": self.step.title,
            "clause": self.step.clause,
            "date": self.day.isoformat(),
            "units": list(self.units),
            "month": self.month,
        }


@dataclass(frozen=True)
class ClockInstance:
    """One run of a clock with its state as of the evaluation date."""

    clock: ClockRule
    round: int
    start: dt.date
    start_event: str
    due: dt.date
    limit: int | None
    state: str
    owners: tuple[str, ...]
    stop: dt.date | None = None
    stop_event: str | None = None
    overdue_workdays: int = 0
    warning_on: dt.date | None = None
    month: str | None = None
    paused_workdays: int = 0
    escalations: tuple[EscalationDue, ...] = ()

    @property
    def key(self) -> str:
        """A stable identity, e.g. ``T-RESOLVE#2`` or ``T-PROGRESS-D@2026-04``."""
        return f"{self.clock.id}@{self.month}" if self.month else f"{self.clock.id}#{self.round}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "clock": self.clock.id,
            "key": self.key,
            "title": self.clock.title,
            "clause": self.clock.clause,
            "round": self.round,
            "month": self.month,
            "start": self.start.isoformat(),
            "start_event": self.start_event,
            "limit_workdays": self.limit,
            "due": self.due.isoformat(),
            "warning_on": self.warning_on.isoformat() if self.warning_on else None,
            "stop": self.stop.isoformat() if self.stop else None,
            "stop_event": self.stop_event,
            "state": self.state,
            "overdue_workdays": self.overdue_workdays,
            "paused_workdays": self.paused_workdays,
            "owner_role": self.clock.owner,
            "owners": list(self.owners),
            "escalations": [e.to_dict() for e in self.escalations],
        }


@dataclass(frozen=True)
class TicketClocks:
    """Every clock instance of one ticket, as of a date."""

    ticket_id: str
    as_of: dt.date
    grade: str | None
    instances: tuple[ClockInstance, ...] = field(default_factory=tuple)

    @property
    def escalations(self) -> tuple[EscalationDue, ...]:
        """Every escalation step due, in date order."""
        return tuple(
            sorted((e for i in self.instances for e in i.escalations), key=lambda e: e.day)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``huhang deadlines --format json``)."""
        return {
            "ticket_id": self.ticket_id,
            "as_of": self.as_of.isoformat(),
            "grade": self.grade,
            "clocks": [i.to_dict() for i in self.instances],
            "escalations": [e.to_dict() for e in self.escalations],
        }


def owners_of(role: str, state: TicketState) -> tuple[str, ...]:
    """The units responsible for a clock of ``role`` on this ticket."""
    route = state.route
    if role == "primary":
        return (route["primary"],) if route.get("primary") else ()
    if role == "co_handlers":
        return tuple(u for u in route.get("co_handlers", []) if u != route.get("primary"))
    if role == "feedback_owner":
        return (route.get("feedback_owner") or state.lead_unit,)
    if role == "office":
        return (OFFICE,)
    return (state.lead_unit,)  # lead_unit, cadre


class ClockEvaluator:
    """Computes clock instances and escalations for tickets under one set of deadline rules."""

    def __init__(self, rules: DeadlineRules, calendar: WorkCalendar) -> None:
        self.rules = rules
        self.calendar = calendar
        self.counting = CountingRule(rules.counting)

    # ------------------------------------------------------------------ public

    def evaluate(self, state: TicketState, as_of: dt.date) -> TicketClocks:
        """All clock instances of ``state`` as of ``as_of``."""
        events = [e for e in state.events if e.date <= as_of]
        grade = state.grade
        category = str(state.ticket.data.get("category"))
        instances: list[ClockInstance] = []
        for clock in self.rules.clocks:
            if not clock.applies_to(grade):
                continue
            if clock.monthly_report:
                instances.extend(self._monthly(clock, state, events, as_of))
            else:
                instances.extend(self._instances(clock, state, events, as_of, grade, category))
        return TicketClocks(state.ticket_id, as_of, grade, tuple(instances))

    # ------------------------------------------------------------------ fixed-limit clocks

    def _instances(
        self,
        clock: ClockRule,
        state: TicketState,
        events: list[Event],
        as_of: dt.date,
        grade: str | None,
        category: str,
    ) -> list[ClockInstance]:
        assert clock.limit is not None
        limit = clock.limit.days(grade, category)
        if limit is None:
            return []
        out: list[ClockInstance] = []
        for index, event in enumerate(events):
            if event.type not in clock.start:
                continue
            stop = next((e for e in events[index + 1 :] if e.type in clock.stop), None)
            paused = self._paused_workdays(clock, events[index + 1 :], stop, as_of)
            due = self.calendar.add_workdays(event.date, limit + paused, self.counting)
            out.append(
                self._instance(
                    clock, len(out) + 1, event, due, limit, stop, state, as_of, paused=paused
                )
            )
        return out

    def _paused_workdays(
        self, clock: ClockRule, later: list[Event], stop: Event | None, as_of: dt.date
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
                total += self.calendar.workdays_between(paused_at, event.date)
                paused_at = None
        if paused_at is not None:
            end = stop.date if stop is not None else as_of
            total += self.calendar.workdays_between(paused_at, end)
        return total

    def _instance(
        self,
        clock: ClockRule,
        number: int,
        start: Event,
        due: dt.date,
        limit: int | None,
        stop: Event | None,
        state: TicketState,
        as_of: dt.date,
        *,
        month: str | None = None,
        paused: int = 0,
    ) -> ClockInstance:
        stop_day = stop.date if stop is not None else None
        end = stop_day if stop_day is not None else as_of
        overdue = self.calendar.workdays_between(due, end)
        if stop_day is not None:
            status = MET if stop_day <= due else BREACHED
        elif as_of > due:
            status = BREACHED
        elif clock.warn and self.calendar.workdays_between(as_of, due) <= self.rules.warning_lead:
            status = WARNING
        else:
            status = RUNNING
        warning_on = self._warning_day(due) if clock.warn else None
        owners = owners_of(clock.owner, state)
        instance = ClockInstance(
            clock=clock,
            round=number,
            start=start.date,
            start_event=start.event_id,
            due=due,
            limit=limit,
            state=status,
            owners=owners,
            stop=stop_day,
            stop_event=stop.event_id if stop is not None else None,
            overdue_workdays=overdue if status == BREACHED else 0,
            warning_on=warning_on,
            month=month,
            paused_workdays=paused,
        )
        if status == BREACHED and clock.escalate:
            instance = replace(
                instance, escalations=self._escalations(due, stop_day, as_of, owners)
            )
        return instance

    def _warning_day(self, due: dt.date) -> dt.date:
        day = due
        for _ in range(self.rules.warning_lead):
            day = self.calendar.previous_workday(day)
        return day

    # ------------------------------------------------------------------ monthly clocks

    def _monthly(
        self, clock: ClockRule, state: TicketState, events: list[Event], as_of: dt.date
    ) -> list[ClockInstance]:
        out: list[ClockInstance] = []
        reports = [e for e in events if e.type in clock.monthly_report]
        used: set[str] = set()
        for index, start in enumerate(events):
            if start.type not in clock.start:
                continue
            stop = next((e for e in events[index + 1 :] if e.type in clock.stop), None)
            year, month = start.date.year, start.date.month
            while True:
                month_start = dt.date(year, month, 1)
                if month_start > as_of:
                    break  # before asking the calendar: the next year may have no data yet
                last = self.calendar.last_workday_of_month(year, month)
                if stop is not None and stop.date <= last:
                    break  # resolved before the month's deadline: no report owed
                if start.date < last:
                    report = next(
                        (
                            r
                            for r in reports
                            if r.date >= max(month_start, start.date) and r.event_id not in used
                        ),
                        None,
                    )
                    if report is not None:
                        used.add(report.event_id)
                    if report is None or (stop is not None and stop.date < report.date):
                        # resolution ends the duty: a report still missing is late until then
                        report = stop
                    label = f"{year:04d}-{month:02d}"
                    out.append(
                        self._instance(
                            clock,
                            len(out) + 1,
                            start,
                            last,
                            None,
                            report,
                            state,
                            as_of,
                            month=label,
                        )
                    )
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    # ------------------------------------------------------------------ escalation

    def _escalations(
        self, due: dt.date, stop: dt.date | None, as_of: dt.date, owners: tuple[str, ...]
    ) -> tuple[EscalationDue, ...]:
        """Steps due by ``as_of`` for an instance that ran out at ``due`` (stopped at ``stop``)."""
        found: list[EscalationDue] = []
        days: dict[str, dt.date] = {"due": due}
        listed: dict[str, list[str]] = {}

        def still_open(day: dt.date) -> bool:
            # A clock that stops on a step's day was still overdue when that day began.
            return stop is None or stop >= day

        for step in self.rules.escalation:
            base = days.get(step.after)
            if base is None:
                break  # the step it follows never happened
            if step.workdays is not None:
                if base >= as_of:
                    break  # not due yet, whatever the calendar of a later year says
                try:
                    day = self.calendar.add_workdays(base, step.workdays) if step.workdays else base
                except CalendarError:
                    break  # the step falls in a year without data: it cannot be due by as_of
                if day > as_of or not still_open(day):
                    break
                days[step.id] = day
                month = None
                if step.action == "notice":
                    months = self._listed_months(day, stop, as_of)
                    listed[step.id] = months
                    month = months[0]
                found.append(EscalationDue(step, day, owners, month))
            else:
                months = listed.get(step.after, [])
                needed = step.consecutive_months or 2
                if len(months) < needed:
                    break
                label = months[needed - 1]
                year, month_no = (int(x) for x in label.split("-"))
                day = max(days[step.after], self.calendar.nth_workday_of_month(year, month_no, 1))
                days[step.id] = day
                found.append(EscalationDue(step, day, owners, label))
        return tuple(found)

    @staticmethod
    def _listed_months(first: dt.date, stop: dt.date | None, as_of: dt.date) -> list[str]:
        """Months in which the instance is still overdue, from the first listing on."""
        last = as_of if stop is None else min(as_of, stop - dt.timedelta(days=1))
        months = []
        year, month = first.year, first.month
        while (year, month) <= (last.year, last.month):
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return months or [f"{first.year:04d}-{first.month:02d}"]
