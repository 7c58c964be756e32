"""Baseline (b): the same rules evaluated in plain Python, without durable-rules.

Grading tries the rules in file order with :func:`kernel.rules.conditions.holds` (the kernel's
reference semantics) and stops at the first that holds; routing collects every rule that holds
and merges their outcomes exactly as :meth:`kernel.evaluation.kernel.Kernel._route` does (single slots to
the highest precedence, ties to the earlier rule; lists in file order without duplicates; flags
if any rule sets them; the primary handler never also a co-handler). No explanation objects are
built: this is the floor for evaluating these rules in this language.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kernel.rules.conditions import holds
from kernel.rules.model import Rule, RuleSet, UnitValue

SINGLE_SLOTS = ("primary", "feedback_owner")
LIST_SLOTS = ("co_handlers", "coordinators")
FLAG_SLOTS = ("agenda", "report_upward")


@dataclass(frozen=True)
class Outcome:
    """What every evaluator in the suite returns for one ticket (compared across them)."""

    grade: str | None
    primary: str | None
    co_handlers: tuple[str, ...]
    feedback_owner: str | None
    coordinators: tuple[str, ...]
    agenda: bool
    report_upward: bool


def resolve(value: UnitValue, values: dict[str, Any]) -> list[str]:
    """The unit(s) an outcome names: a unit id, or the ticket's value of a ``{ref: field}``."""
    if value.unit is not None:
        return [value.unit]
    found = values.get(value.ref or "")
    if isinstance(found, list):
        return [str(v) for v in found]
    return [] if found is None else [str(found)]


def proposals(rules: Iterable[Rule], values: dict[str, Any]) -> list[dict[str, Any]]:
    """Each matching routing rule's outcome with its refs resolved, in file order."""
    out = []
    for rule in rules:
        then = rule.then
        item: dict[str, Any] = {"index": rule.index, "precedence": rule.precedence}
        for slot in SINGLE_SLOTS:
            if slot in then:
                units = resolve(then[slot], values)
                item[slot] = units[0] if units else None
        for slot in LIST_SLOTS:
            if slot in then:
                item[slot] = [u for v in then[slot] for u in resolve(v, values)]
        for slot in FLAG_SLOTS:
            if then.get(slot):
                item[slot] = True
        out.append(item)
    return out


def merge(grade: str | None, matched: list[dict[str, Any]]) -> Outcome:
    """Merge the proposals of the matching routing rules (collect hit policy)."""
    singles: dict[str, str] = {}
    for item in sorted(matched, key=lambda p: (-p["precedence"], p["index"])):
        for slot in SINGLE_SLOTS:
            unit = item.get(slot)
            if unit and slot not in singles:
                singles[slot] = unit
    lists: dict[str, dict[str, None]] = {slot: {} for slot in LIST_SLOTS}
    flags = dict.fromkeys(FLAG_SLOTS, False)
    for item in matched:
        for slot in LIST_SLOTS:
            for unit in item.get(slot) or ():
                lists[slot][unit] = None
        for slot in FLAG_SLOTS:
            if item.get(slot):
                flags[slot] = True
    primary = singles.get("primary")
    return Outcome(
        grade=grade,
        primary=primary,
        co_handlers=tuple(u for u in lists["co_handlers"] if u != primary),
        feedback_owner=singles.get("feedback_owner"),
        coordinators=tuple(lists["coordinators"]),
        agenda=flags["agenda"],
        report_upward=flags["report_upward"],
    )


class PlainEvaluator:
    """First-match grading and collect routing over the parsed condition trees."""

    def __init__(self, ruleset: RuleSet) -> None:
        if ruleset.grading.hit_policy != "first" or ruleset.routing.hit_policy != "collect":
            raise ValueError("the plain baseline implements grading=first, routing=collect")
        self.grading = ruleset.grading.rules
        self.routing = ruleset.routing.rules

    def first_rule(self, values: dict[str, Any]) -> Rule | None:
        """The first grading rule that holds."""
        for rule in self.grading:
            if holds(rule.when, values):
                return rule
        return None

    def grade(self, values: dict[str, Any]) -> str | None:
        """The grade of the first grading rule that holds."""
        rule = self.first_rule(values)
        return None if rule is None else str(rule.then["grade"])

    def route_rules(self, values: dict[str, Any], grade: str | None) -> list[Rule]:
        """The routing rules that hold, with ``grade`` visible to them."""
        if grade is not None:
            values = {**values, "grade": grade}
        return [rule for rule in self.routing if holds(rule.when, values)]

    def evaluate(self, values: dict[str, Any]) -> Outcome:
        """Grade, then route with the grade visible to the routing rules."""
        grade = self.grade(values)
        if grade is not None:
            values = {**values, "grade": grade}
        matched = [rule for rule in self.routing if holds(rule.when, values)]
        return merge(grade, proposals(matched, values))
