"""rules/lifecycle.yaml: which steps of a problem's life are allowed, by whom, within what limits.

Return and re-route, extension, suspension, withdrawal, not-accepted, merge and callback
(docs/policy.md §8) are ledger events; the projection knows their legal order, this file narrows
them further. The ledger's step guard (:mod:`kernel.clocks.steps`) applies it to every new
event. A step the file does not list is allowed wherever the projection allows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernel.errors import Problem
from kernel.inputs.sourcefile import SourceDoc

#: which keys make sense for which event (anything else is a LIFECYCLE-KEY problem)
STEP_KEYS: dict[str, frozenset[str]] = {
    "within_workdays": frozenset({"ticket.returned"}),
    "late": frozenset({"ticket.returned"}),
    "before_due": frozenset({"ticket.extension_requested", "ticket.extension_granted"}),
    "per_round": frozenset({"ticket.extension_requested", "ticket.extension_granted"}),
    "max_workdays": frozenset({"ticket.extension_requested", "ticket.extension_granted"}),
    "reasons": frozenset(
        {
            "ticket.returned",
            "ticket.suspended",
            "ticket.withdrawn",
            "ticket.rejected",
            "ticket.extension_requested",
            "ticket.extension_refused",
            "ticket.reopen_declined",
        }
    ),
}


@dataclass(frozen=True)
class StepRule:
    """The conditions on one kind of step."""

    id: str
    event: str
    title: str
    clause: str
    states: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    within_workdays: int | None = None
    late: str = "refuse"
    before_due: bool = False
    per_round: int | None = None
    max_workdays: dict[str, int] = field(default_factory=dict)
    max_default: int | None = None
    line: int = 0
    #: the file it is written in (a lower level's file when a county folder replaced it)
    path: str = ""

    def max_for(self, grade: str | None) -> int | None:
        """The most working days an extension may add in one round for ``grade``."""
        if grade is not None and grade in self.max_workdays:
            return self.max_workdays[grade]
        return self.max_default


@dataclass(frozen=True)
class LifecycleRules:
    """The whole lifecycle.yaml."""

    path: str
    version: int
    steps: tuple[StepRule, ...]

    def step(self, event_type: str) -> StepRule | None:
        """The rule for an event type, if the file has one."""
        for rule in self.steps:
            if rule.event == event_type:
                return rule
        return None


def parse_lifecycle(doc: SourceDoc, problems: list[Problem]) -> LifecycleRules | None:
    """Build :class:`LifecycleRules` from a schema-valid document, adding semantic problems."""
    before = len(problems)
    seen: dict[str, int] = {}
    steps: list[StepRule] = []
    for i, raw in enumerate(doc.data.get("steps") or []):
        if not isinstance(raw, dict):
            continue
        path: tuple[str | int, ...] = ("steps", i)
        event = str(raw.get("event"))
        line = doc.where(path)[0]
        if event in seen:
            problems.append(
                doc.problem(
                    (*path, "event"),
                    "DUPLICATE-ID",
                    f"事件 {event} 已在第 {seen[event]} 行规定，每种事件只能写一项",
                )
            )
        seen[event] = line
        for key, events in STEP_KEYS.items():
            if key in raw and event not in events:
                problems.append(
                    doc.problem(
                        (*path, key),
                        "LIFECYCLE-KEY",
                        f"{key} 不适用于 {event}，只适用于 {'、'.join(sorted(events))}",
                    )
                )
        if "late" in raw and "within_workdays" not in raw:
            problems.append(
                doc.problem((*path, "late"), "LIFECYCLE-KEY", "late 须与 within_workdays 一起写")
            )
        limit: Any = raw.get("max_workdays")
        steps.append(
            StepRule(
                id=str(raw.get("id")),
                event=event,
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                states=tuple(raw.get("states") or ()),
                actors=tuple(raw.get("actors") or ()),
                reasons=tuple(raw.get("reasons") or ()),
                within_workdays=raw.get("within_workdays"),
                late=str(raw.get("late", "refuse")),
                before_due=bool(raw.get("before_due", False)),
                per_round=raw.get("per_round"),
                max_workdays=dict(limit) if isinstance(limit, dict) else {},
                max_default=limit if isinstance(limit, int) else None,
                line=line,
                path=doc.file_of(path),
            )
        )
    if len(problems) > before:
        return None
    return LifecycleRules(doc.path, int(doc.data.get("version", 1)), tuple(steps))
