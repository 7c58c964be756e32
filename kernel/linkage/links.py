"""Carry problems between a lower level's ledger and the upper level's (上下联动, 政策 §9.4).

Each level keeps its own ledger. A lower level's office records ``ticket.referred_up`` on its
ticket; :func:`carry_up` gives the upper ledger a linked ticket (the enterprise registered with
the lower level as its territory and lead unit, the problem collected and reported on the day of
the referral), graded by the upper level's rules. :func:`carry_down` brings the upper level's
answer back: ``ticket.upper_resolved`` once the upper ticket is resolved, ``ticket.upper_declined``
once the upper office declined it. Every carried event has an id made of the level, the ticket
and the referral round, so carrying again adds nothing (the ledger keeps an id once).
:func:`check_links` compares the two ledgers both ways.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError
from kernel.ledger.events import LINK_PREFIX, OFFICE, Event
from kernel.ledger.ledger import Ledger
from kernel.ledger.projection import TicketState
from kernel.ledger.readmodel import ReadModel, TicketQuery
from kernel.rules.levels import Level

if TYPE_CHECKING:
    from kernel.evaluation.kernel import Kernel

#: the tag of every linked ticket at the upper level
REFERRED_TAG = "下级报上级"
#: states of an upper ticket that answer the referral with a resolution
RESOLVED_STATES = ("resolved", "feedback_given", "rated", "closed")
#: the event of a referral to the upper level
REFERRED_UP = "ticket.referred_up"


@dataclass
class LinkReport:
    """What one run carried, by lower ticket id."""

    carried_up: list[str] = field(default_factory=list)
    carried_down: list[str] = field(default_factory=list)
    unchanged: int = 0
    #: lower tickets that wait on the upper level (referred, no answer yet)
    waiting: list[str] = field(default_factory=list)
    #: upper tickets dispatched to this level, now in the lower ledger (by upper ticket id)
    dispatched_down: list[str] = field(default_factory=list)
    #: upper tickets dispatched to this level whose resolution went back up
    resolved_up: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Referral:
    """One referral of a lower ticket: its round (1, 2 … after a decline) and its event."""

    ticket: TicketState
    round: int
    event: Event


def upper_ticket_id(level: Level, ticket_id: str, round_: int) -> str:
    """The id of the linked ticket at the upper level (``HANTAI:HT-2026-0001``, ``…#2``)."""
    base = f"{level.code.upper()}:{ticket_id}"
    return base if round_ == 1 else f"{base}#{round_}"


def link_event_id(level: Level, ticket_id: str, round_: int, step: str) -> str:
    """The id of an event a link writes: the same for the same step, so a re-run is a no-op."""
    return f"{LINK_PREFIX}:{level.code}:{ticket_id}#{round_}:{step}"


def _lower_level(level: Level | None) -> Level:
    if level is None or level.upper is None or level.unit_at_upper is None:
        raise InputError("这个规则目录没有上级（没有 level.yaml），不能上下联动")
    return level


def referrals(ledger: Ledger) -> list[Referral]:
    """The latest referral of every lower ticket that was ever referred up.

    With a read model (SQLite, PostgreSQL) only the referred tickets are projected: their ids
    come from the referral events (the events' type index), their states from their own events
    (:meth:`ReadModel.states`). Without one the ledger is replayed once.
    """
    states: Iterable[TicketState]
    if ledger.storage.has_read_model:
        ids = sorted({str(e.ticket_id) for e in ledger.events(types=(REFERRED_UP,))})
        states = ReadModel(ledger).states(ids)
    else:
        states = ledger.project().tickets.values()
    out = []
    for state in states:
        rounds = [e for e in state.events if e.type == REFERRED_UP]
        if rounds:
            out.append(Referral(state, len(rounds), rounds[-1]))
    return sorted(out, key=lambda r: r.ticket.ticket_id)


def _units_known(values: Any, upper: Ledger) -> Any:
    """Unit ids of a list that the upper level knows (the lower level's own units are dropped)."""
    if isinstance(values, list):
        return [v for v in values if not isinstance(v, str) or v in upper.reference.units]
    return values


def _enterprise_event(ref: Referral, level: Level, upper: Ledger) -> dict[str, Any] | None:
    code = ref.ticket.enterprise
    if any(True for _ in upper.events(enterprise=code, types=("enterprise.registered",))):
        return None
    info = ref.ticket.ticket.data["enterprise"]
    payload = {
        "name": info["name"],
        "territory": level.unit_at_upper,
        "lead_unit": level.unit_at_upper,
        "lead_leader": str(info.get("lead_leader") or level.name),
    }
    if info.get("industry"):
        payload["industry"] = info["industry"]
    return {
        "event_id": f"{LINK_PREFIX}:{level.code}:enterprise:{code}",
        "type": "enterprise.registered",
        "date": ref.event.date.isoformat(),
        "actor": OFFICE,
        "enterprise": code,
        "payload": payload,
        "note": f"{level.name}报上级协调的企业",
    }


def _collected_events(ref: Referral, level: Level, upper: Ledger) -> list[dict[str, Any]]:
    ticket = ref.ticket
    data = ticket.ticket.data
    upper_id = upper_ticket_id(level, ticket.ticket_id, ref.round)
    assessment = {key: _units_known(value, upper) for key, value in data["assessment"].items()}
    payload: dict[str, Any] = {
        "category": data["category"],
        "summary": data["summary"],
        "assessment": assessment,
    }
    if "amount" in data:
        payload["amount"] = data["amount"]
    # the upper level's rules may route on it (e.g. a city department as primary)
    payload["tags"] = [*data.get("tags", ()), REFERRED_TAG]
    day = ref.event.date.isoformat()
    note = f"{level.name}报上级协调（{level.name}办理单 {ticket.ticket_id}）"
    common = {"date": day, "ticket_id": upper_id, "enterprise": ticket.enterprise, "note": note}
    return [
        {
            **common,
            "event_id": link_event_id(level, ticket.ticket_id, ref.round, "collected"),
            "type": "ticket.collected",
            "actor": level.unit_at_upper,
            "payload": payload,
        },
        {
            **common,
            "event_id": link_event_id(level, ticket.ticket_id, ref.round, "reported"),
            "type": "ticket.reported",
            "actor": level.unit_at_upper,
            "payload": {},
        },
    ]


def _check_owner(upper: Ledger, upper_id: str, level: Level, ref: Referral) -> None:
    """Refuse to link onto an upper ticket of the same id that another source created."""
    expected = link_event_id(level, ref.ticket.ticket_id, ref.round, "collected")
    first = next(iter(upper.events(ticket_id=upper_id)), None)
    if first is not None and first.event_id != expected:
        raise InputError(
            f"上级台账已有办理单 {upper_id}（事件 {first.event_id}），不是由{level.name}"
            f"办理单 {ref.ticket.ticket_id} 报上级生成的，不能关联"
        )


def carry_up(
    lower: Ledger, level: Level | None, upper: Ledger, kernel: Kernel, as_of: dt.date
) -> LinkReport:
    """Give every referred lower ticket its linked ticket at the upper level (graded there)."""
    level = _lower_level(level)
    report = LinkReport()
    for ref in referrals(lower):
        if ref.ticket.state != "referred" or ref.event.date > as_of:
            continue
        upper_id = upper_ticket_id(level, ref.ticket.ticket_id, ref.round)
        _check_owner(upper, upper_id, level, ref)
        items: list[dict[str, Any]] = []
        registered = _enterprise_event(ref, level, upper)
        if registered is not None:
            items.append(registered)
        items += _collected_events(ref, level, upper)
        outcomes = upper.submit_many(((item, None, ()) for item in items), kernel=kernel)
        for outcome in outcomes:
            if isinstance(outcome, InputError):
                raise outcome
        if any(getattr(o, "accepted", False) for o in outcomes):
            report.carried_up.append(ref.ticket.ticket_id)
        else:
            report.unchanged += 1
    return report


def _answer(upper_state: TicketState) -> tuple[str, Event] | None:
    """The upper level's answer to a referral: resolved or declined, with its event."""
    if upper_state.state == "sent_back":
        return "ticket.upper_declined", upper_state.events[-1]
    if upper_state.state in RESOLVED_STATES:
        resolved = [e for e in upper_state.events if e.type == "ticket.resolved"]
        if resolved:
            return "ticket.upper_resolved", resolved[-1]
    return None


def carry_down(lower: Ledger, level: Level | None, upper: Ledger, as_of: dt.date) -> LinkReport:
    """Bring the upper level's answers back to the waiting lower tickets."""
    level = _lower_level(level)
    report = LinkReport()
    for ref in referrals(lower):
        upper_id = upper_ticket_id(level, ref.ticket.ticket_id, ref.round)
        upper_state = upper.ticket(upper_id)
        answer = _answer(upper_state) if upper_state is not None else None
        if answer is None or answer[1].date > as_of:
            if ref.ticket.state == "referred":
                report.waiting.append(ref.ticket.ticket_id)
            continue
        kind, source = answer
        event = {
            "event_id": link_event_id(level, ref.ticket.ticket_id, ref.round, kind.split(".")[1]),
            "type": kind,
            "date": source.date.isoformat(),
            "actor": OFFICE,
            "ticket_id": ref.ticket.ticket_id,
            "payload": {
                "upper": level.upper or "",
                "upper_ticket": upper_id,
                **({"summary": source.payload["summary"]} if source.payload.get("summary") else {}),
            },
        }
        if lower.submit(event).accepted:
            report.carried_down.append(ref.ticket.ticket_id)
        else:  # carried before: the ledger keeps an event id once
            report.unchanged += 1
    return report


@dataclass(frozen=True)
class LinkFinding:
    """One disagreement between the two ledgers."""

    ticket: str
    message: str


def check_links(lower: Ledger, level: Level | None, upper: Ledger) -> list[LinkFinding]:
    """Every disagreement between the ledgers: referrals without their upper ticket, answers
    not carried down, lower answers the upper ledger does not hold, upper tickets without their
    lower referral."""
    level = _lower_level(level)
    found: list[LinkFinding] = []
    expected: set[str] = set()
    for ref in referrals(lower):
        tid = ref.ticket.ticket_id
        upper_id = upper_ticket_id(level, tid, ref.round)
        expected.update(upper_ticket_id(level, tid, n) for n in range(1, ref.round + 1))
        upper_state = upper.ticket(upper_id)
        if upper_state is None:
            if ref.ticket.state == "referred":
                found.append(
                    LinkFinding(
                        tid, f"已报上级，但上级台账没有 {upper_id}（请运行 huhang level up）"
                    )
                )
            continue
        answer = _answer(upper_state)
        carried = [
            e
            for e in ref.ticket.events
            if e.type in ("ticket.upper_resolved", "ticket.upper_declined")
        ]
        mine = [e for e in carried if e.payload.get("upper_ticket") == upper_id]
        if answer is not None and not mine:
            found.append(
                LinkFinding(
                    tid,
                    f"上级 {upper_id} 当前为「{upper_state.state_label}」，答复尚未回传（请运行 huhang level down）",
                )
            )
        if mine and (answer is None or answer[0] != mine[-1].type):
            found.append(
                LinkFinding(
                    tid,
                    f"本级记录了{mine[-1].label}，但上级 {upper_id} 当前为「{upper_state.state_label}」",
                )
            )
    prefix = f"{LINK_PREFIX}:{level.code}:"
    for event in upper.events(types=("ticket.collected",)):
        if event.event_id.startswith(prefix) and str(event.ticket_id) not in expected:
            found.append(
                LinkFinding(
                    str(event.ticket_id), "上级台账有这张联动办理单，但本级台账没有对应的报上级记录"
                )
            )
    return found + check_dispatched(lower, level, upper)


# ---------------------------------------------------------------- dispatched down, resolved up


#: the tag of every ticket the upper level dispatched down to a lower level
DISPATCHED_TAG = "上级交办"


def lower_ticket_id(level: Level, upper_id: str) -> str:
    """The id of the lower level's ticket for an upper ticket dispatched to it
    (``CITY:HZ-2026-0003``)."""
    return f"{(level.upper or '').upper()}:{upper_id}"


def _down_id(level: Level, upper_id: str, step: str) -> str:
    return f"{LINK_PREFIX}:{level.code}:down:{upper_id}:{step}"


def dispatched_to(upper: Ledger, level: Level) -> list[TicketState]:
    """Upper tickets being handled (dispatched, not resolved) with this level's unit among the
    handlers; the level's own referrals excluded (those come back down as answers). With a
    read model only the dispatched tickets the unit has a part in are projected."""
    mine = f"{LINK_PREFIX}:{level.code}:"
    candidates: Iterable[TicketState]
    if upper.storage.has_read_model:  # the dispatched tickets the unit has a part in, only
        model = ReadModel(upper)
        unit = str(level.unit_at_upper)
        query = TicketQuery(filters={"state": "dispatched"}, units=(unit,), limit=None)
        candidates = model.states(model.ticket_ids(query))
    else:
        candidates = upper.project().tickets.values()
    out = []
    for state in candidates:
        if state.state != "dispatched" or level.unit_at_upper not in state.handlers:
            continue
        if state.events[0].event_id.startswith(mine):
            continue
        out.append(state)
    return sorted(out, key=lambda s: s.ticket_id)


def carry_dispatched_down(
    lower: Ledger, level: Level | None, upper: Ledger, kernel: Kernel, as_of: dt.date
) -> LinkReport:
    """Give every upper ticket dispatched to this level its ticket in the lower ledger, graded
    and routed by the lower level's rules (the lower office may then split it among its own
    units with ``ticket.overridden``)."""
    level = _lower_level(level)
    report = LinkReport()
    _ratings_down(lower, level, upper, as_of)
    for state in dispatched_to(upper, level):
        if state.dispatched_on is None or state.dispatched_on > as_of:
            continue
        lower_id = lower_ticket_id(level, state.ticket_id)
        first = next(iter(lower.events(ticket_id=lower_id)), None)
        if first is not None and first.event_id != _down_id(level, state.ticket_id, "collected"):
            raise InputError(
                f"本级台账已有办理单 {lower_id}（事件 {first.event_id}），不是由上级交办生成的，不能关联"
            )
        items = _down_events(state, level, lower)
        outcomes = lower.submit_many(((item, None, ()) for item in items), kernel=kernel)
        for outcome in outcomes:
            if isinstance(outcome, InputError):
                raise outcome
        if any(getattr(o, "accepted", False) for o in outcomes):
            report.dispatched_down.append(state.ticket_id)
        else:
            report.unchanged += 1
    return report


def _nth(step: str, n: int) -> str:
    """The step of an event id in round ``n`` (round 1 keeps the plain step, as before)."""
    return step if n == 1 else f"{step}#{n}"


#: the office's answers to a 不满意 rating (or a disputed callback) that a copy follows
REOPEN_ANSWERS = ("ticket.reopened", "ticket.reopen_declined")


def _ratings_down(lower: Ledger, level: Level, upper: Ledger, as_of: dt.date) -> None:
    """The enterprise's rating at the upper level rates this level's ticket too (round by
    round), and the upper office's reopening after a 不满意 (or its justified decision not to
    reopen) reopens or closes this level's ticket as well."""
    for upper_id, copy in _dispatched_copies(lower, level):
        above = upper.ticket(upper_id)
        if above is None:
            continue
        round_no = 1 + sum(1 for e in copy.events if e.type == "ticket.reopened")
        rated = [e for e in above.events if e.type == "ticket.rated"]
        if copy.state == "feedback_given" and len(rated) >= round_no:
            rating = rated[round_no - 1]
            if rating.date <= as_of:
                lower.submit(
                    {
                        "event_id": _down_id(level, upper_id, _nth("rated", round_no)),
                        "type": "ticket.rated",
                        "date": rating.date.isoformat(),
                        "actor": OFFICE,
                        "ticket_id": copy.ticket_id,
                        "payload": dict(rating.payload),
                    }
                )
                copy = lower.ticket(copy.ticket_id) or copy
        _reopening_down(lower, level, upper_id, above, copy, as_of)


def _reopening_down(
    lower: Ledger,
    level: Level,
    upper_id: str,
    above: TicketState,
    copy: TicketState,
    as_of: dt.date,
) -> None:
    """The upper office's next answer to a 不满意, carried to a copy that awaits one."""
    if not (copy.state == "disputed" or (copy.state == "rated" and copy.rating == "不满意")):
        return
    done = sum(1 for e in copy.events if e.type in REOPEN_ANSWERS)
    answers = [e for e in above.events if e.type in REOPEN_ANSWERS]
    if len(answers) <= done or answers[done].date > as_of:
        return
    answer = answers[done]
    step = "reopened" if answer.type == "ticket.reopened" else "reopen_declined"
    lower.submit(
        {
            "event_id": _down_id(level, upper_id, _nth(step, done + 1)),
            "type": answer.type,
            "date": answer.date.isoformat(),
            "actor": OFFICE,
            "ticket_id": copy.ticket_id,
            "payload": dict(answer.payload),
            "note": f"上级{answer.label}（上级办理单 {upper_id}）",
        }
    )


def _down_events(state: TicketState, level: Level, lower: Ledger) -> list[dict[str, Any]]:
    data = state.ticket.data
    day = str(state.dispatched_on)
    items: list[dict[str, Any]] = []
    code = state.enterprise
    if not any(True for _ in lower.events(enterprise=code, types=("enterprise.registered",))):
        info = data["enterprise"]
        items.append(
            {
                "event_id": _down_id(level, f"enterprise:{code}", "registered"),
                "type": "enterprise.registered",
                "date": day,
                "actor": OFFICE,
                "enterprise": code,
                "payload": {
                    "name": info["name"],
                    "territory": level.unit_at_upper,
                    "lead_unit": OFFICE,
                    "lead_leader": str(info.get("lead_leader") or OFFICE),
                },
                "note": f"上级交办问题的企业（上级办理单 {state.ticket_id}）",
            }
        )
    payload: dict[str, Any] = {
        "category": data["category"],
        "summary": data["summary"],
        "assessment": {k: _units_known(v, lower) for k, v in data["assessment"].items()},
        "tags": [*data.get("tags", ()), DISPATCHED_TAG],
    }
    if "amount" in data:
        payload["amount"] = data["amount"]
    lower_id = lower_ticket_id(level, state.ticket_id)
    note = f"上级交办（上级办理单 {state.ticket_id}）"
    common = {"date": day, "ticket_id": lower_id, "actor": OFFICE, "note": note}
    items.append(
        {
            **common,
            "event_id": _down_id(level, state.ticket_id, "collected"),
            "type": "ticket.collected",
            "enterprise": code,
            "payload": payload,
        }
    )
    items.append(
        {
            **common,
            "event_id": _down_id(level, state.ticket_id, "reported"),
            "type": "ticket.reported",
            "payload": {},
        }
    )
    return items


def _dispatched_copies(lower: Ledger, level: Level) -> list[tuple[str, TicketState]]:
    """(upper ticket id, lower ticket) of every ticket the upper level dispatched down (with a
    read model: only the tickets whose id begins as a copy's does, a range of the key)."""
    prefix = f"{LINK_PREFIX}:{level.code}:down:"
    candidates: Iterable[TicketState]
    if lower.storage.has_read_model:
        model = ReadModel(lower)
        candidates = model.states(model.ticket_ids_with_prefix(lower_ticket_id(level, "")))
    else:
        candidates = lower.project().tickets.values()
    out = []
    for state in candidates:
        first = state.events[0].event_id
        if first.startswith(prefix) and first.endswith(":collected"):
            out.append((first[len(prefix) : -len(":collected")], state))
    return sorted(out, key=lambda pair: pair[0])


def carry_resolved_up(
    lower: Ledger, level: Level | None, upper: Ledger, as_of: dt.date
) -> LinkReport:
    """Resolve at the upper level, as this level's unit, what this level resolved of the
    tickets the upper level dispatched to it. The enterprise hears of it from the upper level:
    this level's ticket records its feedback as given there (its own feedback clock stops)."""
    level = _lower_level(level)
    report = LinkReport()
    for upper_id, state in _dispatched_copies(lower, level):
        resolved = [e for e in state.events if e.type == "ticket.resolved" and e.date <= as_of]
        round_no = len(resolved)
        if resolved and state.state == "resolved":
            lower.submit(
                {
                    "event_id": _down_id(level, upper_id, _nth("feedback", round_no)),
                    "type": "ticket.feedback_given",
                    "date": resolved[-1].date.isoformat(),
                    "actor": OFFICE,
                    "ticket_id": state.ticket_id,
                    "payload": {
                        "summary": f"上级交办问题，由上级向企业反馈（上级办理单 {upper_id}）"
                    },
                }
            )
        above = upper.ticket(upper_id)
        if not resolved or above is None or above.state != "dispatched":
            continue
        summary = resolved[-1].payload.get("summary")
        event = {
            "event_id": _down_id(level, upper_id, _nth("resolved", round_no)),
            "type": "ticket.resolved",
            "date": resolved[-1].date.isoformat(),
            "actor": level.unit_at_upper,
            "ticket_id": upper_id,
            "payload": {"summary": str(summary)} if summary else {},
            "note": f"{level.name}办结（{level.name}办理单 {state.ticket_id}）",
        }
        if upper.submit(event).accepted:
            report.resolved_up.append(upper_id)
        else:
            report.unchanged += 1
    return report


def check_dispatched(lower: Ledger, level: Level | None, upper: Ledger) -> list[LinkFinding]:
    """Disagreements about what the upper level dispatched to this level."""
    level = _lower_level(level)
    found = []
    copies = dict(_dispatched_copies(lower, level))
    for state in dispatched_to(upper, level):
        if state.ticket_id not in copies:
            found.append(
                LinkFinding(
                    state.ticket_id,
                    "上级已交办本级，本级台账尚无对应办理单（请运行 huhang level down）",
                )
            )
    for upper_id, copy in copies.items():
        above = upper.ticket(upper_id)
        if above is None:
            found.append(LinkFinding(copy.ticket_id, f"上级台账没有办理单 {upper_id}"))
        elif copy.resolved_on is not None and above.state == "dispatched":
            found.append(
                LinkFinding(
                    upper_id, f"本级 {copy.ticket_id} 已办结，尚未报上级（请运行 huhang level up）"
                )
            )
        elif above.state == "dispatched" and copy.state in ("rated", "disputed", "closed"):
            found.append(
                LinkFinding(
                    upper_id,
                    f"上级已重新办理，本级 {copy.ticket_id} 仍为「{copy.state_label}」"
                    "（请运行 huhang level down；上级因回访有异议重新办理的，由本级助商稳企办重新办理）",
                )
            )
    return found


@dataclass(frozen=True)
class LinkSummary:
    """What passed between the two levels, in numbers."""

    referred: int
    resolved_above: int
    declined_above: int
    waiting: int
    dispatched_down: int
    resolved_below: int

    def text(self, upper_name: str) -> str:
        """One line in Chinese."""
        return (
            f"报{upper_name}协调 {self.referred} 件（上级办结 {self.resolved_above}、退回 "
            f"{self.declined_above}、待上级办理 {self.waiting}）；{upper_name}交办 "
            f"{self.dispatched_down} 件（本级已办结 {self.resolved_below}）"
        )


def link_summary(lower: Ledger, level: Level | None, upper: Ledger) -> LinkSummary:
    """Counts of referrals and their answers, and of what the upper level dispatched down."""
    level = _lower_level(level)
    resolved = declined = waiting = 0
    refs = referrals(lower)
    for ref in refs:
        answers = [
            e.type
            for e in ref.ticket.events
            if e.type in ("ticket.upper_resolved", "ticket.upper_declined")
        ]
        resolved += answers.count("ticket.upper_resolved")
        declined += answers.count("ticket.upper_declined")
        waiting += ref.ticket.state == "referred"
    copies = _dispatched_copies(lower, level)
    done = sum(1 for _, copy in copies if copy.resolved_on is not None)
    return LinkSummary(len(refs), resolved, declined, waiting, len(copies), done)
