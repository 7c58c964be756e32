"""The next steps a signed-in person may take on a problem, and the events they record.

Each step is one ledger event, the same as the HTTP API records; the ledger's own checks
(:func:`kernel.ledger.projection.apply_ticket` and the step guard of rules/lifecycle.yaml)
decide whether it is allowed, so a refusal here is the ledger's refusal in its own words. This
module only decides which forms to show: the main steps by role and state, and each step of
rules/lifecycle.yaml (return, re-route, extension, suspension, withdrawal, merge, callback …)
in the states and for the actors the file names, and the steps of 上下联动 (政策 §9.4) when the
rule folder is a level folder: a lower level's office refers a problem up, an upper level's office
sends a problem referred by a lower level back (``huhang level up|down`` carry both across).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from kernel.ledger.events import OFFICE, RATINGS
from kernel.ledger.projection import TicketState
from kernel.linkage.links import REFERRED_TAG
from kernel.rules.levels import Level
from kernel.rules.lifecycle import LifecycleRules, StepRule
from kernel.vocabulary import EVENT_TYPE_WORDS
from kernel.web.access import Viewer


@dataclass(frozen=True)
class Action:
    """One step: its name in URLs, the event type, its form fields and, for a step of
    rules/lifecycle.yaml, the rule (its title, clause and the reasons it allows)."""

    name: str
    event_type: str
    fields: tuple[str, ...] = ()
    rule: StepRule | None = None
    #: payload entries the step always records (the upper level's code of a referral)
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """The step in Chinese."""
        return EVENT_TYPE_WORDS.get(self.event_type, self.event_type)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons the rule allows (free text when empty)."""
        return self.rule.reasons if self.rule is not None else ()


#: the form fields of each step (names as in :func:`action_event`)
FIELDS: dict[str, tuple[str, ...]] = {
    "ticket.graded": (),
    "ticket.overridden": ("grade", "primary", "reason"),
    "ticket.dispatched": (),
    "ticket.progress_reported": ("summary",),
    "ticket.resolved": ("summary",),
    "ticket.feedback_given": ("summary",),
    "ticket.rated": ("rating", "summary"),
    "ticket.reopened": ("summary",),
    "ticket.returned": ("reason", "suggested", "summary"),
    "ticket.rerouted": ("primary", "summary"),
    "ticket.extension_requested": ("workdays", "reason_text"),
    "ticket.extension_granted": ("workdays", "reason_text"),
    "ticket.extension_refused": ("reason",),
    "ticket.suspended": ("reason",),
    "ticket.resumed": ("summary",),
    "ticket.withdrawn": ("reason",),
    "ticket.rejected": ("reason",),
    "ticket.merged": ("into", "summary"),
    "ticket.callback_recorded": ("resolution", "rating_opt", "summary"),
    "ticket.reopen_declined": ("reason",),
    "ticket.referred_up": ("summary",),
    "ticket.upper_declined": ("summary",),
}
#: 上下联动: the steps by URL name (offered by :func:`linkage_actions`)
LINKAGE = {"referred_up": "ticket.referred_up", "upper_declined": "ticket.upper_declined"}
MAIN = {
    "grade": "ticket.graded",
    "override": "ticket.overridden",
    "dispatch": "ticket.dispatched",
    "progress": "ticket.progress_reported",
    "resolve": "ticket.resolved",
    "feedback": "ticket.feedback_given",
    "rate": "ticket.rated",
    "reopen": "ticket.reopened",
}
#: states in which a step the lifecycle file lists without states is offered at all
_OPEN = ("collected", "reported", "graded", "dispatched", "returned", "suspended")
_IMPLIED_STATES = {
    "ticket.withdrawn": _OPEN,
    "ticket.reopen_declined": ("rated", "disputed"),
}


def _linkage_action(name: str, level: Level | None) -> Action | None:
    """A step of 上下联动 if this level has it: referring up needs an upper level."""
    if name == "referred_up" and level is not None and level.upper:
        return Action(name, LINKAGE[name], FIELDS[LINKAGE[name]], fixed=(("upper", level.upper),))
    if name == "upper_declined":
        return Action(name, LINKAGE[name], FIELDS[LINKAGE[name]])
    return None


def linkage_actions(viewer: Viewer, state: TicketState, level: Level | None) -> list[Action]:
    """The office's steps of 上下联动 on this problem (docs/guide/levels.md).

    At a lower level (a rule folder with ``level.yaml``), a graded or dispatched problem may be
    referred up; at any level, a problem that a lower level referred (tagged 下级报上级) may be
    sent back while it is reported or graded.
    """
    if not viewer.office:
        return []
    names = []
    if state.state in ("graded", "dispatched") and level is not None and level.upper:
        names.append("referred_up")
    tags = state.ticket.data.get("tags") or ()
    if state.state in ("reported", "graded") and REFERRED_TAG in tags:
        names.append("upper_declined")
    return [a for n in names if (a := _linkage_action(n, level)) is not None]


def action_named(
    name: str, lifecycle: LifecycleRules | None, level: Level | None = None
) -> Action | None:
    """The step of a URL: ``dispatch``, ``resolve`` … or a lifecycle event's name (``returned``)."""
    if name in MAIN:
        return Action(name, MAIN[name], FIELDS[MAIN[name]])
    if name in LINKAGE:
        return _linkage_action(name, level)
    event_type = f"ticket.{name}"
    if event_type not in FIELDS or event_type in MAIN.values():
        return None
    rule = lifecycle.step(event_type) if lifecycle is not None else None
    return Action(name, event_type, FIELDS[event_type], rule)


def _actors(rule: StepRule, state: TicketState) -> set[str]:
    """The units the rule lets take the step (as the step guard reads ``actors``)."""
    allowed: set[str] = set()
    route = state.route
    for role in rule.actors:
        if role == "office":
            allowed.add(OFFICE)
        elif role == "primary" and route.get("primary"):
            allowed.add(str(route["primary"]))
        elif role == "handler":
            allowed.update(state.handlers)
        elif role == "lead_unit":
            allowed.add(state.lead_unit)
        elif role == "feedback_owner":
            allowed.add(str(route.get("feedback_owner") or state.lead_unit))
    return allowed


def _lifecycle_actions(
    viewer: Viewer, state: TicketState, lifecycle: LifecycleRules
) -> list[Action]:
    found = []
    for rule in lifecycle.steps:
        if rule.event not in FIELDS or rule.event in (*MAIN.values(), *LINKAGE.values()):
            continue
        if rule.event in ("ticket.extension_granted", "ticket.extension_refused"):
            offered = state.extension_pending is not None
        else:
            states = rule.states or _IMPLIED_STATES.get(rule.event, ())
            offered = state.state in states
        if offered and (not rule.actors or viewer.actor in _actors(rule, state)):
            found.append(Action(rule.event.split(".", 1)[1], rule.event, FIELDS[rule.event], rule))
    return found


def next_actions(
    viewer: Viewer,
    state: TicketState,
    lifecycle: LifecycleRules | None = None,
    level: Level | None = None,
) -> list[Action]:
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
    actions = [Action(n, MAIN[n], FIELDS[MAIN[n]]) for n in names]
    if lifecycle is not None:
        actions += _lifecycle_actions(viewer, state, lifecycle)
    return actions + linkage_actions(viewer, state, level)


def new_event_id(kind: str) -> str:
    """A fresh event id for a step recorded from the console."""
    return f"web:{kind}:{uuid.uuid4().hex}"


def action_event(
    action: Action, viewer: Viewer, ticket_id: str, day: dt.date, form: dict[str, str]
) -> dict[str, Any]:
    """The ledger event of one step, from its form (the schema checks what is missing)."""
    payload: dict[str, Any] = dict(action.fixed)
    for name in action.fields:
        value = form.get(name, "").strip()
        if name in ("rating", "reason", "into", "resolution"):
            payload[name] = value  # required by the event's schema
        elif not value:
            continue
        elif name == "primary":
            payload["route"] = {"primary": value}
        elif name == "workdays":
            payload["workdays"] = int(value) if value.isdigit() else value
        elif name == "rating_opt":
            payload["rating"] = value
        elif name == "reason_text":
            payload["reason"] = value
        else:  # grade, suggested, summary
            payload[name] = value
    return {
        "event_id": new_event_id(action.name),
        "type": action.event_type,
        "date": day.isoformat(),
        "actor": viewer.actor,
        "person": viewer.name,
        "ticket_id": ticket_id,
        "payload": payload,
    }


__all__ = [
    "FIELDS",
    "OFFICE",
    "RATINGS",
    "Action",
    "action_event",
    "action_named",
    "linkage_actions",
    "next_actions",
]
