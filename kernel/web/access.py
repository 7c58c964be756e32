"""Who is signed in and what each role may see: a unit sees only its own work.

The rules are the HTTP service's (:mod:`kernel.service.access`): a unit's problems are those
where it is the primary handler, a co-handler, the feedback owner, a coordinator or the
enterprise's lead unit; anything else is answered as if it did not exist (404), so a unit cannot
even learn that another unit's problem number is taken. The office and the auditor see
everything; the auditor changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.ledger.events import OFFICE
from kernel.ledger.projection import Enterprise, TicketState
from kernel.service.access import (
    Principal,
    can_read_enterprise,
    can_read_ticket,
    ticket_units,
)
from kernel.vocabulary import ROLE_WORDS


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: account name, the principal's name, unit and role."""

    account: str
    name: str
    unit: str
    role: str

    @property
    def office(self) -> bool:
        """True for the office's clerks."""
        return self.role == "office"

    @property
    def may_write(self) -> bool:
        """False for the read-only auditor."""
        return self.role in ("office", "unit")

    @property
    def actor(self) -> str:
        """The unit named as ``actor`` in the events this person records."""
        return OFFICE if self.office else self.unit

    @property
    def role_word(self) -> str:
        """The role in Chinese."""
        return ROLE_WORDS.get(self.role, self.role)

    @property
    def principal(self) -> Principal:
        """The HTTP service's principal of this person (recorded on events as ``recorded_by``)."""
        return Principal(self.name, self.unit, self.role)


def units_of(state: TicketState) -> set[str]:
    """Every unit with a part in a problem."""
    return ticket_units(state)


def may_see_ticket(viewer: Viewer, state: TicketState) -> bool:
    """Whether the viewer may open this problem."""
    return can_read_ticket(viewer.principal, state)


def may_see_enterprise(viewer: Viewer, enterprise: Enterprise) -> bool:
    """Whether the viewer may see this enterprise (a unit: it leads it or works for it)."""
    return can_read_enterprise(viewer.principal, enterprise.assignment)
