"""The next steps a signed-in person may take on a problem, and the events they record.

Each step is one ledger event, the same as the HTTP API records; the ledger's own checks
(:func:`kernel.ledger.projection.apply_ticket`) decide whether it is allowed, so a refusal here
is the ledger's refusal in its own words. The list below only decides which forms to show.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from kernel.ledger.events import OFFICE, RATINGS
from kernel.ledger.projection import TicketState
from kernel.vocabulary import EVENT_TYPE_WORDS
from kernel.web.access import Viewer


@dataclass(frozen=True)
class Action:
    """One step: its name in URLs, the event type, the Chinese label and its form fields."""

    name: str
    event_type: str
    fields: tuple[str, ...] = ()  # summary | rating

    @property
    def label(self) -> str:
        """The step in Chinese."""
        return EVENT_TYPE_WORDS[self.event_type]


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("grade", "ticket.graded"),
        Action("override", "ticket.overridden", ("grade", "primary", "reason")),
        Action("dispatch", "ticket.dispatched"),
        Action("progress", "ticket.progress_reported", ("summary",)),
        Action("resolve", "ticket.resolved", ("summary",)),
        Action("feedback", "ticket.feedback_given", ("summary",)),
        Action("rate", "ticket.rated", ("rating", "summary")),
        Action("reopen", "ticket.reopened", ("summary",)),
    )
}


def next_actions(viewer: Viewer, state: TicketState) -> list[Action]:
    """The steps this person may take now (the forms the problem's page shows)."""
    if not viewer.may_write:
        return []
    route = state.route
    names: list[str] = []
    if viewer.office:
        names += {
            "reported": ["grade"],
            "graded": ["dispatch", "override"],
            "dispatched": ["override"],
            "resolved": ["feedback"],
            "feedback_given": ["rate"],
        }.get(state.state, [])
        if state.state == "rated" and state.rating == "不满意":
            names.append("reopen")
    else:
        if state.state == "dispatched" and viewer.unit in state.handlers:
            names += ["progress", "resolve"]
        owner = route.get("feedback_owner") or state.lead_unit
        if state.state == "resolved" and viewer.unit == owner:
            names.append("feedback")
    return [ACTIONS[n] for n in names]


def new_event_id(kind: str) -> str:
    """A fresh event id for a step recorded from the console."""
    return f"web:{kind}:{uuid.uuid4().hex}"


def action_event(
    action: Action, viewer: Viewer, ticket_id: str, day: dt.date, form: dict[str, str]
) -> dict[str, Any]:
    """The ledger event of one step, from its form."""
    payload: dict[str, Any] = {}
    summary = form.get("summary", "").strip()
    if "summary" in action.fields and summary:
        payload["summary"] = summary
    if "rating" in action.fields:
        payload["rating"] = form.get("rating", "")
    if "reason" in action.fields:
        payload["reason"] = form.get("reason", "").strip()
        if form.get("grade"):
            payload["grade"] = form["grade"]
        if form.get("primary"):
            payload["route"] = {"primary": form["primary"]}
    return {
        "event_id": new_event_id(action.name),
        "type": action.event_type,
        "date": day.isoformat(),
        "actor": viewer.actor,
        "person": viewer.name,
        "ticket_id": ticket_id,
        "payload": payload,
    }


__all__ = ["ACTIONS", "OFFICE", "RATINGS", "Action", "action_event", "next_actions"]
