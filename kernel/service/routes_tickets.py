"""``GET /api/v1/tickets`` (filters, pages), ``GET /api/v1/tickets/{id}`` and ``POST /explain``.

A unit sees only the tickets it has a part in; any other id answers 404 exactly as an id that
does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from kernel.clocks.monthly import month_bounds
from kernel.errors import CalendarError
from kernel.ledger.readmodel import TicketSummary
from kernel.service.access import Principal, can_read_ticket, ticket_units
from kernel.service.context import ServiceContext
from kernel.service.deps import Caller, Context, json_body
from kernel.service.problems import ApiProblem
from kernel.storage.readmodel_sql import TicketQuery, text_found
from kernel.vocabulary import TICKET_STATE_WORDS

router = APIRouter(tags=["办理单"])

_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def ticket_summary(state: Any) -> dict[str, Any]:
    """One row of the ticket list."""
    enterprise = state.ticket.data.get("enterprise", {})
    route = state.route
    return {
        "ticket_id": state.ticket_id,
        "enterprise": state.enterprise,
        "enterprise_name": enterprise.get("name"),
        "territory": enterprise.get("territory"),
        "lead_unit": state.lead_unit,
        "category": state.ticket.data.get("category"),
        "summary": state.ticket.data.get("summary"),
        "state": state.state,
        "state_label": state.state_label,
        "grade": state.grade,
        "primary": route.get("primary"),
        "co_handlers": list(route.get("co_handlers") or []),
        "collected_on": state.collected_on.isoformat(),
        "resolved_on": state.resolved_on.isoformat() if state.resolved_on else None,
    }


def _overdue(context: ServiceContext, state: Any, as_of: dt.date) -> bool | None:
    from kernel.clocks.lists import is_overdue

    return is_overdue(context.evaluator(), state, as_of)


def list_tickets(
    context: ServiceContext,
    principal: Principal,
    filters: dict[str, Any],
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """The filtered, readable tickets, one page of them, in id order.

    Answered from the read model (:func:`list_from_read_model`) when it is current; otherwise
    (a backend without one, or one behind its events) from the projection.
    """
    from kernel.ledger.readmodel import ReadModel

    if ReadModel(context.ledger).stored:
        return list_from_read_model(context, principal, filters, page, page_size)
    return list_replayed(context, principal, filters, page, page_size)


def list_query(principal: Principal, filters: dict[str, Any]) -> TicketQuery:
    """The read-model query of the list's filters and the caller's access (paging left out):
    a unit's own tickets and the ``unit`` filter are indexed lookups of the ticket's units,
    ``q`` a case-insensitive (ASCII) substring of the id, summary, enterprise or primary."""
    units = [] if principal.reads_everything else [principal.unit]
    if filters["unit"] and filters["unit"] not in units:
        units.append(filters["unit"])
    equal = {
        name: filters[name] for name in ("state", "grade", "category", "territory") if filters[name]
    }
    collected_from = collected_to = None
    if filters["month"]:
        collected_from, collected_to = month_bounds(str(filters["month"]))
    return TicketQuery(
        filters=equal,
        collected_from=collected_from,
        collected_to=collected_to,
        limit=None,
        units=tuple(units),
        text=(filters["q"] or "").strip().lower(),
        by_id=True,
    )


def list_from_read_model(
    context: ServiceContext,
    principal: Principal,
    filters: dict[str, Any],
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """:func:`list_tickets` from the read model: the filters are SQL, ``overdue`` is the
    sweep's stored flag where it holds (:mod:`kernel.clocks.lists`); only the page's rows and
    units are read."""
    from kernel.clocks.lists import overdue_ids

    storage = context.ledger.storage
    as_of = filters["as_of"] or context.today()
    query = list_query(principal, filters)
    start = (page - 1) * page_size
    if filters["overdue"] is None:
        total, rows = storage.ticket_rows(dataclasses.replace(query, offset=start, limit=page_size))
    else:
        ids = overdue_ids(context.ledger, context.evaluator(), query, as_of, filters["overdue"])
        total = len(ids)
        wanted = tuple(ids[start : start + page_size])
        _, rows = storage.ticket_rows(TicketQuery(limit=None, ticket_ids=wanted, by_id=True))
    roles = storage.ticket_roles([row[0] for row in rows])
    return {
        "total": total,
        "page": page,
        "page_size": page_size,
        "as_of": as_of.isoformat(),
        "items": [row_summary(row, roles.get(row[0], [])) for row in rows],
    }


def row_summary(row: tuple[Any, ...], roles: list[tuple[str, int, str]]) -> dict[str, Any]:
    """:func:`ticket_summary` from a read-model row and the ticket's units (the co-handlers
    as the route lists them)."""
    from kernel.ledger.rows import CO_HANDLER

    item = TicketSummary.from_row(row)
    return {
        "ticket_id": item.ticket_id,
        "enterprise": item.enterprise,
        "enterprise_name": item.enterprise_name,
        "territory": item.territory,
        "lead_unit": item.lead_unit,
        "category": item.category,
        "summary": item.summary,
        "state": item.state,
        "state_label": item.state_label,
        "grade": item.grade,
        "primary": item.primary_unit,
        "co_handlers": [unit for role, _, unit in sorted(roles) if role == CO_HANDLER],
        "collected_on": item.collected_on.isoformat(),
        "resolved_on": item.resolved_on.isoformat() if item.resolved_on else None,
    }


def list_replayed(
    context: ServiceContext,
    principal: Principal,
    filters: dict[str, Any],
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """:func:`list_tickets` from the projection of every event (no read model)."""
    projector = context.projection()
    as_of = filters["as_of"] or context.today()
    text = (filters["q"] or "").strip().lower()
    rows = []
    for ticket_id in sorted(projector.tickets):
        state = projector.tickets[ticket_id]
        if not can_read_ticket(principal, state):
            continue
        data = state.ticket.data
        enterprise = data.get("enterprise", {})
        route = state.route
        if filters["state"] and state.state != filters["state"]:
            continue
        if filters["grade"] and state.grade != filters["grade"]:
            continue
        if filters["category"] and data.get("category") != filters["category"]:
            continue
        if filters["territory"] and enterprise.get("territory") != filters["territory"]:
            continue
        if filters["month"] and state.collected_on.strftime("%Y-%m") != filters["month"]:
            continue
        if filters["unit"] and filters["unit"] not in ticket_units(state):
            continue
        if text and not text_found(
            text, (ticket_id, data.get("summary"), enterprise.get("name"), route.get("primary"))
        ):
            continue
        rows.append(state)
    if filters["overdue"] is not None:
        rows = [s for s in rows if _overdue(context, s, as_of) is filters["overdue"]]
    start = (page - 1) * page_size
    return {
        "total": len(rows),
        "page": page,
        "page_size": page_size,
        "as_of": as_of.isoformat(),
        "items": [ticket_summary(s) for s in rows[start : start + page_size]],
    }


@router.get("/tickets", summary="办理单列表（筛选、分页）")
async def get_tickets(
    context: Context,
    principal: Caller,
    state: Annotated[str | None, Query(description="办理状态，如 dispatched")] = None,
    grade: Annotated[str | None, Query(pattern="^[ABCD]$", description="等级")] = None,
    unit: Annotated[
        str | None, Query(description="有关单位（包抓、主办、协办、反馈、协调）")
    ] = None,
    category: Annotated[str | None, Query(description="问题类别")] = None,
    territory: Annotated[str | None, Query(description="所在县区")] = None,
    overdue: Annotated[bool | None, Query(description="是否超期（按 as_of）")] = None,
    month: Annotated[str | None, Query(description="收集月份 YYYY-MM")] = None,
    q: Annotated[
        str | None, Query(max_length=100, description="文字检索：编号、描述、企业名称")
    ] = None,
    as_of: Annotated[dt.date | None, Query(description="超期判断日期（默认今天）")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The tickets the caller may read, filtered, sorted by id, one page at a time."""
    if state is not None and state not in TICKET_STATE_WORDS:
        raise ApiProblem(
            422,
            "API-PARAMETER",
            f"办理状态 {state!s:.40} 无效，应为 {'、'.join(TICKET_STATE_WORDS)} 之一",
        )
    if month is not None and not _MONTH.match(month):
        raise ApiProblem(422, "API-PARAMETER", f"月份 {month!s:.20} 应写作 YYYY-MM")
    filters = {
        "state": state,
        "grade": grade,
        "unit": unit,
        "category": category,
        "territory": territory,
        "overdue": overdue,
        "month": month,
        "q": q,
        "as_of": as_of,
    }
    return await run_in_threadpool(list_tickets, context, principal, filters, page, page_size)


def ticket_detail(
    context: ServiceContext, principal: Principal, ticket_id: str, as_of: dt.date
) -> dict[str, Any]:
    """Everything about one ticket the caller may read (404 otherwise).

    The ticket is read through the read model (:class:`kernel.ledger.readmodel.ReadModel`):
    only its own events and its enterprise's, never a replay of the whole ledger.
    """
    from kernel.evaluation.explain import render_text
    from kernel.ledger.readmodel import ReadModel

    detail = ReadModel(context.ledger).ticket(ticket_id)
    state = detail.state if detail is not None else None
    if state is None or not can_read_ticket(principal, state):
        raise ApiProblem(404, "API-NOT-FOUND", f"办理单 {ticket_id:.64} 不存在")
    out = ticket_summary(state)
    out.update(
        {
            "reported_on": state.reported_on.isoformat() if state.reported_on else None,
            "graded_on": state.graded_on.isoformat() if state.graded_on else None,
            "dispatched_on": state.dispatched_on.isoformat() if state.dispatched_on else None,
            "feedback_on": state.feedback_on.isoformat() if state.feedback_on else None,
            "rating": state.rating,
            "rule_grade": state.rule_grade,
            "rule_route": state.rule_route,
            "rule_ids": list(state.rule_ids),
            "override_grade": state.override_grade,
            "override_route": state.override_route,
            "overrides": [e.to_dict() for e in state.overrides],
            "route": state.route,
            "handlers": list(state.handlers),
            "ticket": state.ticket.data,
            "timeline": [{**e.to_dict(), "seq": e.seq, "label": e.label} for e in state.events],
        }
    )
    try:
        clocks = context.evaluator().evaluate(state, as_of)
        out["clocks"] = clocks.to_dict()
    except CalendarError as exc:
        out["clocks"] = {"as_of": as_of.isoformat(), "error": str(exc)}
    with context.kernel_lock:
        evaluation = context.kernel().evaluate(state.ticket)
    out["explanation"] = evaluation.to_dict()
    out["explanation_text"] = render_text(evaluation)
    return out


@router.get(
    "/tickets/{ticket_id}",
    summary="办理单详情：状态、等级与路由（含规则结果与改判）、办理单位、事件时间线、时限、督办、说明",
    responses={404: {"description": "不存在，或不属于本单位"}},
)
async def get_ticket(
    ticket_id: str,
    context: Context,
    principal: Caller,
    as_of: Annotated[dt.date | None, Query(description="时限计算日期（默认今天）")] = None,
) -> dict[str, Any]:
    """One ticket with its clocks as of ``as_of`` and the explanation of its rule decisions."""
    return await run_in_threadpool(
        ticket_detail, context, principal, ticket_id, as_of or context.today()
    )


def explain(context: ServiceContext, data: Any) -> dict[str, Any]:
    """Grade and route one ticket; nothing is stored."""
    from kernel.evaluation.explain import render_text

    if not isinstance(data, dict):
        raise ApiProblem(422, "API-INPUT", "请求体应为一张办理单（JSON 对象）")
    with context.kernel_lock:
        kernel = context.kernel()
        ticket = kernel.validate(data, source="<请求体>")
        evaluation = kernel.evaluate(ticket)
    return {**evaluation.to_dict(), "text": render_text(evaluation)}


@router.post(
    "/explain",
    summary="对一张办理单分级、路由并说明依据（不写入台账）",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ticket"}}},
        }
    },
)
async def post_explain(request: Request, context: Context, principal: Caller) -> dict[str, Any]:
    """The grade, the route and the reasons (rule, clause, each condition with its value)."""
    body = await json_body(request, context)
    return await run_in_threadpool(explain, context, body)
