"""The assessment (考核): indicators, deductions and outcomes for every unit in scope.

Everything is computed from the ledger, the deadline clocks and the scoring rules:

1. **facts** -- every fact that scores carries a date: a resolution clock falling due (closure
   rate), a rating (satisfaction), a clock breach (its first overdue working day), a missed
   contact month (the month's last day), an escalation or spot-check event (its date);
2. **tallies** -- facts are summed per unit and month; a deduction uses the scoring version in
   force on its fact's date, so a mid-year rule change re-scores nothing before it;
3. **scores** -- a period (month, quarter, year) adds up its months' tallies and applies the
   indicators, caps, floors, outcomes and conversion of the version in force at the period's end.

Because a fact's date and value do not depend on when it is computed, the year assessed in one
pass equals the year assembled from its twelve months.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kernel.calendar.workdays import WorkCalendar
from kernel.clocks.compute import BREACHED, ClockEvaluator, TicketClocks, require_decided
from kernel.clocks.monthly import missed_contacts, month_bounds, month_label, months_between
from kernel.ledger.events import Event
from kernel.ledger.ledger import Projector
from kernel.ledger.projection import Enterprise, TicketState
from kernel.rules.deadlines import DeadlineRules
from kernel.rules.reference import Reference
from kernel.rules.scoring import DeductionRule, ScoringHistory, ScoringRules

SATISFIED = ("满意", "基本满意")
_UNKNOWN = object()
ESCALATION_METRICS = {
    "supervision.issued": "supervisions",
    "notice.published": "notices",
    "interview.recommended": "interviews",
}


@dataclass(frozen=True, slots=True)
class Deduction:
    """One deduction against one unit, traced to its facts and to the clause behind it
    (slots: a year's assessment holds hundreds of thousands)."""

    unit: str
    rule: str
    title: str
    clause: str
    points: float
    day: dt.date
    version: int
    indicator: str
    ticket_id: str | None = None
    source: str = ""  # a clock instance key, an event id, or an enterprise-month
    events: tuple[str, ...] = ()
    provisional: bool = False  # dated through a provisional year of the calendar (暂定)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "unit": self.unit,
            "rule": self.rule,
            "title": self.title,
            "clause": self.clause,
            "points": self.points,
            "date": self.day.isoformat(),
            "version": self.version,
            "indicator": self.indicator,
            "ticket_id": self.ticket_id,
            "source": self.source,
            "events": list(self.events),
            "provisional": self.provisional,
        }


@dataclass
class Tally:
    """The raw counts of one unit over some months; tallies add up."""

    due: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    deductions: list[Deduction] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Add another tally into this one."""
        self.due += other.due
        self.on_time += other.on_time
        self.rated += other.rated
        self.satisfied += other.satisfied
        for key, value in other.counts.items():
            self.counts[key] += value
        self.deductions.extend(other.deductions)


Tallies = dict[tuple[str, str], Tally]  # (unit, YYYY-MM) -> tally


def effective_ratings(state: TicketState, as_of: dt.date) -> list[tuple[dt.date, str]]:
    """Each rating by its date, as corrected by a later callback (回访) that verified it."""
    out: list[tuple[dt.date, str]] = []
    for event in state.events:
        if event.date > as_of:
            continue
        if event.type == "ticket.rated":
            out.append((event.date, str(event.payload.get("rating"))))
        elif event.type == "ticket.callback_recorded" and out and event.payload.get("rating"):
            out[-1] = (out[-1][0], str(event.payload["rating"]))
    return out


def corrected_rating(state: TicketState, rated: Event, as_of: dt.date) -> str | None:
    """The rating a callback (回访) recorded by ``as_of`` verified in place of ``rated``'s."""
    corrected: str | None = None
    after = False
    for event in state.events:
        if event.date > as_of:
            break
        if event.event_id == rated.event_id:
            after = True
        elif after and event.type == "ticket.rated":
            break
        elif after and event.type == "ticket.callback_recorded" and event.payload.get("rating"):
            corrected = str(event.payload["rating"])
    return corrected


class FactCollector:
    """Turns the ledger into dated, scored facts per unit and month."""

    def __init__(
        self,
        history: ScoringHistory,
        deadlines: DeadlineRules,
        calendar: WorkCalendar,
        reference: Reference,
    ) -> None:
        self.history = history
        self.deadlines = deadlines
        self.calendar = calendar
        self.reference = reference
        self.evaluator = ClockEvaluator(deadlines, calendar)
        self._closure = self._closure_clocks()
        self._in_force: dict[dt.date, Any] = {}
        self._event_tables: dict[int, dict[str, list[tuple[ScoringRules, DeductionRule]]]] = {}
        self._clock_tables: dict[tuple[dt.date, str], list[tuple[ScoringRules, DeductionRule]]] = {}
        self._next_workdays: dict[dt.date, dt.date] = {}

    def tallies(
        self,
        projector: Projector,
        events: Iterable[Event],
        as_of: dt.date,
        clocks: Mapping[str, TicketClocks] | None = None,
    ) -> Tallies:
        """Every fact dated on or before ``as_of``, summed per unit and month.

        ``clocks`` may carry the tickets' clocks already evaluated as of ``as_of`` (a replay
        that computed them anyway); the others are evaluated here.
        """
        out: Tallies = defaultdict(Tally)

        def tally(unit: str, day: dt.date) -> Tally:
            return out[(unit, month_label(day))]

        for state in projector.tickets.values():
            known = clocks.get(state.ticket_id) if clocks is not None else None
            self.ticket_facts(state, as_of, tally, known)
        for event in events:
            if event.date > as_of:
                continue
            ticket = projector.tickets.get(event.ticket_id) if event.ticket_id else None
            self.event_facts(event, ticket, tally, as_of)
        self.monthly_facts(projector.enterprises.values(), events, as_of, tally)
        return dict(out)

    # ------------------------------------------------------------------ tickets

    def _closure_clocks(self) -> set[str]:
        return {
            i.clock
            for v in self.history.versions
            for i in v.indicators
            if i.measure == "closure" and i.clock
        }

    def ticket_facts(
        self, state: TicketState, as_of: dt.date, tally: Any, known: TicketClocks | None = None
    ) -> None:
        """The facts of one ticket's clocks and ratings by ``as_of``, added through ``tally``."""
        if known is not None and known.as_of != as_of:
            raise ValueError("clocks evaluated as of another day")
        evaluated = known or self.evaluator.evaluate(state, as_of)
        # A clock due after the last day with data is not due by as_of: that needs no data of
        # the next year. Only what as_of itself reaches into must be known.
        require_decided(evaluated, f"截至 {as_of} 的考核")
        closure = self._closure
        for item in evaluated.instances:
            if item.clock.id in closure and item.due is not None and item.due <= as_of:
                for unit in item.owners:
                    entry = tally(unit, item.due)
                    entry.due += 1
                    entry.on_time += int(item.stop is not None and item.stop <= item.due)
            if item.state != BREACHED or item.due is None:
                continue
            day = self._next_workday(item.due)
            if day > as_of:
                continue
            rules = self._clock_rules(day, item.clock.id)
            provisional = item.due_provisional or self.calendar.is_provisional(day)
            for version, rule in rules:
                for unit in item.owners:
                    tally(unit, day).deductions.append(
                        _deduction(
                            rule,
                            version,
                            unit,
                            day,
                            state.ticket_id,
                            item.key,
                            (item.start_event,),
                            provisional,
                        )
                    )
        primary = state.route.get("primary")
        if primary:
            for day, rating in effective_ratings(state, as_of):
                entry = tally(primary, day)
                entry.rated += 1
                entry.satisfied += int(rating in SATISFIED)

    # ------------------------------------------------------------------ events

    def event_facts(
        self, event: Event, ticket: TicketState | None, tally: Any, as_of: dt.date
    ) -> None:
        """The facts of one event dated by ``as_of`` (``ticket``: the final state of the ticket
        it names, if any), added through ``tally``."""
        metric = ESCALATION_METRICS.get(event.type)
        payload = event.payload
        if event.type == "ticket.rated" and event.ticket_id:
            corrected = corrected_rating(ticket, event, as_of) if ticket is not None else None
            if corrected is not None:  # a callback verified another rating: charge that one
                payload = {**payload, "rating": corrected}
        unit_in_payload = event.payload.get("unit")
        if metric and isinstance(unit_in_payload, str):
            tally(unit_in_payload, event.date).counts[metric] += 1
        for version, rule in self._event_rules(event.date, event.type):
            if any(payload.get(k) != v for k, v in rule.payload.items()):
                continue
            unit = self._unit_of(rule, event, ticket)
            if unit:
                tally(unit, event.date).deductions.append(
                    _deduction(
                        rule,
                        version,
                        unit,
                        event.date,
                        event.ticket_id,
                        event.event_id,
                        (event.event_id,),
                    )
                )

    @staticmethod
    def _unit_of(rule: DeductionRule, event: Event, state: TicketState | None) -> str | None:
        if rule.unit == "actor":
            return event.actor
        if rule.unit == "payload.unit":
            unit = event.payload.get("unit")
            return str(unit) if unit else None
        if state is None:
            return None
        if rule.unit == "lead_unit":
            return state.lead_unit
        primary = state.route.get("primary")
        return str(primary) if primary else None

    # ------------------------------------------------------------------ monthly duties

    def monthly_facts(
        self,
        enterprises: Collection[Enterprise],
        events: Iterable[Event],
        as_of: dt.date,
        tally: Any,
        after_duty: Callable[[int], None] | None = None,
    ) -> None:
        """The missed monthly contacts of ``enterprises`` by ``as_of`` (``events``: at least
        every contact event), added through ``tally`` (``after_duty``: called with each duty's
        index in the deadline rules once its facts are added)."""
        wanted = {r.monthly for v in self.history.versions for r in v.deductions if r.monthly}
        if not wanted or not enterprises:
            return
        first = month_label(max(self.history.first_day, min(e.registered_on for e in enterprises)))
        months = months_between(first, month_label(as_of))
        event_list = [e for e in events if e.type == "contact.recorded"]
        for index, duty in enumerate(self.deadlines.monthly):
            if duty.id not in wanted or duty.per != "enterprise":
                continue
            rules_of: dict[str, tuple[dt.date, list[tuple[ScoringRules, DeductionRule]]]] = {}
            for missed in missed_contacts(duty, enterprises, event_list, months, as_of):
                found = rules_of.get(missed.month)  # the same for every enterprise of a month
                if found is None:
                    day = month_bounds(missed.month)[1]
                    found = rules_of[missed.month] = (
                        day,
                        self._rules_for(day, lambda r, d=duty.id: r.monthly == d),
                    )
                day, rules = found
                for version, rule in rules:
                    tally(missed.lead_unit, day).deductions.append(
                        _deduction(
                            rule,
                            version,
                            missed.lead_unit,
                            day,
                            None,
                            f"{missed.enterprise}@{missed.month}",
                            (),
                        )
                    )
            if after_duty is not None:
                after_duty(index)

    def _event_rules(
        self, day: dt.date, event_type: str
    ) -> list[tuple[ScoringRules, DeductionRule]]:
        """``_rules_for(day, lambda r: r.event == event_type)``, from a table per version and
        day (every event asks: the replay's hottest rule lookup)."""
        version = self._in_force.get(day, _UNKNOWN)
        if version is _UNKNOWN:
            version = self._in_force[day] = self.history.in_force(day)
        if version is None:
            return []
        table = self._event_tables.get(id(version))
        if table is None:
            table = self._event_tables[id(version)] = defaultdict(list)
            for rule in version.deductions:
                if rule.event:
                    table[rule.event].append((version, rule))
        return table.get(event_type, [])

    def _clock_rules(self, day: dt.date, clock_id: str) -> list[tuple[ScoringRules, DeductionRule]]:
        """``_rules_for(day, lambda r: r.clock == clock_id)``, remembered per day and clock."""
        key = (day, clock_id)
        found = self._clock_tables.get(key)
        if found is None:
            found = self._clock_tables[key] = self._rules_for(day, lambda r: r.clock == clock_id)
        return found

    def _next_workday(self, day: dt.date) -> dt.date:
        """The first working day after ``day`` (a breach's first overdue day), remembered."""
        found = self._next_workdays.get(day)
        if found is None:
            found = self._next_workdays[day] = self.calendar.add_workdays(day, 1)
        return found

    def _rules_for(self, day: dt.date, match: Any) -> list[tuple[ScoringRules, DeductionRule]]:
        version = self.history.in_force(day)
        if version is None:
            return []
        return [(version, rule) for rule in version.deductions if match(rule)]


def _deduction(
    rule: DeductionRule,
    version: ScoringRules,
    unit: str,
    day: dt.date,
    ticket_id: str | None,
    source: str,
    events: tuple[str, ...],
    provisional: bool = False,
) -> Deduction:
    return Deduction(
        unit=unit,
        rule=rule.id,
        title=rule.title,
        clause=rule.clause,
        points=rule.points,
        day=day,
        version=version.version,
        indicator=rule.indicator,
        ticket_id=ticket_id,
        source=source,
        events=events,
        provisional=provisional,
    )


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True)
class IndicatorResult:
    """One indicator of one unit."""

    id: str
    title: str
    clause: str
    full: float
    points: float
    numerator: int | None = None
    denominator: int | None = None
    applicable: bool = True
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class UnitResult:
    """The assessment of one unit for one period."""

    unit: str
    name: str
    kind: str
    indicators: tuple[IndicatorResult, ...]
    deductions: tuple[Deduction, ...]
    deduction_points: float
    score: float
    converted: float
    weight: float
    outcomes: tuple[tuple[str, str], ...]
    metrics: dict[str, float | None]
    rank: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "rank": self.rank,
            "unit": self.unit,
            "name": self.name,
            "kind": self.kind,
            "score": self.score,
            "converted": self.converted,
            "weight": self.weight,
            "indicators": [i.to_dict() for i in self.indicators],
            "deduction_points": self.deduction_points,
            "deductions": [d.to_dict() for d in self.deductions],
            "outcomes": [{"id": i, "title": t} for i, t in self.outcomes],
            "metrics": self.metrics,
        }


@dataclass(frozen=True)
class Assessment:
    """Every unit in scope, ranked, for one period."""

    label: str
    start: dt.date
    end: dt.date
    version: int
    units: tuple[UnitResult, ...]
    #: the level assessed, in a rule folder that extends another (汉台区); '' otherwise
    level: str = ""

    def unit(self, unit_id: str) -> UnitResult:
        """One unit's result."""
        for result in self.units:
            if result.unit == unit_id:
                return result
        raise KeyError(unit_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "period": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "scoring_version": self.version,
            "units": [u.to_dict() for u in self.units],
        }


def _round(value: float) -> float:
    return round(value + 1e-9, 2)


def score_period(
    label: str,
    start: dt.date,
    end: dt.date,
    tallies: Tallies,
    history: ScoringHistory,
    reference: Reference,
) -> Assessment:
    """Apply the scoring version in force at ``end`` to the tallies of the months in the period."""
    rules = history.in_force(end) or history.versions[0]
    months = set(months_between(month_label(start), month_label(end)))
    totals: dict[str, Tally] = defaultdict(Tally)
    for (unit, month), tally in sorted(tallies.items()):
        if month in months:
            totals[unit].add(tally)
    units = [u for u in reference.units.values() if u.kind in rules.scope and reference.assessed(u)]
    results = [_score_unit(u.id, u.name, u.kind, totals.get(u.id, Tally()), rules) for u in units]
    ranked = sorted(results, key=lambda r: (-r.score, r.unit))
    final: list[UnitResult] = []
    previous: float | None = None
    rank = 0
    for position, result in enumerate(ranked, start=1):
        if result.score != previous:
            rank, previous = position, result.score
        final.append(UnitResult(**{**result.__dict__, "rank": rank}))
    return Assessment(label, start, end, rules.version, tuple(final), reference.own_level)


def _score_unit(unit: str, name: str, kind: str, tally: Tally, rules: ScoringRules) -> UnitResult:
    deductions = sorted(tally.deductions, key=lambda d: (d.day, d.rule, d.source))
    by_indicator: dict[str, float] = defaultdict(float)
    by_rule: dict[str, float] = defaultdict(float)
    for item in deductions:
        by_rule[item.rule] += item.points
    caps = {d.id: d.cap for d in rules.deductions if d.cap is not None}
    for rule_id, points in by_rule.items():
        capped = min(points, caps[rule_id]) if rule_id in caps else points
        indicator = next(d.indicator for d in deductions if d.rule == rule_id)
        by_indicator[indicator] += capped
    results = []
    for ind in rules.indicators:
        if ind.formula == "ratio":
            num, den = (
                (tally.on_time, tally.due)
                if ind.measure == "closure"
                else (tally.satisfied, tally.rated)
            )
            if den == 0:
                note = "无应办结事项" if ind.measure == "closure" else "无评价"
                points = ind.points if ind.when_empty == "full" else 0.0
                results.append(
                    IndicatorResult(
                        ind.id, ind.title, ind.clause, ind.points, points, num, den, False, note
                    )
                )
            else:
                points = _round(ind.points * num / den)
                results.append(
                    IndicatorResult(
                        ind.id,
                        ind.title,
                        ind.clause,
                        ind.points,
                        points,
                        num,
                        den,
                        True,
                        f"{num}/{den}",
                    )
                )
        else:
            lost = by_indicator.get(ind.id, 0.0)
            points = _round(max(ind.floor, ind.points - lost))
            results.append(
                IndicatorResult(
                    ind.id, ind.title, ind.clause, ind.points, points, note=f"扣 {_round(lost)} 分"
                )
            )
    score = _round(sum(r.points for r in results))
    weight = rules.weights.get(unit, rules.weight)
    converted = _round(score / rules.total * weight) if rules.total else 0.0
    rate = {r.id: r for r in results}
    closure = next((r for r in results if _measure(rules, r.id) == "closure"), None)
    satisfaction = next((r for r in results if _measure(rules, r.id) == "satisfaction"), None)
    metrics: dict[str, float | None] = {
        "score": score,
        "closure_rate": _ratio(closure),
        "satisfaction_rate": _ratio(satisfaction),
        "daily_points": sum(
            r.points
            for r in results
            if r.id in by_indicator or _formula(rules, r.id) == "deductions"
        ),
        "deduction_points": _round(sum(by_indicator.values())),
        "supervisions": float(tally.counts.get("supervisions", 0)),
        "notices": float(tally.counts.get("notices", 0)),
        "interviews": float(tally.counts.get("interviews", 0)),
        "zero_indicators": float(sum(1 for r in rate.values() if r.applicable and r.points == 0)),
    }
    outcomes: list[tuple[str, str]] = []
    for outcome in rules.outcomes:
        if any(o in {i for i, _ in outcomes} for o in outcome.unless):
            continue
        if any(_test(metrics.get(t.metric), t.op, t.value) for t in outcome.any):
            outcomes.append((outcome.id, outcome.title))
    return UnitResult(
        unit=unit,
        name=name,
        kind=kind,
        indicators=tuple(results),
        deductions=tuple(deductions),
        deduction_points=_round(sum(by_indicator.values())),
        score=score,
        converted=converted,
        weight=weight,
        outcomes=tuple(outcomes),
        metrics=metrics,
    )


def _measure(rules: ScoringRules, indicator: str) -> str | None:
    return next((i.measure for i in rules.indicators if i.id == indicator), None)


def _formula(rules: ScoringRules, indicator: str) -> str | None:
    return next((i.formula for i in rules.indicators if i.id == indicator), None)


def _ratio(result: IndicatorResult | None) -> float | None:
    if result is None or not result.applicable or not result.denominator:
        return None
    return (result.numerator or 0) / result.denominator


def _test(value: float | None, op: str, target: float) -> bool:
    if value is None:
        return False
    return {
        "eq": value == target,
        "ne": value != target,
        "lt": value < target,
        "le": value <= target,
        "gt": value > target,
        "ge": value >= target,
    }[op]


# --------------------------------------------------------------------------- periods


def period_bounds(period: str) -> tuple[str, dt.date, dt.date]:
    """``2026``, ``2026-Q2`` or ``2026-05`` → its label, first and last day."""
    if len(period) == 4 and period.isdigit():
        year = int(period)
        return f"{year} 年", dt.date(year, 1, 1), dt.date(year, 12, 31)
    if len(period) == 7 and period[4:6] == "-Q" and period[6] in "1234":
        year, quarter = int(period[:4]), int(period[6])
        first = dt.date(year, 3 * quarter - 2, 1)
        last = month_bounds(f"{year:04d}-{3 * quarter:02d}")[1]
        return f"{year} 年第 {quarter} 季度", first, last
    first, last = month_bounds(period)
    return f"{first.year} 年 {first.month} 月", first, last


def assess(
    collector: FactCollector,
    projector: Projector,
    events: list[Event],
    period: str,
    *,
    monthly: bool = False,
) -> Assessment:
    """Assess every unit in scope for ``period`` (one pass, or month by month when ``monthly``)."""
    label, start, end = period_bounds(period)
    if not monthly:
        tallies = collector.tallies(projector, events, end)
    else:
        tallies = {}
        for month in months_between(month_label(start), month_label(end)):
            month_end = month_bounds(month)[1]
            for key, tally in collector.tallies(projector, events, month_end).items():
                if key[1] == month:
                    tallies[key] = tally
    return score_period(label, start, end, tallies, collector.history, collector.reference)
