"""State derived from events: enterprises and tickets are never edited in place.

:func:`apply` is the single place that decides whether an event is a legal next step. The
ledger calls it before storing anything, so an illegal transition is rejected with a plain
reason and nothing is written; replaying stored events through it rebuilds the same state.

Life of a problem (docs/policy.md §2, §8)::

    collected → reported → graded → dispatched → resolved → feedback_given → rated → closed
                                     ↑ │ ↑  ↑                                 │ 不满意 / 回访有异议
                          rerouted ──┘ │ │  └──────── reopened ←──────────────┘ (or reopen_declined)
                                returned │
                         suspended ⇄ resumed     withdrawn / rejected / merged: final

Which of these steps a rule folder allows further, and who may take them, is narrowed by
rules/lifecycle.yaml through the ledger's step guard (:mod:`kernel.clocks.steps`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kernel.errors import InputError
from kernel.evaluation.ticket import Ticket, trusted_ticket, validate_ticket
from kernel.ledger.events import LINK_PREFIX, OFFICE, Event
from kernel.rules.reference import Reference
from kernel.vocabulary import FINAL_STATES, TICKET_STATE_WORDS

_T = TypeVar("_T")

ASSIGNMENT_FIELDS = (
    "name",
    "territory",
    "industry",
    "employees",
    "lead_unit",
    "lead_leader",
    "liaison_cadre",
    "working_group",
    "plan",
)


class TransitionRejected(InputError):
    """An event that is not a legal next step; nothing was stored."""

    def __init__(self, event: Event, reason: str) -> None:
        self.event = event
        self.reason = reason
        super().__init__(f"事件 {event.event_id}（{event.label}）被拒绝：{reason}")


@dataclass(frozen=True)
class Enterprise:
    """An enterprise and its "四个一" assignment as of its latest event."""

    credit_code: str
    assignment: dict[str, Any]
    registered_on: dt.date
    changes: tuple[tuple[dt.date, str, Any, Any], ...] = ()
    #: registered by a lower level's referral (上下联动): its monthly contacts are owed there
    linked: bool = False

    def get(self, name: str) -> Any:
        """One assignment field (None when not set)."""
        return self.assignment.get(name)


def apply_enterprise(current: Enterprise | None, event: Event) -> Enterprise:
    """The enterprise after ``event`` (registered or changed)."""
    code = event.enterprise or ""
    if event.type == "enterprise.registered":
        if current is not None:
            raise TransitionRejected(event, f"企业 {code} 已于 {current.registered_on} 登记")
        linked = event.event_id.startswith(LINK_PREFIX)
        return Enterprise(code, dict(event.payload), event.date, linked=linked)
    if current is None:
        raise TransitionRejected(event, f"企业 {code} 尚未登记，不能变更")
    if event.date < current.registered_on:
        raise TransitionRejected(
            event, f"变更日期 {event.date} 早于企业登记日期 {current.registered_on}"
        )
    changes = list(current.changes)
    assignment = dict(current.assignment)
    for name, value in event.payload.items():
        changes.append((event.date, name, assignment.get(name), value))
        assignment[name] = value
    return _evolve(current, assignment=assignment, changes=tuple(changes))


@dataclass(frozen=True)
class Round:
    """One resolution round: opened by dispatch or reopening, closed by resolution."""

    opened_on: dt.date
    opened_by: str  # ticket.dispatched | ticket.reopened
    resolved_on: dt.date | None = None


@dataclass(frozen=True)
class TicketState:
    """Everything known about one problem, derived from its events."""

    ticket_id: str
    enterprise: str
    ticket: Ticket
    state: str
    collected_on: dt.date
    reported_on: dt.date | None = None
    graded_on: dt.date | None = None
    rule_grade: str | None = None
    rule_route: dict[str, Any] = field(default_factory=dict)
    rule_ids: tuple[str, ...] = ()
    #: the route slots the rules give for each other grade (``by_grade`` of ticket.graded)
    grade_routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    override_grade: str | None = None
    override_route: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[Event, ...] = ()
    dispatched_on: dt.date | None = None
    rounds: tuple[Round, ...] = ()
    progress_reports: tuple[dt.date, ...] = ()
    feedback_on: dt.date | None = None
    rated_on: dt.date | None = None
    rating: str | None = None
    ratings: tuple[tuple[dt.date, str], ...] = ()
    #: an extension request awaiting the office's decision: (date, working days)
    extension_pending: tuple[dt.date, int] | None = None
    #: approved extensions: (date, working days, round number)
    extensions: tuple[tuple[dt.date, int, int], ...] = ()
    returns: tuple[dt.date, ...] = ()
    merged_into: str | None = None
    events: tuple[Event, ...] = ()

    @property
    def grade(self) -> str | None:
        """The grade in force: the office's override if any, else the rules' result."""
        return self.override_grade or self.rule_grade

    @property
    def route(self) -> dict[str, Any]:
        """The route in force: the rules' route, then what the rules give for an overridden
        grade (coordinators, agenda …), then the slots the office's override sets itself."""
        merged = dict(self.rule_route)
        if self.override_grade and self.override_grade != self.rule_grade:
            merged.update(self.grade_routes.get(self.override_grade, {}))
        merged.update(self.override_route)
        return merged

    @property
    def handlers(self) -> tuple[str, ...]:
        """Primary handler first, then co-handlers."""
        route = self.route
        primary = route.get("primary")
        co = [u for u in route.get("co_handlers", []) if u != primary]
        return tuple(([primary] if primary else []) + co)

    @property
    def lead_unit(self) -> str:
        """The enterprise's lead unit when the problem was collected."""
        return str(self.ticket.data["enterprise"]["lead_unit"])

    @property
    def resolved_on(self) -> dt.date | None:
        """The date of the latest resolution (None while the current round is open)."""
        return self.rounds[-1].resolved_on if self.rounds else None

    @property
    def closed(self) -> bool:
        """True once rated 满意 or 基本满意."""
        return self.state == "closed"

    @property
    def final(self) -> bool:
        """True once closed, withdrawn, not accepted or merged."""
        return self.state in FINAL_STATES

    @property
    def round_number(self) -> int:
        """The number of the current resolution round (0 before dispatch)."""
        return len(self.rounds)

    @property
    def state_label(self) -> str:
        """The state in Chinese."""
        return TICKET_STATE_WORDS.get(self.state, self.state)


def ticket_from_collection(
    event: Event, enterprise: Enterprise, reference: Reference, *, trusted: bool = False
) -> Ticket:
    """The kernel's ticket for a ``ticket.collected`` event, with the enterprise as of then."""
    payload = event.payload
    info: dict[str, Any] = {"credit_code": enterprise.credit_code}
    for name in (
        "name",
        "territory",
        "industry",
        "employees",
        "lead_unit",
        "lead_leader",
        "liaison_cadre",
    ):
        if enterprise.get(name) is not None:
            info[name] = enterprise.get(name)
    data: dict[str, Any] = {
        "ticket_id": event.ticket_id,
        "collected_on": event.date.isoformat(),
        "category": payload["category"],
        "summary": payload["summary"],
        "enterprise": info,
        "assessment": dict(payload["assessment"]),  # defaults are filled in this copy
    }
    for name in ("tags", "amount"):
        if name in payload:
            data[name] = payload[name]
    if trusted:
        return trusted_ticket(data, source=f"事件 {event.event_id}")
    # ``data`` is this ticket's own (its lists are the event's, as in a replay): not copied
    return validate_ticket(data, reference, source=f"事件 {event.event_id}", take=True)


def _evolve(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace`` for the frozen states here, without its per-call field walk.

    Replays apply millions of events; ``replace`` was a third of their time. These dataclasses
    have no ``__post_init__`` and no derived fields, so copying the attributes is equivalent.
    """
    new = object.__new__(type(obj))
    values = dict(obj.__dict__)
    values.update(changes)
    object.__setattr__(new, "__dict__", values)
    return new


def _expect(event: Event, state: TicketState, *allowed: str) -> None:
    if state.state not in allowed:
        wanted = "、".join(TICKET_STATE_WORDS[s] for s in allowed)
        raise TransitionRejected(
            event,
            f"办理单 {state.ticket_id} 当前状态为「{state.state_label}」，只有「{wanted}」时才能{event.label}",
        )


def _not_before(event: Event, day: dt.date | None, what: str) -> None:
    if day is not None and event.date < day:
        raise TransitionRejected(event, f"日期 {event.date} 早于{what}日期 {day}")


def apply_ticket(
    current: TicketState | None,
    event: Event,
    *,
    enterprise: Enterprise | None = None,
    reference: Reference | None = None,
    trusted: bool = False,
) -> TicketState:
    """The ticket after ``event``, or :class:`TransitionRejected` when it is not a legal step.

    ``trusted`` skips re-checking a collected ticket against the contract: for events that
    passed it when they were stored (replays), not for new ones.
    """
    if event.type == "ticket.collected":
        if current is not None:
            raise TransitionRejected(event, f"办理单 {event.ticket_id} 已存在")
        if enterprise is None:
            raise TransitionRejected(event, f"企业 {event.enterprise} 尚未登记")
        if event.date < enterprise.registered_on:
            raise TransitionRejected(
                event, f"收集日期 {event.date} 早于企业登记日期 {enterprise.registered_on}"
            )
        if reference is None:
            raise ValueError("reference data are needed to check a collected ticket")
        ticket = ticket_from_collection(event, enterprise, reference, trusted=trusted)
        return TicketState(
            ticket_id=str(event.ticket_id),
            enterprise=enterprise.credit_code,
            ticket=ticket,
            state="collected",
            collected_on=event.date,
            events=(event,),
        )
    if current is None:
        raise TransitionRejected(event, f"办理单 {event.ticket_id} 不存在")
    if event.enterprise is not None and event.enterprise != current.enterprise:
        raise TransitionRejected(
            event,
            f"办理单 {current.ticket_id} 属于企业 {current.enterprise}，不是 {event.enterprise}",
        )
    _not_before(event, current.collected_on, "收集")
    events = (*current.events, event)  # one new state per event: _evolve(current, events=...)
    kind = event.type
    payload = event.payload
    if kind == "ticket.reported":
        _expect(event, current, "collected")
        return _evolve(current, events=events, state="reported", reported_on=event.date)
    if kind == "ticket.graded":
        _expect(event, current, "reported", "graded")
        _office(event)
        rules = tuple(r for r in (payload.get("grade_rule"), *payload.get("route_rules", ())) if r)
        return _evolve(
            current,
            events=events,
            state="graded",
            graded_on=event.date,
            rule_grade=payload["grade"],
            rule_route=dict(payload.get("route", {})),
            rule_ids=rules,
            grade_routes=dict(payload.get("by_grade", {})),
        )
    if kind == "ticket.overridden":
        _expect(event, current, "graded", "dispatched")
        _office(event)
        if "grade" not in payload and not payload.get("route"):
            raise TransitionRejected(event, "改判须写明新的等级（grade）或路由（route）")
        route = dict(current.override_route)
        route.update(payload.get("route", {}))
        return _evolve(
            current,
            events=events,
            override_grade=payload.get("grade", current.override_grade),
            override_route=route,
            overrides=(*current.overrides, event),
        )
    if kind == "ticket.dispatched":
        _expect(event, current, "graded")
        _office(event)
        if not current.route.get("primary"):
            raise TransitionRejected(event, "没有主办单位，不能交办")
        return _evolve(
            current,
            events=events,
            state="dispatched",
            dispatched_on=event.date,
            rounds=(Round(event.date, kind),),
        )
    if kind == "ticket.progress_reported":
        _expect(event, current, "dispatched")
        _handler(event, current)
        return _evolve(
            current, events=events, progress_reports=(*current.progress_reports, event.date)
        )
    if kind == "ticket.resolved":
        _expect(event, current, "dispatched")
        _handler(event, current)
        _not_before(event, current.rounds[-1].opened_on, "交办")
        rounds = (*current.rounds[:-1], _evolve(current.rounds[-1], resolved_on=event.date))
        return _evolve(current, events=events, state="resolved", rounds=rounds)
    if kind == "ticket.feedback_given":
        _expect(event, current, "resolved")
        owner = current.route.get("feedback_owner") or current.lead_unit
        if event.actor not in (owner, OFFICE):
            raise TransitionRejected(
                event, f"应由反馈责任单位 {owner} 向企业反馈，{event.actor} 不是"
            )
        return _evolve(current, events=events, state="feedback_given", feedback_on=event.date)
    if kind == "ticket.rated":
        _expect(event, current, "feedback_given")
        rating = str(payload["rating"])
        new_state = "rated" if rating == "不满意" else "closed"
        return _evolve(
            current,
            events=events,
            state=new_state,
            rated_on=event.date,
            rating=rating,
            ratings=(*current.ratings, (event.date, rating)),
        )
    if kind in ("ticket.reopened", "ticket.reopen_declined"):
        if not _awaits_reopening(current):
            raise TransitionRejected(
                event,
                f"只有评价为「不满意」或回访有异议的办理单才能{event.label}（当前：{current.state_label}）",
            )
        if kind == "ticket.reopen_declined":
            _office(event)
            return _evolve(current, events=events, state="closed")
        return _evolve(
            current,
            events=events,
            state="dispatched",
            rounds=(*current.rounds, Round(event.date, kind)),
            feedback_on=None,
            rated_on=None,
            rating=None,
            extension_pending=None,
        )
    return _apply_lifecycle_step(current, events, event)


def _awaits_reopening(state: TicketState) -> bool:
    return state.state == "disputed" or (state.state == "rated" and state.rating == "不满意")


def _apply_lifecycle_step(
    current: TicketState, events: tuple[Event, ...], event: Event
) -> TicketState:
    """Return, re-route, extension, suspension, withdrawal, rejection, merge and callback (§8)."""
    kind, payload = event.type, event.payload
    if kind == "ticket.returned":
        _expect(event, current, "dispatched")
        _handler(event, current)
        return _evolve(
            current,
            events=events,
            state="returned",
            returns=(*current.returns, event.date),
            extension_pending=None,
        )
    if kind == "ticket.rerouted":
        _expect(event, current, "returned")
        _office(event)
        route = dict(current.override_route)
        route.update(payload.get("route") or {})
        moved = _evolve(current, events=events, override_route=route)
        if not moved.route.get("primary"):
            raise TransitionRejected(event, "没有主办单位，不能重新交办")
        return _evolve(moved, state="dispatched", rounds=(*current.rounds, Round(event.date, kind)))
    if kind == "ticket.extension_requested":
        _expect(event, current, "dispatched")
        _handler(event, current)
        if current.extension_pending is not None:
            raise TransitionRejected(
                event, f"已于 {current.extension_pending[0]} 申请延期，尚未审批，不能再次申请"
            )
        return _evolve(
            current, events=events, extension_pending=(event.date, int(payload["workdays"]))
        )
    if kind in ("ticket.extension_granted", "ticket.extension_refused"):
        _office(event)
        pending = current.extension_pending
        if pending is None or current.state not in ("dispatched", "suspended"):
            raise TransitionRejected(event, f"办理单 {current.ticket_id} 没有待审批的延期申请")
        _not_before(event, pending[0], "延期申请")
        if kind == "ticket.extension_refused":
            return _evolve(current, events=events, extension_pending=None)
        days = int(payload["workdays"])
        if days > pending[1]:
            raise TransitionRejected(
                event, f"批准延长 {days} 个工作日，超过申请的 {pending[1]} 个工作日"
            )
        granted = (*current.extensions, (event.date, days, current.round_number))
        return _evolve(current, events=events, extension_pending=None, extensions=granted)
    if kind == "ticket.suspended":
        _expect(event, current, "dispatched")
        if event.actor != OFFICE:
            _handler(event, current)
        return _evolve(current, events=events, state="suspended")
    if kind == "ticket.resumed":
        _expect(event, current, "suspended")
        if event.actor != OFFICE:
            _handler(event, current)
        return _evolve(current, events=events, state="dispatched")
    if kind == "ticket.withdrawn":
        _open(event, current)
        if event.actor not in (OFFICE, current.lead_unit):
            raise TransitionRejected(
                event,
                f"企业撤回应由包抓单位 {current.lead_unit} 或{OFFICE}登记，{event.actor} 不能",
            )
        return _evolve(current, events=events, state="withdrawn", extension_pending=None)
    if kind == "ticket.rejected":
        _expect(event, current, "reported", "graded")
        _office(event)
        return _evolve(current, events=events, state="rejected")
    if kind == "ticket.merged":
        _open(event, current)
        _office(event)
        into = str(payload["into"])
        if into == current.ticket_id:
            raise TransitionRejected(event, f"办理单 {into} 不能合并到它自己")
        return _evolve(
            current, events=events, state="merged", merged_into=into, extension_pending=None
        )
    if kind == "ticket.callback_recorded":
        _expect(event, current, "resolved", "feedback_given", "rated", "closed")
        _office(event)
        if payload["resolution"] == "有异议":
            return _evolve(current, events=events, state="disputed")
        corrected = payload.get("rating")
        if corrected is None or current.state not in ("rated", "closed"):
            return _evolve(current, events=events)
        return _evolve(
            current,
            events=events,
            state="rated" if corrected == "不满意" else "closed",
            rating=str(corrected),
            ratings=(*current.ratings, (event.date, str(corrected))),
        )
    if kind in LINK_EVENTS:
        _office(event)
        return _link_step(event, current, events)
    raise TransitionRejected(event, f"{kind} 不是办理单事件")


def _open(event: Event, state: TicketState) -> None:
    if state.final or state.state in ("resolved", "feedback_given", "rated", "disputed"):
        raise TransitionRejected(
            event,
            f"办理单 {state.ticket_id} 当前状态为「{state.state_label}」，已办结或已结束的问题不能{event.label}",
        )


#: 上下联动 (docs/guide/levels.md): a lower level refers a problem up and gets the answer back
LINK_EVENTS = ("ticket.referred_up", "ticket.upper_resolved", "ticket.upper_declined")


def _link_step(event: Event, current: TicketState, events: tuple[Event, ...]) -> TicketState:
    """A lower level's ticket waits on the upper level's; the upper level may decline its copy."""
    if event.type == "ticket.referred_up":
        _expect(event, current, "graded", "dispatched")
        return _evolve(current, events=events, state="referred")
    if event.type == "ticket.upper_resolved":
        _expect(event, current, "referred")
        rounds = current.rounds
        if rounds:  # the round the referral interrupted ends with the upper level's resolution
            rounds = (*rounds[:-1], _evolve(rounds[-1], resolved_on=event.date))
        return _evolve(current, events=events, state="resolved", rounds=rounds)
    if current.state == "referred":  # declined: the lower level handles it again
        return _evolve(
            current, events=events, state="dispatched" if current.dispatched_on else "graded"
        )
    _expect(event, current, "reported", "graded")  # the upper level sends its copy back
    return _evolve(current, events=events, state="sent_back")


def _office(event: Event) -> None:
    if event.actor != OFFICE:
        raise TransitionRejected(event, f"{event.label}只能由{OFFICE}进行，{event.actor} 不能")


def _handler(event: Event, state: TicketState) -> None:
    handlers = state.handlers
    if event.actor not in handlers:
        raise TransitionRejected(
            event, f"{event.actor} 不是办理单 {state.ticket_id} 的办理单位（{'、'.join(handlers)}）"
        )
