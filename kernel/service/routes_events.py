"""``POST /api/v1/events``: one event or a batch, with a result for each.

The same path as ``huhang ingest --grade``: each event is validated, checked as a transition,
stored idempotently (the same id and content again is a duplicate; the same id with other
content is refused) and every reported ticket is graded in the transaction that stores its
report. The batch is one transaction: when the answer arrives, everything accepted is on disk.

Roles: the auditor writes nothing (403); a unit submits only as itself (a body naming another
``actor`` is refused whole, 403 ``API-ACTOR``), only about tickets it may read (another unit's
ticket is answered as a ticket that does not exist) and enterprises it leads or works for.
Every stored event records the token's principal in ``recorded_by``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from kernel.errors import InputError
from kernel.service.access import (
    Principal,
    can_read_enterprise,
    can_read_ticket,
    can_submit_as,
)
from kernel.service.context import ServiceContext
from kernel.service.deps import Context, json_body, writer_principal
from kernel.service.problems import ApiProblem
from kernel.vocabulary import EVENT_RESULT_WORDS

if TYPE_CHECKING:
    from kernel.ledger.projection import Enterprise, TicketState
    from kernel.ledger.readmodel import EnterpriseSummary

router = APIRouter(tags=["事件"])

EVENT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/Event"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                    {
                        "type": "object",
                        "required": ["events"],
                        "properties": {
                            "events": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Event"},
                            }
                        },
                    },
                ]
            }
        }
    },
}

EVENTS_RESPONSE = {
    "description": "每个事件的结果（accepted / duplicate / rejected 及原因）与自动分级",
    "content": {
        "application/json": {
            "example": {
                "accepted": 1,
                "duplicates": 0,
                "rejected": 0,
                "results": [
                    {
                        "index": 0,
                        "event_id": "E-1",
                        "status": "accepted",
                        "status_label": "已接受",
                        "seq": 42,
                    }
                ],
                "graded": [],
            }
        }
    },
}


@dataclass
class Outcome:
    """What became of one submitted event."""

    index: int
    event_id: Any
    status: str = "rejected"
    seq: int | None = None
    code: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "event_id": self.event_id,
            "status": self.status,
            "status_label": EVENT_RESULT_WORDS[self.status],
        }
        if self.seq is not None:
            out["seq"] = self.seq
        if self.code is not None:
            out["code"] = self.code
            out["reason"] = self.reason
        return out


@dataclass
class Submission:
    """The results of one request."""

    outcomes: list[Outcome] = field(default_factory=list)
    graded: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        counts = {s: sum(1 for o in self.outcomes if o.status == s) for s in EVENT_RESULT_WORDS}
        return {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": [o.to_dict() for o in self.outcomes],
            "graded": self.graded,
        }


def event_items(body: Any, limit: int) -> list[Any]:
    """The events of a body: one event, a list, or ``{"events": [...]}``."""
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict) and set(body) == {"events"}:
        items = body["events"]
        if not isinstance(items, list):
            raise ApiProblem(422, "API-INPUT", "events 应为事件的列表")
    else:
        items = [body]
    if not items:
        raise ApiProblem(422, "API-INPUT", "请求中没有事件")
    if len(items) > limit:
        raise ApiProblem(
            413, "API-BODY-SIZE", f"一次最多提交 {limit:,} 个事件，本次 {len(items):,} 个"
        )
    return items


def check_actors(principal: Principal, items: list[Any]) -> None:
    """Refuse the whole request if any event names an actor the principal may not act as."""
    for index, item in enumerate(items):
        actor = item.get("actor") if isinstance(item, dict) else None
        if isinstance(item, dict) and not can_submit_as(principal, actor):
            raise ApiProblem(
                403,
                "API-ACTOR",
                f"第 {index + 1} 个事件的经办单位（actor）为 {actor!s:.40}，"
                f"本令牌只能以 {principal.unit} 的名义提交；整批未写入",
                index=index,
            )


def _could_be_stored(text: str) -> bool:
    """Whether a stored ticket id or credit code could be ``text``: those are UTF-8 text
    without NUL (the events' schema; PostgreSQL's text holds no NUL either)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON can spell
        return False
    return True


class KnownStates(Protocol):
    """What a unit's events are judged on: ticket and enterprise states by id (a projection of
    every event, or :class:`NamedStates`)."""

    @property
    def tickets(self) -> Mapping[str, TicketState]: ...

    @property
    def enterprises(self) -> Mapping[str, Enterprise | EnterpriseSummary]: ...


@dataclass(frozen=True)
class NamedStates:
    """The current states of the tickets and enterprises one batch names, and only those."""

    tickets: Mapping[str, TicketState]
    enterprises: Mapping[str, EnterpriseSummary]


def known_states(
    context: ServiceContext, principal: Principal, items: list[Any]
) -> KnownStates | None:
    """What :func:`_unit_refusal` judges a unit's batch on (None for the office and the
    auditor): with a current read model the states of the tickets the batch names, from their
    own events (``ReadModel.states``), and the stored rows of the enterprises it names;
    otherwise the projection of every event.

    Only ids that could be stored are looked up (:func:`_could_be_stored`): the others name
    nothing, as before.
    """
    from kernel.ledger.readmodel import EnterpriseQuery, ReadModel

    if principal.reads_everything:
        return None
    model = ReadModel(context.ledger)
    if not model.stored:
        return context.projection()

    def named(key: str) -> list[str]:
        found = (item.get(key) for item in items if isinstance(item, dict))
        return sorted({v for v in found if isinstance(v, str) and _could_be_stored(v)})

    tickets = {state.ticket_id: state for state in model.states(named("ticket_id"))}
    codes = tuple(named("enterprise"))
    rows = model.enterprises(EnterpriseQuery(codes=codes, limit=None)).items if codes else ()
    return NamedStates(tickets, {row.credit_code: row for row in rows})


def _unit_refusal(
    projector: KnownStates | None, principal: Principal, item: dict[str, Any]
) -> Outcome | None:
    """Why a unit may not submit this event (None: it may), judged on the states before the
    batch (:func:`known_states`).

    A ticket of another unit is refused as the ledger refuses a ticket that does not exist.
    """
    if principal.reads_everything or projector is None:
        return None
    kind = item.get("type")
    refused = Outcome(index=0, event_id=item.get("event_id"), code="API-FORBIDDEN")
    if isinstance(kind, str) and kind.startswith("enterprise."):
        refused.reason = "企业登记和变更只能由助商稳企办提交"
        return refused
    ticket_id = item.get("ticket_id")
    if isinstance(ticket_id, str):
        state = projector.tickets.get(ticket_id)
        if state is not None and not can_read_ticket(principal, state):
            if kind == "ticket.collected":
                refused.code, refused.reason = "EVENT-REJECTED", f"办理单 {ticket_id} 已存在"
            else:
                refused.code, refused.reason = "EVENT-REJECTED", f"办理单 {ticket_id} 不存在"
            return refused
        if state is not None:
            return None
    code = item.get("enterprise")
    if isinstance(code, str) and kind in ("ticket.collected", "contact.recorded"):
        enterprise = projector.enterprises.get(code)
        if enterprise is not None and not can_read_enterprise(principal, enterprise.assignment):
            refused.reason = f"企业 {code} 不由 {principal.unit} 包抓，不能为其提交事件"
            return refused
    return None


def submit(
    context: ServiceContext, principal: Principal, items: list[Any], metrics: Any
) -> Submission:
    """Check and store the events (in a worker thread: this blocks on the ledger)."""
    from kernel.inputs.sourcefile import SourceDoc
    from kernel.ledger.events import EventInvalid
    from kernel.ledger.ingest import reason
    from kernel.ledger.ledger import EventConflict, SubmitResult
    from kernel.ledger.projection import TransitionRejected

    result = Submission(
        [
            Outcome(i, item.get("event_id") if isinstance(item, dict) else None)
            for i, item in enumerate(items)
        ]
    )
    window = context.config.date_window(context.today())
    projector = known_states(context, principal, items)
    batch: list[tuple[int, tuple[dict[str, Any], SourceDoc | None, tuple[()]]]] = []
    for index, item in enumerate(items):
        outcome = result.outcomes[index]
        if not isinstance(item, dict):
            outcome.code, outcome.reason = "API-INPUT", "事件应为 JSON 对象"
            continue
        data = dict(item)
        data["recorded_by"] = principal.label
        refused = _unit_refusal(projector, principal, data)
        if refused is not None:
            outcome.code, outcome.reason = refused.code, refused.reason
            continue
        implausible = window.problem(data)
        if implausible is not None:
            outcome.code, outcome.reason = "EVENT-DATE", implausible
            continue
        batch.append((index, (data, SourceDoc(f"事件[{index}]", data), ())))

    def graded(ticket_id: str, found: SubmitResult | InputError) -> None:
        if isinstance(found, InputError):
            result.graded.append(
                {"ticket_id": ticket_id, "status": "rejected", "reason": reason(found)}
            )
        elif found.accepted:
            result.graded.append(
                {
                    "ticket_id": ticket_id,
                    "status": "accepted",
                    "grade": found.event.payload.get("grade"),
                    "seq": found.event.seq,
                }
            )

    if batch:
        with context.kernel_lock:
            outcomes = context.ledger.submit_many(
                [item for _, item in batch],
                kernel=context.kernel(),
                on_graded=graded,
                recorded_by=principal.label,
            )
        for (index, _), found in zip(batch, outcomes, strict=True):
            outcome = result.outcomes[index]
            if isinstance(found, InputError):
                outcome.reason = reason(found)
                if isinstance(found, EventInvalid):
                    outcome.code = found.problems[0].code if found.problems else "API-INPUT"
                elif isinstance(found, EventConflict):
                    outcome.code = "EVENT-CONFLICT"
                elif isinstance(found, TransitionRejected):
                    outcome.code = "EVENT-REJECTED"
                else:
                    outcome.code = "API-INPUT"
            else:
                outcome.status = found.status
                outcome.seq = found.event.seq
    for outcome in result.outcomes:
        metrics.event(outcome.status, outcome.code or "")
    return result


@router.post(
    "/events",
    summary="提交一个或一批事件",
    openapi_extra={"requestBody": EVENT_BODY},
    responses={200: EVENTS_RESPONSE, 403: {"description": "审计角色，或以其他单位的名义提交"}},
)
async def post_events(
    request: Request,
    context: Context,
    principal: Annotated[Principal, Depends(writer_principal)],
) -> dict[str, Any]:
    """Store events as ``huhang ingest --grade`` does; a result for each event, in order.

    The answer is 200 when the request was processed, whatever became of each event: read
    ``results[i].status`` (``accepted``, ``duplicate``, ``rejected`` with ``code`` and
    ``reason``). Sending the same request again is safe: stored events come back as duplicates.
    """
    body = await json_body(request, context)
    items = event_items(body, context.limits.batch_events)
    check_actors(principal, items)
    submission = await run_in_threadpool(
        submit, context, principal, items, request.app.state.metrics
    )
    return submission.to_dict()
