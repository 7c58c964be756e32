"""Who is signed in and what each role may see: a unit sees only its own work.

A unit's problems are those where it is the primary handler, a co-handler, the feedback owner,
a coordinator or the enterprise's lead unit; anything else is answered as if it did not exist
(404), so a unit cannot even learn that another unit's problem number is taken. The office and
the auditor see everything; the auditor changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.ledger.events import OFFICE
from kernel.ledger.projection import Enterprise, TicketState

ROLE_WORDS = {"office": "助商稳企办", "unit": "责任单位", "auditor": "审计查阅"}


@dataclass(frozen=True)
class Viewer:
    """The signed-in person: account name, principal, unit and role."""

    account: str
    principal: str
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


def units_of(state: TicketState) -> set[str]:
    """Every unit with a part in a problem."""
    route = state.route
    units = {state.lead_unit}
    for slot in ("primary", "feedback_owner"):
        if route.get(slot):
            units.add(str(route[slot]))
    for slot in ("co_handlers", "coordinators"):
        units.update(str(u) for u in route.get(slot) or [])
    return units


def may_see_ticket(viewer: Viewer, state: TicketState) -> bool:
    """Whether the viewer may open this problem."""
    return viewer.role in ("office", "auditor") or viewer.unit in units_of(state)


def may_see_enterprise(viewer: Viewer, enterprise: Enterprise) -> bool:
    """Whether the viewer may see this enterprise (a unit: in its working group or lead)."""
    if viewer.role in ("office", "auditor"):
        return True
    group = {str(u) for u in enterprise.get("working_group") or []}
    territory = enterprise.get("territory")
    return viewer.unit in group | {enterprise.get("lead_unit"), territory}
