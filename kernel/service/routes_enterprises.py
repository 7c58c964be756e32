"""``GET /api/v1/enterprises`` and ``/{code}``: the roster with its "四个一" and monthly contacts.

A unit sees the enterprises it leads or works for; any other code answers 404.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from kernel.service.access import Principal, can_read_enterprise
from kernel.service.context import ServiceContext
from kernel.service.deps import Caller, Context
from kernel.service.problems import ApiProblem
from kernel.storage.enterprise_sql import EnterpriseQuery
from kernel.storage.readmodel_sql import TicketQuery

if TYPE_CHECKING:
    from kernel.ledger.projection import Enterprise

router = APIRouter(tags=["企业"])


def enterprise_summary(enterprise: Any) -> dict[str, Any]:
    """One row of the roster."""
    return {
        "credit_code": enterprise.credit_code,
        "registered_on": enterprise.registered_on.isoformat(),
        **enterprise.assignment,
    }


def list_enterprises(
    context: ServiceContext,
    principal: Principal,
    territory: str | None,
    lead_unit: str | None,
    q: str | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """The roster the caller may read, filtered, one page of it, by credit code.

    Answered from the read model (:func:`list_from_read_model`) when it is current; otherwise
    from the projection (:func:`list_replayed`).
    """
    from kernel.ledger.readmodel import ReadModel

    if ReadModel(context.ledger).stored:
        return list_from_read_model(context, principal, territory, lead_unit, q, page, page_size)
    return list_replayed(context, principal, territory, lead_unit, q, page, page_size)


def roster_query(
    principal: Principal, territory: str | None, lead_unit: str | None, q: str | None
) -> EnterpriseQuery:
    """The read-model query of the roster's filters and the caller's access (paging left
    out): a unit's own enterprises through ``rm_enterprise_units``, ``q`` a case-insensitive
    substring of ``"{code} {name}"``."""
    return EnterpriseQuery(
        territory=territory or None,
        lead_unit=lead_unit or None,
        unit=None if principal.reads_everything else principal.unit,
        text=(q or "").strip().lower(),
        limit=None,
    )


def list_from_read_model(
    context: ServiceContext,
    principal: Principal,
    territory: str | None,
    lead_unit: str | None,
    q: str | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """:func:`list_enterprises` from the read model: filters, access and the page in SQL."""
    from kernel.ledger.readmodel import ReadModel

    start = (page - 1) * page_size
    query = replace(roster_query(principal, territory, lead_unit, q), offset=start, limit=page_size)
    found = ReadModel(context.ledger).enterprises(query)
    return {
        "total": found.total,
        "page": page,
        "page_size": page_size,
        "items": [enterprise_summary(e) for e in found.items],
    }


def list_replayed(
    context: ServiceContext,
    principal: Principal,
    territory: str | None,
    lead_unit: str | None,
    q: str | None,
    page: int,
    page_size: int,
) -> dict[str, Any]:
    """:func:`list_enterprises` from the projection of every event (no read model)."""
    projector = context.projection()
    text = (q or "").strip().lower()
    rows = []
    for code in sorted(projector.enterprises):
        enterprise = projector.enterprises[code]
        assignment = enterprise.assignment
        if not can_read_enterprise(principal, assignment):
            continue
        if territory and assignment.get("territory") != territory:
            continue
        if lead_unit and assignment.get("lead_unit") != lead_unit:
            continue
        if text and text not in f"{code} {assignment.get('name', '')}".lower():
            continue
        rows.append(enterprise)
    start = (page - 1) * page_size
    return {
        "total": len(rows),
        "page": page,
        "page_size": page_size,
        "items": [enterprise_summary(e) for e in rows[start : start + page_size]],
    }


@router.get("/enterprises", summary="包抓企业名册（四个一）")
async def get_enterprises(
    context: Context,
    principal: Caller,
    territory: Annotated[str | None, Query(description="所在县区")] = None,
    lead_unit: Annotated[str | None, Query(description="包抓单位")] = None,
    q: Annotated[str | None, Query(max_length=100, description="名称或代码检索")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The enterprises the caller may read, by credit code, one page at a time."""
    return await run_in_threadpool(
        list_enterprises, context, principal, territory, lead_unit, q, page, page_size
    )


def enterprise_detail(context: ServiceContext, principal: Principal, code: str) -> dict[str, Any]:
    """One enterprise the caller may read (404 otherwise): its "四个一", changes, monthly
    contacts and the tickets the caller may read.

    With a current read model only the enterprise's own events, its contacts and its rows of
    ``rm_tickets`` are read; otherwise the projection is used (:func:`detail_replayed`).
    """
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(context.ledger)
    if not model.stored:
        return detail_replayed(context, principal, code)
    enterprise = model.enterprise(code)
    if enterprise is None or not can_read_enterprise(principal, enterprise.assignment):
        raise ApiProblem(404, "API-NOT-FOUND", f"企业 {code:.40} 不存在")
    units = () if principal.reads_everything else (principal.unit,)
    query = TicketQuery(filters={"enterprise": code}, units=units, limit=None, by_id=True)
    return detail_of(context, enterprise, model.ticket_ids(query))


def detail_replayed(context: ServiceContext, principal: Principal, code: str) -> dict[str, Any]:
    """:func:`enterprise_detail` from the projection of every event (no read model)."""
    from kernel.service.access import can_read_ticket

    projector = context.projection()
    enterprise = projector.enterprises.get(code)
    if enterprise is None or not can_read_enterprise(principal, enterprise.assignment):
        raise ApiProblem(404, "API-NOT-FOUND", f"企业 {code:.40} 不存在")
    tickets = sorted(
        t.ticket_id
        for t in projector.tickets.values()
        if t.enterprise == code and can_read_ticket(principal, t)
    )
    return detail_of(context, enterprise, tickets)


def detail_of(
    context: ServiceContext, enterprise: Enterprise, tickets: list[str]
) -> dict[str, Any]:
    """The JSON of one enterprise and the ids of the tickets shown with it (in id order)."""
    code = enterprise.credit_code
    contacts: dict[str, list[dict[str, Any]]] = {}
    for event in context.ledger.events(enterprise=code, types=("contact.recorded",)):
        contacts.setdefault(event.date.strftime("%Y-%m"), []).append(event.to_dict())
    out = enterprise_summary(enterprise)
    out["changes"] = [
        {"date": day.isoformat(), "field": name, "before": before, "after": after}
        for day, name, before, after in enterprise.changes
    ]
    out["monthly_contacts"] = [
        {"month": month, "count": len(items), "contacts": items}
        for month, items in sorted(contacts.items())
    ]
    out["tickets"] = tickets
    return out


@router.get(
    "/enterprises/{code}",
    summary="一家企业：四个一、变更、每月联系、办理单",
    responses={404: {"description": "不存在，或不由本单位包抓"}},
)
async def get_enterprise(code: str, context: Context, principal: Caller) -> dict[str, Any]:
    """One enterprise the caller may read."""
    return await run_in_threadpool(enterprise_detail, context, principal, code)
