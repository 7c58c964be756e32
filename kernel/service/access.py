"""Who may do what over the API: principals, their roles and the checks every route makes.

Three roles (issue 17): the **office** (助商稳企办) may do everything; a **unit** reads only the
tickets where it is lead unit, primary or co-handler, feedback owner or coordinator, the
enterprises it leads or works for, its own unit report, and submits events only as itself; an
**auditor** reads everything and writes nothing. These functions are pure (no FastAPI, no
storage), so the console and the tests use the same rules as the routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kernel.ledger.rows import assignment_units, unit_roles
from kernel.vocabulary import ROLE_WORDS

OFFICE_ROLE = "office"
UNIT_ROLE = "unit"
AUDITOR_ROLE = "auditor"
ROLES: tuple[str, ...] = (OFFICE_ROLE, UNIT_ROLE, AUDITOR_ROLE)


@dataclass(frozen=True)
class Principal:
    """The holder of a token: a name, the unit it acts for and its role."""

    name: str
    unit: str
    role: str
    token_id: str = ""

    @property
    def label(self) -> str:
        """How the principal is recorded on events and shown: ``名称（单位，角色）``."""
        return f"{self.name}（{self.unit}，{ROLE_WORDS.get(self.role, self.role)}）"

    @property
    def reads_everything(self) -> bool:
        """Office and auditor read every ticket, enterprise and report."""
        return self.role in (OFFICE_ROLE, AUDITOR_ROLE)

    @property
    def may_write(self) -> bool:
        """Office and units submit events; the auditor writes nothing."""
        return self.role in (OFFICE_ROLE, UNIT_ROLE)

    @property
    def is_office(self) -> bool:
        """Only the office sweeps, retries the outbox and checks candidate rules."""
        return self.role == OFFICE_ROLE


class TicketView(Protocol):
    """What the access rules need of a ticket (``TicketState`` has all of it)."""

    @property
    def lead_unit(self) -> str: ...

    @property
    def route(self) -> dict[str, Any]: ...


def ticket_units(ticket: TicketView) -> set[str]:
    """Every unit with a part in the ticket: lead, primary, co-handlers, feedback, coordinators.

    The read model stores the same units (``rm_ticket_units``, :func:`unit_roles`), so a
    list of the tickets a unit may read is an indexed query.
    """
    return {unit for _, _, unit in unit_roles(ticket.route, ticket.lead_unit)}


def can_read_ticket(principal: Principal, ticket: TicketView) -> bool:
    """Office and auditor read every ticket; a unit only those it has a part in."""
    return principal.reads_everything or principal.unit in ticket_units(ticket)


def enterprise_units(assignment: Mapping[str, Any]) -> set[str]:
    """The units of an enterprise's "四个一": its lead unit and its working group.

    The read model stores the same units (``rm_enterprise_units``, :func:`assignment_units`),
    so a unit's roster is an indexed query.
    """
    return assignment_units(assignment)


def can_read_enterprise(principal: Principal, assignment: Mapping[str, Any]) -> bool:
    """Office and auditor read the whole roster; a unit the enterprises it leads or works for."""
    return principal.reads_everything or principal.unit in enterprise_units(assignment)


def can_read_unit_report(principal: Principal, unit: str) -> bool:
    """A unit reads its own deductions only."""
    return principal.reads_everything or principal.unit == unit


def can_submit_as(principal: Principal, actor: Any) -> bool:
    """A unit submits events only as itself; the office as any unit; the auditor never."""
    if principal.role == OFFICE_ROLE:
        return True
    return principal.role == UNIT_ROLE and actor == principal.unit


def readable(principal: Principal, tickets: Iterable[TicketView]) -> list[TicketView]:
    """The tickets the principal may read, in the given order."""
    return [t for t in tickets if can_read_ticket(principal, t)]
