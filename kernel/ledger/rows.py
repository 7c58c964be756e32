"""The read model's rows: a pure function of the projected states (no storage, no ledger).

A ticket's row is computed from its :class:`kernel.ledger.projection.TicketState`, so every
event kind -- including kinds added later -- changes it through ``apply_ticket`` alone; a new
kind needs code here only if it brings a new column.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from typing import Any

from kernel.ledger.projection import Enterprise, TicketState


def iso(day: dt.date | None) -> str | None:
    """A date as stored (ISO text)."""
    return None if day is None else day.isoformat()


def day_of(text: Any) -> dt.date | None:
    """An ISO date column as a date."""
    return None if text is None else dt.date.fromisoformat(str(text))


@lru_cache(maxsize=4096)
def _units_json(units: tuple[str, ...]) -> str:
    """The co-handlers column: a JSON list (a few hundred distinct lists in a ledger)."""
    return json.dumps(list(units), ensure_ascii=False)


_DATE = attrgetter("date")


def ticket_row(state: TicketState) -> tuple[Any, ...]:
    """The ``rm_tickets`` row of a ticket state (column order of ``TICKET_COLUMNS``)."""
    data = state.ticket.data
    company = data["enterprise"]
    route = state.route
    primary = route.get("primary")
    co = tuple(u for u in route.get("co_handlers", []) if u != primary)
    last = state.events[-1]
    return (
        state.ticket_id,
        state.enterprise,
        company.get("name"),
        company.get("territory"),
        state.lead_unit,
        data["category"],
        data["summary"],
        state.state,
        state.grade,
        int(bool(state.overrides)),
        primary,
        _units_json(co),
        iso(state.collected_on),
        iso(state.reported_on),
        iso(state.graded_on),
        iso(state.dispatched_on),
        iso(state.resolved_on),
        iso(state.feedback_on),
        iso(state.rated_on),
        state.rating,
        len(state.rounds),
        int(last.seq or 0),
        max(map(_DATE, state.events)).isoformat(),
        last.type,
        len(state.events),
    )


#: the roles a unit has in a ticket (``rm_ticket_units.role``): 包抓, 主办, 协办, 反馈, 协调
LEAD, PRIMARY, CO_HANDLER, FEEDBACK, COORDINATOR = (
    "lead",
    "primary",
    "co_handler",
    "feedback",
    "coordinator",
)


def unit_roles(route: Mapping[str, Any], lead_unit: str) -> list[tuple[str, int, str]]:
    """``(role, position, unit)`` of every unit with a part in a ticket, in route order.

    The lead unit, the primary and the feedback owner (position 0), then the co-handlers and
    the coordinators at their positions in the route's lists; slots that are not unit names
    are left out. These are the units that may read the ticket
    (:func:`kernel.service.access.ticket_units`).
    """
    out = [(LEAD, 0, lead_unit)]
    for role, slot in ((PRIMARY, "primary"), (FEEDBACK, "feedback_owner")):
        if isinstance(route.get(slot), str):
            out.append((role, 0, route[slot]))
    for role, slot in ((CO_HANDLER, "co_handlers"), (COORDINATOR, "coordinators")):
        for position, unit in enumerate(route.get(slot) or ()):
            if isinstance(unit, str):
                out.append((role, position, unit))
    return out


def unit_rows(state: TicketState) -> list[tuple[Any, ...]]:
    """The ``rm_ticket_units`` rows of a ticket state: ``(ticket_id, role, position, unit)``."""
    return [(state.ticket_id, *item) for item in unit_roles(state.route, state.lead_unit)]


def enterprise_row(enterprise: Enterprise, last_seq: int) -> tuple[Any, ...]:
    """The ``rm_enterprises`` row of an enterprise (column order of ``ENTERPRISE_COLUMNS``):
    the "四个一" as a JSON object in its fields' order, so reading it gives the same dict."""
    return (
        enterprise.credit_code,
        enterprise.get("name"),
        enterprise.get("territory"),
        enterprise.get("lead_unit"),
        enterprise.registered_on.isoformat(),
        last_seq,
        json.dumps(enterprise.assignment, ensure_ascii=False),
    )


def assignment_units(assignment: Mapping[str, Any]) -> set[str]:
    """The units of an enterprise's "四个一": its lead unit and its working group (who may read
    the enterprise, :func:`kernel.service.access.can_read_enterprise`)."""
    units = set()
    if isinstance(assignment.get("lead_unit"), str):
        units.add(assignment["lead_unit"])
    units.update(u for u in assignment.get("working_group") or () if isinstance(u, str))
    return units


def enterprise_unit_rows(enterprise: Enterprise) -> list[tuple[str, str]]:
    """The ``rm_enterprise_units`` rows of an enterprise: ``(credit_code, unit)``, by unit."""
    return [
        (enterprise.credit_code, unit) for unit in sorted(assignment_units(enterprise.assignment))
    ]


@dataclass(frozen=True)
class ModelRows:
    """Ticket, enterprise, ticket-unit and enterprise-unit rows, sorted (what a rebuild writes
    or checks)."""

    tickets: list[tuple[Any, ...]]
    enterprises: list[tuple[Any, ...]]
    units: list[tuple[Any, ...]] = field(default_factory=list)
    enterprise_units: list[tuple[Any, ...]] = field(default_factory=list)
