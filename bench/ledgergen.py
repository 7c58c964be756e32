"""A deterministic synthetic ledger: a year of enterprises, contacts and tickets.

About one enterprise per six tickets is registered (January to June), each records a contact in
roughly half of its months, and every ticket lives the life of docs/policy.md §2: collected →
reported → graded (with the rules' own grade and route, as ``Ledger.grade`` would write them) →
sometimes overridden → dispatched → (D: monthly progress reports) → resolved → feedback → rated,
and after a 不满意 rating reopened for a second round. Delays are drawn so that most clocks are
met, some breach (督办/通报/约谈 follow), and a share of tickets is still open on 31 December.

Every clock that a ticket starts must end, escalations included, inside the calendar's last year
(``ClockEvaluator`` raises ``CalendarError`` for a deadline in a year without holiday data), so a
ticket whose next step would start a clock too late in the year simply stops there.

:func:`build_database` writes the events straight into a :class:`SqliteStorage` through its
``transaction()`` and ``tx.insert`` -- the path ``Ledger.submit_many`` ends in, without the
per-event schema validation and transition check, which at about 1,000 events/s would take a
quarter of an hour for 10⁶ events. :func:`verify_prefix` submits a prefix through
``Ledger.submit_many`` instead: it measures that path and proves the ledger accepts every
generated event. A ledger of N events is the first N events, in ledger order, of a year generated
slightly larger (:func:`generate`), so it ends in mid-December.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import CACHE, YEAR
from bench.plain import PlainEvaluator, merge, proposals
from bench.tickets import TicketMaker, ticket_data
from kernel.calendar.workdays import WorkCalendar
from kernel.evaluation.ticket import flatten
from kernel.ledger.events import OFFICE, Event
from kernel.rules.fields import ticket_fields
from kernel.rules.model import RuleSet

GENERATOR_VERSION = 1  # bump when the generated events change: old cache files are ignored
SEED = 7_2026
TICKETS_PER_ENTERPRISE = 6
#: a low estimate of the events per ticket, registrations and contacts included (7.8 measured):
#: :func:`generate` makes a little more than asked and cuts the tail
EVENTS_PER_TICKET = 7.5
RESOLVE_DAYS = {"A": 5, "B": 10, "C": 20}
ESCALATION_SPAN = 6  # working days from a due date to the last escalation step computed


def _defaults() -> dict[str, Any]:
    return {
        path: spec.default for path, spec in ticket_fields().items() if spec.default is not None
    }


class LedgerSynth:
    """Generates the events; the same ``seed`` and size give the same ledger."""

    def __init__(self, ruleset: RuleSet, seed: int = SEED) -> None:
        assert ruleset.calendar is not None
        self.ruleset = ruleset
        self.calendar: WorkCalendar = ruleset.calendar
        self.rng = random.Random(seed)
        self.maker = TicketMaker(ruleset.reference, seed)
        self.plain = PlainEvaluator(ruleset)
        self.fields = ticket_fields()
        self.defaults = _defaults()
        self.year_end = dt.date(YEAR, 12, 31)
        self.workdays = [
            dt.date.fromordinal(o)
            for o in range(dt.date(YEAR, 1, 1).toordinal(), self.year_end.toordinal() + 1)
            if self.calendar.is_workday(dt.date.fromordinal(o))
        ]
        self.index = {d: i for i, d in enumerate(self.workdays)}
        self.months: dict[int, list[dt.date]] = {
            m: [d for d in self.workdays if d.month == m] for m in range(1, 13)
        }
        self.rules_info = {"fingerprint": ruleset.fingerprint, "versions": ruleset.versions()}
        self._latest: dict[int, dt.date] = {}

    # ------------------------------------------------------------------ calendar helpers

    def later(self, day: dt.date, workdays: int) -> dt.date:
        """``workdays`` working days after ``day`` (a date past the year is returned as such)."""
        if workdays <= 0:
            return day
        try:
            return self.calendar.add_workdays(day, workdays)
        except Exception:  # past the calendar: the step falls outside the simulated year
            return self.year_end + dt.timedelta(days=workdays)

    def can_start(self, day: dt.date, limit: int) -> bool:
        """Whether a clock of ``limit`` working days started on ``day`` ends, escalations
        included, inside the year (so it can be evaluated as of 31 December)."""
        latest = self._latest.get(limit)
        if latest is None:
            latest = max(
                d for d in self.workdays if self.later(d, limit + ESCALATION_SPAN) <= self.year_end
            )
            self._latest[limit] = latest
        return day <= latest

    # ------------------------------------------------------------------ the year

    def events(self, tickets: int) -> list[dict[str, Any]]:
        """Every event of the year for about ``tickets`` tickets, in ledger order with ids."""
        rng = self.rng
        dated: list[tuple[dt.date, int, dict[str, Any]]] = []
        serial = 0

        def emit(day: dt.date, event: dict[str, Any]) -> None:
            nonlocal serial
            event["date"] = day.isoformat()
            dated.append((day, serial, event))
            serial += 1

        enterprises = []
        spring = [d for d in self.workdays if d.month <= 6]
        for number in range(max(1, tickets // TICKETS_PER_ENTERPRISE)):
            info = self.maker.enterprise(number)
            code = info.pop("credit_code")
            registered = rng.choice(spring)
            emit(
                registered,
                {
                    "type": "enterprise.registered",
                    "actor": OFFICE,
                    "enterprise": code,
                    "payload": info,
                },
            )
            enterprises.append((code, info, registered))
            for month in range(registered.month + 1, 13):
                if rng.random() < 0.45:
                    day = rng.choice(self.months[month])
                    by = rng.choices(("lead_leader", "liaison_cadre", "other"), (3, 6, 1))[0]
                    emit(
                        day,
                        {
                            "type": "contact.recorded",
                            "actor": info["lead_unit"],
                            "enterprise": code,
                            "payload": {"by": by, "method": rng.choice(("走访", "电话", "座谈"))},
                        },
                    )
        for number in range(tickets):
            code, info, registered = rng.choice(enterprises)
            for day, event in self._ticket(number, code, info, registered):
                emit(day, event)
        dated.sort(key=lambda item: (item[0], item[1]))
        out = []
        for index, (_, _, event) in enumerate(dated, start=1):
            event["event_id"] = f"E{index:08d}"
            out.append(event)
        return out

    def _ticket(
        self, number: int, code: str, info: dict[str, Any], registered: dt.date
    ) -> Iterator[tuple[dt.date, dict[str, Any]]]:
        rng = self.rng
        ticket_id = f"HZ-{YEAR}-{number + 1:06d}"
        first = max(10, self.index[registered])
        collected = self.workdays[rng.randrange(first, min(len(self.workdays), first + 230))]
        if not self.can_start(collected, 2):
            return
        problem = self.maker.problem()
        lead = info["lead_unit"]
        base = {"ticket_id": ticket_id}
        yield (
            collected,
            {
                **base,
                "type": "ticket.collected",
                "actor": lead,
                "enterprise": code,
                "payload": problem,
            },
        )
        day = self.later(collected, rng.choices((0, 1, 2, 3, 4), (20, 45, 25, 7, 3))[0])
        if not self.can_start(day, 1):
            return
        yield day, {**base, "type": "ticket.reported", "actor": lead, "payload": {}}

        # The rules' own result, as Ledger.grade records it (the plain evaluator gives the
        # kernel's answers; the evaluation benchmark checks that on its ticket mix).
        values = self._values(ticket_id, collected, {"credit_code": code, **info}, problem)
        grade_rule = self.plain.first_rule(values)
        assert grade_rule is not None, "the default grading rules decide every ticket"
        grade = str(grade_rule.then["grade"])
        matched = self.plain.route_rules(values, grade)
        outcome = merge(grade, proposals(matched, {**values, "grade": grade}))
        route = {
            "primary": outcome.primary,
            "co_handlers": list(outcome.co_handlers),
            "feedback_owner": outcome.feedback_owner,
            "coordinators": list(outcome.coordinators),
            "agenda": outcome.agenda,
            "report_upward": outcome.report_upward,
        }
        day = self.later(day, rng.choices((0, 1, 2), (60, 30, 10))[0])
        yield (
            day,
            {
                **base,
                "type": "ticket.graded",
                "actor": OFFICE,
                "payload": {
                    "grade": grade,
                    "grade_rule": grade_rule.id,
                    "route": route,
                    "route_rules": [r.id for r in matched],
                    "rules": self.rules_info,
                },
            },
        )
        if rng.random() < 0.03:
            grade = rng.choice([g for g in "ABCD" if g != grade])
            yield (
                day,
                {
                    **base,
                    "type": "ticket.overridden",
                    "actor": OFFICE,
                    "payload": {"grade": grade, "reason": "研判有误，助商稳企办改判"},
                },
            )
        primary = str(outcome.primary)
        handlers = [primary, *(u for u in outcome.co_handlers if u != primary)]
        owner = str(outcome.feedback_owner or lead)
        limit = RESOLVE_DAYS.get(grade, 20)
        day = self.later(day, rng.choices((0, 1, 2), (50, 35, 15))[0])
        if not self.can_start(day, limit):
            return
        yield day, {**base, "type": "ticket.dispatched", "actor": OFFICE, "payload": {}}
        for round_no in (1, 2):
            opened = day
            if grade == "D":
                end = self.later(opened, rng.randrange(25, 160))
                for month in range(opened.month, min(end.month, 12) + 1):
                    last = self.calendar.last_workday_of_month(YEAR, month)
                    if opened < last < end and rng.random() < 0.85:
                        report_day = max(opened, self.calendar.previous_workday(last))
                        yield (
                            report_day,
                            {
                                **base,
                                "type": "ticket.progress_reported",
                                "actor": primary,
                                "payload": {"summary": "本月进展"},
                            },
                        )
            else:
                end = self.later(opened, max(1, round(limit * rng.uniform(0.2, 1.5))))
            if not self.can_start(end, 2):
                return  # still open on 31 December
            resolver = handlers[1] if len(handlers) > 1 and rng.random() < 0.1 else primary
            yield (
                end,
                {
                    **base,
                    "type": "ticket.resolved",
                    "actor": resolver,
                    "payload": {"summary": "已办结"},
                },
            )
            day = self.later(end, rng.choices((0, 1, 2, 3, 4), (30, 35, 20, 10, 5))[0])
            if not self.can_start(day, 5):
                return
            yield (
                day,
                {
                    **base,
                    "type": "ticket.feedback_given",
                    "actor": owner,
                    "payload": {"summary": "已反馈企业"},
                },
            )
            day = self.later(day, rng.choices((0, 1, 3, 5, 7), (25, 30, 25, 12, 8))[0])
            if day > self.year_end:
                return
            unhappy = 7 if round_no == 1 else 0
            rating = rng.choices(("满意", "基本满意", "不满意"), (82, 11, unhappy))[0]
            yield (
                day,
                {
                    **base,
                    "type": "ticket.rated",
                    "actor": OFFICE,
                    "payload": {"rating": rating},
                },
            )
            if rating != "不满意":
                return
            day = self.later(day, rng.choice((0, 1, 2)))
            if not self.can_start(day, limit):
                return
            yield (
                day,
                {
                    **base,
                    "type": "ticket.reopened",
                    "actor": OFFICE,
                    "payload": {"summary": "企业不满意，重新办理"},
                },
            )

    def _values(
        self,
        ticket_id: str,
        collected: dt.date,
        enterprise: dict[str, Any],
        problem: dict[str, Any],
    ) -> dict[str, Any]:
        data = ticket_data(ticket_id, collected.isoformat(), enterprise, problem)
        values = flatten(data)
        for path, default in self.defaults.items():
            values.setdefault(path, default)
        return values


# ---------------------------------------------------------------------- the database


def tickets_for(events: int) -> int:
    """How many tickets give about ``events`` events (a little more; the tail is cut)."""
    return max(10, int(events / EVENTS_PER_TICKET * 1.04) + 10)


def _year(ruleset: RuleSet, events: int) -> list[dict[str, Any]]:
    """The generated year whose first ``events`` events are the ledger of that size."""
    tickets = tickets_for(events)
    while True:
        out = LedgerSynth(ruleset).events(tickets)
        if len(out) >= events:
            return out
        tickets = int(tickets * events / len(out) * 1.02) + 10


def generate(ruleset: RuleSet, events: int) -> list[dict[str, Any]]:
    """Exactly ``events`` events: the first ones, in ledger order, of a slightly larger year."""
    return _year(ruleset, events)[:events]


def following(ruleset: RuleSet, events: int, count: int) -> list[dict[str, Any]]:
    """The ``count`` events after the ledger of ``events`` events in its generated year (what
    the next day or so adds: later steps of open tickets, new tickets, contacts), cached as
    JSON beside the ledger."""
    import json

    path = CACHE / f"ledger-{events}-g{GENERATOR_VERSION}-next{count}.json"
    if path.exists():
        data: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return data
    tail = _year(ruleset, events)[events : events + count]
    if len(tail) < count:
        raise RuntimeError(f"the generated year has only {len(tail)} events after {events}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(tail, ensure_ascii=False), encoding="utf-8")
    return tail


def cache_path(events: int) -> Path:
    """Where the database of ``events`` events is cached."""
    return CACHE / f"ledger-{events}-g{GENERATOR_VERSION}.db"


def build_database(ruleset: RuleSet, events: int, *, log: Any = None) -> Path:
    """The cached SQLite ledger of ``events`` events, generated and stored if missing."""
    from kernel.storage.sqlite import SqliteStorage

    path = cache_path(events)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = generate(ruleset, events)
    generated = time.perf_counter() - started
    tmp = path.with_suffix(".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}.lock")):
        leftover.unlink(missing_ok=True)
    storage = SqliteStorage(str(tmp))
    try:
        for start in range(0, len(data), 50_000):
            with storage.transaction() as tx:
                for item in data[start : start + 50_000]:
                    tx.insert(Event.from_dict(item))
    finally:
        storage.close()
    # One file, no WAL beside it: readers of the cache never need to recover anything.
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    tmp.rename(path)
    if log is not None:
        log(
            f"built {path.name}: {events:,} events generated in {generated:.1f} s, "
            f"stored in {time.perf_counter() - started - generated:.1f} s"
        )
    return path


def verify_prefix(ruleset: RuleSet, events: list[dict[str, Any]]) -> tuple[int, float]:
    """Submit ``events`` through ``Ledger.submit_many`` into a fresh in-memory-file ledger.

    Returns (accepted, seconds). Raises if the ledger rejects any generated event, which would
    mean the generator writes histories the kernel forbids.
    """
    import tempfile

    from kernel.ledger.ledger import Ledger
    from kernel.storage.sqlite import SqliteStorage

    with tempfile.TemporaryDirectory() as folder:
        storage = SqliteStorage(str(Path(folder) / "verify.db"))
        try:
            ledger = Ledger(storage, ruleset.reference)
            started = time.perf_counter()
            accepted = 0
            for start in range(0, len(events), 1000):
                batch = [(e, None, ()) for e in events[start : start + 1000]]
                for outcome in ledger.submit_many(batch):
                    if isinstance(outcome, Exception):
                        raise RuntimeError(f"the ledger rejected a generated event: {outcome}")
                    accepted += 1
            return accepted, time.perf_counter() - started
        finally:
            storage.close()


def ticket_states(ruleset: RuleSet, count: int) -> list[Any]:
    """``count`` ticket states of a small synthetic year, projected in memory (no SQLite)."""
    from kernel.ledger.ledger import Projector

    events = LedgerSynth(ruleset, SEED + 1).events(count + count // 10)
    projector = Projector(ruleset.reference)
    for seq, item in enumerate(events, start=1):
        projector.feed(Event.from_dict(item, seq=seq))
    states = list(projector.tickets.values())
    if len(states) < count:
        raise RuntimeError(f"only {len(states)} tickets generated, {count} wanted")
    return states[:count]
