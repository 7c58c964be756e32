"""One ticket's part in a month's report (服务动态, 通报, 调度会议程), and its cached form.

The monthly report (:func:`kernel.assessment.reports.monthly_report`) is a sum over tickets in
number order plus a few month-wide counts (contacts, registered enterprises, lifecycle steps). A
ticket's part depends only on its own events, the deadline rules, the calendar and the month:
:func:`ticket_month` computes it from the ticket's state, :func:`encode` and :func:`decode` turn
it into the bytes the facts cache stores (:mod:`kernel.assessment.monthly_cache`) and back,
exactly (a decoded part renders the same cells as the computed one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import orjson

from kernel.clocks.compute import BREACHED, ClockEvaluator, require_decided
from kernel.clocks.view import clock_label
from kernel.ledger.projection import TicketState
from kernel.vocabulary import FINAL_STATES, TICKET_STATE_WORDS

#: a due date as cached: the day and whether a provisional calendar year gave it
Due = tuple[dt.date, bool]

_FINAL_WORDS = frozenset(TICKET_STATE_WORDS[s] for s in FINAL_STATES)


@dataclass(frozen=True)
class OverdueItem:
    """A clock still overdue at the month's end (a row of 超期问题)."""

    clock: str
    due: Due
    overdue_workdays: int | None
    owners: tuple[str, ...]


@dataclass(frozen=True)
class NoticeItem:
    """An escalation that lists the ticket in the month's 通报 (a row of 通报名单)."""

    clock: str
    due: Due
    overdue_workdays: int | None
    units: tuple[str, ...]
    step: str


@dataclass(frozen=True)
class AgendaItem:
    """The ticket as a row of the 调度会 agenda (open at the month's end, on the agenda)."""

    territory: str
    summary: str
    primary: str | None
    co_handlers: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class TicketMonth:
    """What one ticket adds to a month's report.

    ``status`` is None when the ticket had nothing by the month's end (collected later, or no
    event dated by then): it is then counted nowhere but in ``collected`` and the names.
    """

    ticket_id: str
    name: str
    category: str
    grade: str | None
    collected: bool
    #: where the ticket comes in the ledger (its first event's seq): the order in which the
    #: month's counts by grade list the grades
    order: int
    status: str | None = None
    provisional: bool = False
    overdue: tuple[OverdueItem, ...] = ()
    notices: tuple[NoticeItem, ...] = ()
    agenda: AgendaItem | None = None


def ticket_month(
    state: TicketState,
    month: str,
    first: dt.date,
    last: dt.date,
    evaluator: ClockEvaluator,
    order: int,
) -> TicketMonth:
    """The ticket's part in the report of ``month`` (``first``..``last``): its state and
    clocks as of ``last`` (``order``: :attr:`TicketMonth.order`). Raises
    :class:`~kernel.errors.CalendarYearMissing` when the calendar cannot decide a clock."""
    data = state.ticket.data
    company = data["enterprise"]
    part = TicketMonth(
        state.ticket_id,
        str(company["name"]),
        str(data["category"]),
        state.grade,
        first <= state.collected_on <= last,
        order,
    )
    if state.collected_on > last or not any(e.date <= last for e in state.events):
        return part
    current = state_at(state, last)
    evaluated = evaluator.evaluate(state, last)
    require_decided(evaluated, f"{month} 月度通报")
    overdue: list[OverdueItem] = []
    notices: list[NoticeItem] = []
    for item in evaluated.instances:
        if item.due is None:
            continue  # due after the last day with data: not overdue this month
        due = (item.due, item.due_provisional)
        if item.state == BREACHED and item.stop is None:
            overdue.append(
                OverdueItem(clock_label(item), due, item.overdue_workdays, tuple(item.owners))
            )
        for esc in item.escalations:
            if esc.step.action == "notice" and esc.month == month:
                notices.append(
                    NoticeItem(
                        clock_label(item),
                        due,
                        item.overdue_workdays,
                        tuple(esc.units),
                        esc.step.title,
                    )
                )
    agenda = None
    if current not in _FINAL_WORDS and on_agenda(state):
        route = state.route
        primary = route.get("primary")
        agenda = AgendaItem(
            str(company["territory"]),
            str(data["summary"]),
            primary,
            tuple(u for u in route.get("co_handlers", []) if u != primary),
            current,
        )
    return replace(
        part,
        status=current,
        provisional=evaluated.provisional,
        overdue=tuple(overdue),
        notices=tuple(notices),
        agenda=agenda,
    )


def on_agenda(state: TicketState) -> bool:
    """Whether a problem goes on the 调度会 agenda: as its route in force says.

    The route follows an overridden grade when the grading recorded the routes of the other
    grades (``by_grade``) or the override sets ``agenda`` itself; a ledger graded before that
    (or by hand, without ``agenda``) falls back on the grade: every C-grade problem.
    """
    route = state.route
    overridden = state.override_grade not in (None, state.rule_grade)
    if "agenda" in state.override_route or (
        "agenda" in route and (state.grade_routes or not overridden)
    ):
        return bool(route["agenda"])
    return state.grade == "C" or bool(route.get("agenda"))


def state_at(state: Any, day: dt.date) -> str:
    """The ticket's state label as of ``day`` (replaying only its events up to then)."""
    label = "已收集"
    words = {kind: TICKET_STATE_WORDS[state] for kind, state in _STATE_AFTER.items()}
    for event in state.events:
        if event.date > day:
            break
        rating = event.payload.get("rating")
        if event.type == "ticket.rated" or (event.type == "ticket.callback_recorded" and rating):
            label = TICKET_STATE_WORDS["rated" if rating == "不满意" else "closed"]
        if event.type == "ticket.callback_recorded" and event.payload.get("resolution") == "有异议":
            label = TICKET_STATE_WORDS["disputed"]
        elif event.type in words:
            label = words[event.type]
    return label


#: the state a ticket is in after each step (the rating and the callback depend on the payload)
_STATE_AFTER = {
    "ticket.reported": "reported",
    "ticket.graded": "graded",
    "ticket.dispatched": "dispatched",
    "ticket.resolved": "resolved",
    "ticket.feedback_given": "feedback_given",
    "ticket.reopened": "dispatched",
    "ticket.returned": "returned",
    "ticket.rerouted": "dispatched",
    "ticket.suspended": "suspended",
    "ticket.resumed": "dispatched",
    "ticket.withdrawn": "withdrawn",
    "ticket.rejected": "rejected",
    "ticket.merged": "merged",
    "ticket.reopen_declined": "closed",
}


# --------------------------------------------------------------------------- cached form


def _due(due: Due) -> list[Any]:
    return [due[0].isoformat(), due[1]]


def encode(part: TicketMonth) -> bytes:
    """The cached form of a part (JSON: dates as ISO text, tuples as lists)."""
    body: list[Any] = [
        part.name,
        part.category,
        part.grade,
        part.collected,
        part.order,
        part.status,
        part.provisional,
        [[o.clock, _due(o.due), o.overdue_workdays, list(o.owners)] for o in part.overdue],
        [[n.clock, _due(n.due), n.overdue_workdays, list(n.units), n.step] for n in part.notices],
        None
        if part.agenda is None
        else [
            part.agenda.territory,
            part.agenda.summary,
            part.agenda.primary,
            list(part.agenda.co_handlers),
            part.agenda.status,
        ],
    ]
    return orjson.dumps(body)


def _undue(value: list[Any]) -> Due:
    return dt.date.fromisoformat(value[0]), bool(value[1])


def decode(ticket_id: str, body: bytes) -> TicketMonth:
    """A part from its cached form (:func:`encode`)."""
    name, category, grade, collected, order, status, provisional, overdue, notices, agenda = (
        orjson.loads(body)
    )
    return TicketMonth(
        ticket_id,
        name,
        category,
        grade,
        collected,
        order,
        status,
        provisional,
        tuple(OverdueItem(c, _undue(d), w, tuple(o)) for c, d, w, o in overdue),
        tuple(NoticeItem(c, _undue(d), w, tuple(u), s) for c, d, w, u, s in notices),
        None
        if agenda is None
        else AgendaItem(agenda[0], agenda[1], agenda[2], tuple(agenda[3]), agenda[4]),
    )
