"""Evaluate a ticket's clocks on the working-day calendar, as of a given date.

Nothing here reads the wall clock: every result is a function of the ticket's events, the
deadline rules, the calendar and ``as_of``. Events dated after ``as_of`` are ignored, so the
same history gives the state of any past day exactly.

A clock *instance* opens at each of its start events and closes at the first stop event after
it: reopening after 不满意 therefore opens a new resolution clock, and a second resolution a new
feedback clock. A monthly clock (D-grade progress) has one instance per month in which the
ticket is still open on the month's last working day.

A clock that needs a year the calendar has no data for blocks only itself. Counting that runs
past the last covered day means "due after that day": as long as ``as_of`` is covered, such a
clock is running (or met, if it stopped in time), and nothing about it needs next year's data.
What cannot be decided -- a state, an overdue count, a warning or an escalation step that
depends on the missing year -- is named in :attr:`ClockInstance.undecided` (or
:attr:`ClockInstance.warning_undecided`) with the year, and every other clock is computed as
usual. Dates computed through a provisional year (暂定) carry ``provisional``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any

from kernel.calendar.workdays import CountingRule, WorkCalendar
from kernel.clocks.runs import ClockRun, RoleTable, role_table, scan_runs
from kernel.errors import CalendarYearMissing
from kernel.ledger.events import OFFICE, Event
from kernel.ledger.projection import TicketState
from kernel.rules.deadlines import ClockRule, DeadlineRules, EscalationStep
from kernel.vocabulary import PROVISIONAL_MARK

RUNNING, WARNING, MET, BREACHED = "running", "warning", "met", "breached"
#: The step the clock timed was taken away (退回, 撤回, 合并 …): neither met nor breached.
CANCELLED = "cancelled"
#: The state needs a year the calendar has no data for.
UNDECIDED = "undecided"


@dataclass(frozen=True)
class EscalationDue:
    """An escalation step that is due for a breached clock instance."""

    step: EscalationStep
    day: dt.date
    units: tuple[str, ...]
    month: str | None = None  # for notices and interviews: the month of the 通报 listing
    provisional: bool = False  # the day was counted through a provisional year (暂定)
    repeat: bool = False  # a 通报 in a later month of the same overdue instance

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
            "provisional": self.provisional,
            "repeat": self.repeat,
        }


@dataclass(frozen=True)
class ClockInstance:
    """One run of a clock with its state as of the evaluation date."""

    clock: ClockRule
    round: int
    start: dt.date
    start_event: str
    #: None when the due date lies beyond the calendar's data (then after ``due_after``).
    due: dt.date | None
    limit: int | None
    state: str
    owners: tuple[str, ...]
    stop: dt.date | None = None
    stop_event: str | None = None
    #: None when the count needs a year without data.
    overdue_workdays: int | None = 0
    warning_on: dt.date | None = None
    month: str | None = None
    paused_workdays: int = 0
    #: working days added by approved extensions (延期)
    extended_workdays: int = 0
    escalations: tuple[EscalationDue, ...] = ()
    due_after: dt.date | None = None
    #: What cannot be computed for lack of data (state, overdue count, escalation steps).
    undecided: str = ""
    #: Only whether the warning is due cannot be computed (the state itself is certain).
    warning_undecided: bool = False
    missing_year: int | None = None
    #: A date or count of this instance was computed through a provisional year (暂定).
    provisional: bool = False
    #: The due date itself lies in a provisional year.
    due_provisional: bool = False

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
            "due": self.due.isoformat() if self.due else None,
            "due_after": self.due_after.isoformat() if self.due_after else None,
            "warning_on": self.warning_on.isoformat() if self.warning_on else None,
            "stop": self.stop.isoformat() if self.stop else None,
            "stop_event": self.stop_event,
            "state": self.state,
            "overdue_workdays": self.overdue_workdays,
            "paused_workdays": self.paused_workdays,
            "extended_workdays": self.extended_workdays,
            "owner_role": self.clock.owner,
            "owners": list(self.owners),
            "escalations": [e.to_dict() for e in self.escalations],
            "undecided": self.undecided or None,
            "warning_undecided": self.warning_undecided,
            "missing_year": self.missing_year,
            "provisional": self.provisional,
            "due_provisional": self.due_provisional,
        }

    @property
    def blocking(self) -> bool:
        """Whether a state, a count or an escalation step of this instance is unknown."""
        return bool(self.undecided)


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

    @property
    def undecided(self) -> tuple[ClockInstance, ...]:
        """Instances with anything (even only the warning) left undecided for lack of data."""
        return tuple(i for i in self.instances if i.undecided or i.warning_undecided)

    @property
    def missing_years(self) -> tuple[int, ...]:
        """The years without data that left something undecided."""
        return tuple(sorted({i.missing_year for i in self.undecided if i.missing_year}))

    @property
    def provisional(self) -> bool:
        """Whether any date of this ticket was computed through a provisional year."""
        return any(i.provisional for i in self.instances)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``huhang deadlines --format json``)."""
        return {
            "ticket_id": self.ticket_id,
            "as_of": self.as_of.isoformat(),
            "grade": self.grade,
            "clocks": [i.to_dict() for i in self.instances],
            "escalations": [e.to_dict() for e in self.escalations],
            "provisional": self.provisional,
            "missing_years": list(self.missing_years),
        }


def require_decided(clocks: TicketClocks, purpose: str) -> None:
    """Raise :class:`CalendarYearMissing` if a state, count or step of ``clocks`` is unknown."""
    for item in clocks.instances:
        if item.blocking:
            year = item.missing_year or clocks.as_of.year
            raise CalendarYearMissing(
                f"{purpose}需要 {year} 年的工作日历：办理单 {clocks.ticket_id} 的时限 {item.key}"
                f"{item.undecided}。请用 huhang calendar import 导入 {year} 年的放假安排通知，"
                f"或在 huhang.yaml 中设置 calendar: {{missing_year: provisional}} 按暂定日历计算",
                year,
            )


def marked(day: dt.date, provisional: bool) -> str:
    """``2027-01-08`` or ``2027-01-08（暂定）``."""
    return day.isoformat() + (PROVISIONAL_MARK if provisional else "")


def due_text(item: ClockInstance) -> str:
    """The due date as shown: marked 暂定, or "after" the last day with data, or unknown."""
    if item.due is not None:
        return marked(item.due, item.due_provisional)
    if item.due_after is not None:
        missing = f"，缺少 {item.missing_year} 年日历" if item.missing_year else ""
        return f"{item.due_after} 之后{missing}"
    return f"未能计算（缺少 {item.missing_year} 年日历）"


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


def routed_before(state: TicketState, end: Event) -> TicketState:
    """``state`` with the route in force just before ``end`` (the office's overrides and
    re-routes before it only): a round cancelled by a return belongs to the unit that held it
    then, not to the unit the problem was re-routed to later."""
    route: dict[str, Any] = {}
    grade: str | None = None
    for event in state.events:
        if event is end or event.event_id == end.event_id:
            break
        if event.type in ("ticket.overridden", "ticket.rerouted"):
            route.update(event.payload.get("route") or {})
            grade = event.payload.get("grade", grade)
    if route == state.override_route and grade == state.override_grade:
        return state
    return replace(state, override_route=route, override_grade=grade)


def _bare(
    clock: ClockRule,
    number: int,
    start: Event,
    limit: int | None,
    state: str,
    owners: tuple[str, ...],
    stop: Event | None,
    month: str | None,
    *,
    due: dt.date | None = None,
    **counted: Any,
) -> ClockInstance:
    """An instance with its run, state, owners and stop, and what was counted for it
    (``counted``: the other fields; no ``due``: cancelled, undecided or due beyond the
    calendar's data)."""
    values = dict(_INSTANCE_DEFAULTS)
    values.update(
        clock=clock,
        round=number,
        start=start.date,
        start_event=start.event_id,
        due=due,
        limit=limit,
        state=state,
        owners=owners,
        stop=stop.date if stop is not None else None,
        stop_event=stop.event_id if stop is not None else None,
        month=month,
    )
    if not counted.keys() <= _INSTANCE_DEFAULTS.keys():
        raise TypeError(f"not a counted field of ClockInstance: {sorted(counted)}")
    values.update(counted)
    # set at once what the frozen dataclass's __init__ sets field by field (it has no
    # __post_init__; a replay builds an instance per clock run)
    instance = object.__new__(ClockInstance)
    object.__setattr__(instance, "__dict__", values)
    return instance


_INSTANCE_DEFAULTS = {f.name: f.default for f in fields(ClockInstance) if f.default is not MISSING}


class ClockEvaluator:
    """Computes clock instances and escalations for tickets under one set of deadline rules."""

    def __init__(self, rules: DeadlineRules, calendar: WorkCalendar) -> None:
        self.rules = rules
        self.calendar = calendar
        self.counting = CountingRule(rules.counting)
        self._plans: dict[
            tuple[str | None, str],
            tuple[tuple[tuple[ClockRule, int | None, int], ...], RoleTable, int],
        ] = {}
        #: the calendar's answers this evaluator has asked for (its calendar does not change)
        self._due: dict[tuple[dt.date, int], dt.date] = {}
        self._warning_days: dict[dt.date, dt.date | None] = {}

    # ------------------------------------------------------------------ public

    def evaluate(self, state: TicketState, as_of: dt.date) -> TicketClocks:
        """All clock instances of ``state`` as of ``as_of``."""
        events = [e for e in state.events if e.date <= as_of]
        grade = state.grade
        plan, table, fixed = self._plan(grade, str(state.ticket.data.get("category")))
        runs = scan_runs(events, table, fixed) if fixed else []
        owners: dict[str, tuple[str, ...]] = {}
        instances: list[ClockInstance] = []
        for clock, limit, slot in plan:
            role = clock.owner
            if role not in owners:
                owners[role] = owners_of(role, state)
            if limit is None:
                instances.extend(self._monthly(clock, state, events, as_of, owners[role]))
                continue
            for run in runs[slot]:
                instances.append(self._of_run(clock, limit, run, state, as_of, owners[role]))
        return TicketClocks(state.ticket_id, as_of, grade, tuple(instances))

    def _plan(
        self, grade: str | None, category: str
    ) -> tuple[tuple[tuple[ClockRule, int | None, int], ...], RoleTable, int]:
        """The clocks that run for a ticket of ``grade`` and ``category``, in the rules' order,
        each with its limit (None: monthly) and its slot among the fixed-limit ones; the role
        table of those; their number."""
        key = (grade, category)
        found = self._plans.get(key)
        if found is None:
            plan: list[tuple[ClockRule, int | None, int]] = []
            fixed: list[ClockRule] = []
            for clock in self.rules.clocks:
                if not clock.applies_to(grade):
                    continue
                if clock.monthly_report:
                    plan.append((clock, None, -1))
                    continue
                assert clock.limit is not None
                limit = clock.limit.days(grade, category)
                if limit is not None:
                    plan.append((clock, limit, len(fixed)))
                    fixed.append(clock)
            found = self._plans[key] = (tuple(plan), role_table(fixed), len(fixed))
        return found

    # ------------------------------------------------------------------ fixed-limit clocks

    def _of_run(
        self,
        clock: ClockRule,
        limit: int,
        run: ClockRun,
        state: TicketState,
        as_of: dt.date,
        owners: tuple[str, ...],
    ) -> ClockInstance:
        """The instance of one run found by :func:`kernel.clocks.runs.scan_runs`."""
        start, end, number = run.start, run.end, run.number
        if end is not None and end.type not in clock.stop:
            return self._cancelled(clock, number, start, limit, end, state)
        stop = end
        extended = run.extended
        try:
            paused = self._paused_workdays(clock, run, stop, as_of)
        except CalendarYearMissing as exc:
            return self._undecided(clock, number, start, limit, stop, owners, exc.year)
        due: dt.date | None
        missing: int | None = None
        try:
            due = self._add_workdays(start.date, limit + paused + extended)
        except CalendarYearMissing as exc:
            if exc.year <= start.date.year:  # the start itself is in a year without data
                return self._undecided(clock, number, start, limit, stop, owners, exc.year)
            due, missing = None, exc.year
        return self._instance(
            clock,
            number,
            start,
            due,
            limit,
            stop,
            owners,
            as_of,
            paused=paused,
            missing=missing,
            extended=extended,
        )

    def _add_workdays(self, start: dt.date, days: int) -> dt.date:
        """``calendar.add_workdays`` under the rules' counting, remembered per (start, days)."""
        key = (start, days)
        due = self._due.get(key)
        if due is None:
            due = self._due[key] = self.calendar.add_workdays(start, days, self.counting)
        return due

    @staticmethod
    def _cancelled(
        clock: ClockRule,
        number: int,
        start: Event,
        limit: int | None,
        end: Event,
        state: TicketState,
        *,
        month: str | None = None,
    ) -> ClockInstance:
        """An instance ended by a cancelling step: no due date to meet, nothing to escalate."""
        owners = owners_of(clock.owner, routed_before(state, end))
        return _bare(clock, number, start, limit, CANCELLED, owners, end, month)

    def _paused_workdays(
        self, clock: ClockRule, run: ClockRun, stop: Event | None, as_of: dt.date
    ) -> int:
        if not clock.pause:
            return 0
        between = self.calendar.workdays_between
        total = sum(between(paused, resumed) for paused, resumed in run.pauses)
        if run.paused_at is not None:
            end = stop.date if stop is not None else as_of
            total += between(run.paused_at, end)
        return total

    def _undecided(
        self,
        clock: ClockRule,
        number: int,
        start: Event,
        limit: int | None,
        stop: Event | None,
        owners: tuple[str, ...],
        year: int,
        *,
        month: str | None = None,
    ) -> ClockInstance:
        """An instance whose state needs ``year``, which the calendar has no data for."""
        return _bare(
            clock,
            number,
            start,
            limit,
            UNDECIDED,
            owners,
            stop,
            month,
            overdue_workdays=None,
            undecided=f"的到期日和状态需要 {year} 年的工作日历",
            missing_year=year,
        )

    def _instance(
        self,
        clock: ClockRule,
        number: int,
        start: Event,
        due: dt.date | None,
        limit: int | None,
        stop: Event | None,
        owners: tuple[str, ...],
        as_of: dt.date,
        *,
        month: str | None = None,
        paused: int = 0,
        missing: int | None = None,
        extended: int = 0,
    ) -> ClockInstance:
        stop_day = stop.date if stop is not None else None
        if due is None:
            assert missing is not None
            base = _bare(
                clock,
                number,
                start,
                limit,
                RUNNING,
                owners,
                stop,
                month,
                paused_workdays=paused,
                extended_workdays=extended,
            )
            return self._beyond_data(base, as_of, missing)
        calendar = self.calendar
        end = stop_day if stop_day is not None else as_of
        if stop_day is not None:
            status = MET if stop_day <= due else BREACHED
        elif as_of > due:
            status = BREACHED
        else:
            status = RUNNING
        undecided, year = "", None
        overdue: int | None = 0
        if status == BREACHED:
            try:
                overdue = calendar.workdays_between(due, end)
            except CalendarYearMissing as exc:
                overdue, year = None, exc.year
                undecided = f"的超期工作日数和其后的督办需要 {exc.year} 年的工作日历"
        elif status == RUNNING and clock.warn:
            try:
                if calendar.workdays_between(as_of, due) <= self.rules.warning_lead:
                    status = WARNING
            except CalendarYearMissing as exc:
                undecided, year = f"是否进入预警期需要 {exc.year} 年的工作日历", exc.year
        warning_on = self._warning_day(due) if clock.warn else None
        steps: tuple[EscalationDue, ...] = ()
        if status == BREACHED and clock.escalate:
            steps, step_year = self._escalations(due, stop_day, as_of, owners)
            if step_year is not None and not undecided:
                undecided, year = f"其后的督办需要 {step_year} 年的工作日历", step_year
        due_provisional = calendar.is_provisional(due)
        provisional = (
            due_provisional
            or calendar.is_provisional(warning_on)
            or (status == BREACHED and calendar.is_provisional(end))
            or any(e.provisional for e in steps)
        )
        return _bare(
            clock,
            number,
            start,
            limit,
            status,
            owners,
            stop,
            month,
            due=due,
            overdue_workdays=overdue,
            warning_on=warning_on,
            paused_workdays=paused,
            extended_workdays=extended,
            escalations=steps,
            undecided=undecided,
            missing_year=year,
            provisional=provisional,
            due_provisional=due_provisional,
        )

    def _beyond_data(self, base: ClockInstance, as_of: dt.date, missing: int) -> ClockInstance:
        """An instance whose counting runs past the last day with data: due after it."""
        horizon = dt.date(missing - 1, 12, 31)
        base = replace(base, due_after=horizon, missing_year=missing)
        need = f"需要 {missing} 年的工作日历"
        if base.stop is not None:
            if base.stop <= horizon:
                return replace(base, state=MET, missing_year=None)
            return replace(
                base, state=UNDECIDED, overdue_workdays=None, undecided=f"的到期日和状态{need}"
            )
        if as_of > horizon:
            return replace(
                base, state=UNDECIDED, overdue_workdays=None, undecided=f"的到期日和状态{need}"
            )
        if base.clock.warn:
            try:
                left = self.calendar.workdays_between(as_of, horizon)
            except CalendarYearMissing:
                left = -1
            if left < self.rules.warning_lead:
                # due within the first days of the missing year: the warning may be due already
                return replace(base, warning_undecided=True)
        return replace(base, missing_year=None)

    def _warning_day(self, due: dt.date) -> dt.date | None:
        if due in self._warning_days:
            return self._warning_days[due]
        found = self._warning_days[due] = self._count_back(due)
        return found

    def _count_back(self, due: dt.date) -> dt.date | None:
        day = due
        try:
            for _ in range(self.rules.warning_lead):
                day = self.calendar.previous_workday(day)
        except CalendarYearMissing:
            return None  # the year before the first one with data
        return day

    # ------------------------------------------------------------------ monthly clocks

    def _monthly(
        self,
        clock: ClockRule,
        state: TicketState,
        events: list[Event],
        as_of: dt.date,
        owners: tuple[str, ...],
    ) -> list[ClockInstance]:
        out: list[ClockInstance] = []
        reports = [e for e in events if e.type in clock.monthly_report]
        used: set[str] = set()
        for index, start in enumerate(events):
            if not clock.starts(start.type, start.payload):
                continue
            # a cancelling step (withdrawal, merge …) ends the duty like a resolution
            stop = next(
                (e for e in events[index + 1 :] if e.type in clock.stop or e.type in clock.cancel),
                None,
            )
            year, month = start.date.year, start.date.month
            while True:
                month_start = dt.date(year, month, 1)
                if month_start > as_of:
                    break  # before asking the calendar: the next year may have no data yet
                label = f"{year:04d}-{month:02d}"
                try:
                    last = self.calendar.last_workday_of_month(year, month)
                except CalendarYearMissing as exc:
                    out.append(
                        self._undecided(
                            clock, len(out) + 1, start, None, stop, owners, exc.year, month=label
                        )
                    )
                    break
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
                    out.append(
                        self._instance(
                            clock,
                            len(out) + 1,
                            start,
                            last,
                            None,
                            report,
                            owners,
                            as_of,
                            month=label,
                        )
                    )
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    # ------------------------------------------------------------------ escalation

    def _escalations(
        self, due: dt.date, stop: dt.date | None, as_of: dt.date, owners: tuple[str, ...]
    ) -> tuple[tuple[EscalationDue, ...], int | None]:
        """Steps due by ``as_of`` for an instance that ran out at ``due`` (stopped at ``stop``).

        The second value is the year without data that leaves later steps undecided (None when
        every step is decided).
        """
        found: list[EscalationDue] = []
        days: dict[str, dt.date] = {"due": due}
        listed: dict[str, list[str]] = {}
        at_end = self.rules.judged_at == "end"

        def still_open(day: dt.date) -> bool:
            # Judged at the end of the step's day (default): work finished that day is not
            # escalated; judged at its start, a clock that stops that day still was overdue.
            return stop is None or (stop > day if at_end else stop >= day)

        def unknown(exc: CalendarYearMissing) -> int | None:
            # Beyond the data the step day is after its last day: undecided only if as_of is
            # later than that and the clock may still be open then.
            horizon = dt.date(exc.year - 1, 12, 31)
            if exc.year > due.year and (as_of <= horizon or (stop is not None and stop <= horizon)):
                return None
            return exc.year

        for step in self.rules.escalation:
            base = days.get(step.after)
            if base is None:
                break  # the step it follows never happened
            if step.workdays is not None:
                if base >= as_of:
                    break  # not due yet, whatever the calendar of a later year says
                try:
                    day = self.calendar.add_workdays(base, step.workdays) if step.workdays else base
                except CalendarYearMissing as exc:
                    return tuple(found), unknown(exc)
                if day > as_of or not still_open(day):
                    break
                days[step.id] = day
                month = None
                if step.action == "notice":
                    month = f"{day.year:04d}-{day.month:02d}"
                    listed[step.id] = [month]
                found.append(
                    EscalationDue(step, day, owners, month, self.calendar.is_provisional(day))
                )
                if step.action == "notice":
                    year = self._relisted(step, day, still_open, as_of, owners, found, listed)
                    if year is not None:
                        return tuple(found), unknown(CalendarYearMissing("", year))
            else:
                months = listed.get(step.after, [])
                needed = step.consecutive_months or 2
                if len(months) < needed:
                    break
                label = months[needed - 1]
                year, month_no = (int(x) for x in label.split("-"))
                try:
                    first = self.calendar.nth_workday_of_month(year, month_no, 1)
                except CalendarYearMissing as exc:
                    return tuple(found), unknown(exc)
                day = max(days[step.after], first)
                days[step.id] = day
                found.append(
                    EscalationDue(step, day, owners, label, self.calendar.is_provisional(day))
                )
        return tuple(found), None

    def _relisted(
        self,
        step: EscalationStep,
        first: dt.date,
        still_open: Callable[[dt.date], bool],
        as_of: dt.date,
        owners: tuple[str, ...],
        found: list[EscalationDue],
        listed: dict[str, list[str]],
    ) -> int | None:
        """A 通报 in every later month the instance is still overdue on its first working day.

        Each is a step of its own (recorded, charged and in that month's report), so a 约谈
        citing consecutive months cites 通报 that are on record. Returns a missing year.
        """
        year, month = first.year, first.month
        while True:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
            if dt.date(year, month, 1) > as_of:
                return None
            try:
                day = self.calendar.nth_workday_of_month(year, month, 1)
            except CalendarYearMissing as exc:
                return exc.year
            if day > as_of or not still_open(day):
                return None
            label = f"{year:04d}-{month:02d}"
            listed[step.id].append(label)
            found.append(
                EscalationDue(
                    step, day, owners, label, self.calendar.is_provisional(day), repeat=True
                )
            )
