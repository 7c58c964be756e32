"""Baseline (a): the kernel's own compiled rulesets, driven through the C extension bare.

The messages are the ones the kernel sends (``plan.build(values)`` encoded by
``Engine.message``), built once before timing; the loop then does only what
``kernel/engine.py`` must do per message: ``assert_event`` and drain for first match,
``assert_fact``, drain and ``retract_fact`` for collect, reading the fired rule indexes out of
the action text. No lock, no wrapper objects, no merging, no explanations: the engine's ceiling.
"""

from __future__ import annotations

from typing import Any

import durable_rules_engine as dre

from kernel.evaluation.kernel import Kernel
from kernel.evaluation.ticket import Ticket

NOT_HANDLED = 1


def messages(kernel: Kernel, tickets: list[Ticket]) -> list[tuple[str, str]]:
    """(grading message, routing message) per ticket, exactly as the kernel encodes them.

    The routing message carries the grade the kernel gives, as it does in ``Kernel._route``.
    """
    grading = kernel._grading
    routing = kernel._routing
    out = []
    for ticket in tickets:
        values: dict[str, Any] = dict(ticket.values)
        grade_text = grading.engine.message(grading.plan.build(values))
        grade = kernel.grade_only(ticket)
        if grade is not None:
            values["grade"] = grade
        out.append((grade_text, routing.engine.message(routing.plan.build(values))))
    return out


def _drain(handle: int, state: int, fired: list[int]) -> None:
    result = dre.start_action_for_state(handle, state)
    if not result:
        return
    text = result[1]
    fired.append(int(text[3 : text.index('"', 3)]))
    while True:
        text = dre.complete_and_start_action(handle, state)
        if not text:
            return
        fired.append(int(text[3 : text.index('"', 3)]))


def first(handle: int, text: str) -> int | None:
    """First match: post as an event, the lowest-priority rule fires."""
    code, state = dre.assert_event(handle, text)
    if code == NOT_HANDLED:
        return None
    fired: list[int] = []
    _drain(handle, state, fired)
    return min(fired) if fired else None


def collect(handle: int, text: str) -> list[int]:
    """Collect: assert as a fact, drain every fired rule, retract."""
    code, state = dre.assert_fact(handle, text)
    fired: list[int] = []
    if code != NOT_HANDLED:
        _drain(handle, state, fired)
    dre.retract_fact(handle, text)
    return fired


class RawEngine:
    """Grading and routing handles of a kernel, with its pre-encoded messages."""

    def __init__(self, kernel: Kernel, tickets: list[Ticket]) -> None:
        self.grading = kernel._grading.engine._live()
        self.routing = kernel._routing.engine._live()
        self.messages = messages(kernel, tickets)

    def run(self) -> list[tuple[int | None, list[int]]]:
        """Grade and route every ticket once: (first grading rule, fired routing rules)."""
        grading, routing = self.grading, self.routing
        return [(first(grading, g), collect(routing, r)) for g, r in self.messages]

    def run_grading(self) -> list[int | None]:
        """Grading alone."""
        grading = self.grading
        return [first(grading, g) for g, _ in self.messages]
