"""The evaluator as it was before the lazy one (main at 7262f8e), kept as the oracle.

``EagerKernel`` is :class:`kernel.evaluation.kernel.Kernel` with grading and routing done the
old way: the message built as a mapping (``MessagePlan.build``) and encoded by
``Engine.message``, every ``Decision`` (rules tried before the winner, rules matched) built at
once, and the routing merge run rule by rule on ``Rule.then``. tests/test_evaluation_lazy.py
checks that the fast evaluator gives the same JSON and the same explanation text.
"""

from __future__ import annotations

from typing import Any

from kernel.evaluation.decisions import (
    Assignment,
    Decision,
    Evaluation,
    GradeResult,
    Override,
    RouteResult,
)
from kernel.evaluation.kernel import FLAG_SLOTS, LIST_SLOTS, SINGLE_SLOTS, Kernel, resolve_units
from kernel.evaluation.ticket import Ticket
from kernel.rules.model import Rule


class EagerKernel(Kernel):
    """The pre-change evaluator (see the module docstring)."""

    def evaluate(self, ticket: Ticket | dict[str, Any]) -> Evaluation:
        if not isinstance(ticket, Ticket):
            ticket = self.validate(ticket)
        grade = self._eager_grade(ticket)
        route = self._eager_route(ticket, grade.grade)
        data = ticket.data
        return Evaluation(
            ticket_id=ticket.ticket_id,
            enterprise=str(data["enterprise"]["name"]),
            territory=str(data["enterprise"]["territory"]),
            category=str(data["category"]),
            grade=grade,
            route=route,
            rules={"fingerprint": self.ruleset.fingerprint, "versions": self.ruleset.versions()},
        )

    def route_for(self, ticket: Ticket, grade: str) -> RouteResult:
        return self._eager_route(ticket, grade)

    def _old_decision(self, rule: Rule, values: dict[str, Any], kind: str) -> Decision:
        fields = self._grading_fields if kind == "grading" else self._routing_fields
        return Decision(self._refs[rule.id], rule, values, fields)

    def _eager_grade(self, ticket: Ticket) -> GradeResult:
        rule_file = self.ruleset.grading
        compiled = self._grading
        values = ticket.values
        rule: Rule | None
        if rule_file.hit_policy == "first":
            index = compiled.engine.first(compiled.plan.build(values))
            rule = None if index is None else rule_file.rules[index]
            considered = rule_file.rules if rule is None else rule_file.rules[: rule.index]
        else:
            found = compiled.engine.collect(compiled.plan.build(values))
            rule = None
            for candidate in (rule_file.rules[i] for i in found):
                if rule is None or candidate.precedence > rule.precedence:
                    rule = candidate
            considered = tuple(r for r in rule_file.rules if r is not rule)
        not_matched = tuple(self._old_decision(r, values, "grading") for r in considered)
        if rule is None:
            return GradeResult(None, None, not_matched, rule_file.hit_policy)
        decision = self._old_decision(rule, values, "grading")
        return GradeResult(str(rule.then["grade"]), decision, not_matched, rule_file.hit_policy)

    def _eager_route(self, ticket: Ticket, grade: str | None) -> RouteResult:
        values = dict(ticket.values)
        if grade is not None:
            values["grade"] = grade
        compiled = self._routing
        matches = [
            compiled.rule_file.rules[i]
            for i in compiled.engine.collect(compiled.plan.build(values))
        ]
        reference = self.ruleset.reference
        singles: dict[str, tuple[Rule, str]] = {}
        overridden: list[Override] = []
        lists: dict[str, dict[str, list[str]]] = {slot: {} for slot in LIST_SLOTS}
        flags: dict[str, list[str]] = {slot: [] for slot in FLAG_SLOTS}
        for rule in sorted(matches, key=lambda r: (-r.precedence, r.index)):
            for slot in SINGLE_SLOTS:
                if slot not in rule.then:
                    continue
                units = resolve_units(rule.then[slot], values)
                if not units:
                    continue
                if slot in singles:
                    winner = singles[slot][0]
                    if units[0] != singles[slot][1]:
                        overridden.append(Override(slot, units[0], rule.id, winner.id))
                    continue
                singles[slot] = (rule, units[0])
        for rule in matches:
            for slot in LIST_SLOTS:
                for value in rule.then.get(slot, ()):
                    for unit in resolve_units(value, values):
                        lists[slot].setdefault(unit, []).append(rule.id)
            for slot in FLAG_SLOTS:
                if rule.then.get(slot):
                    flags[slot].append(rule.id)

        def single(slot: str) -> Assignment | None:
            if slot not in singles:
                return None
            rule, unit = singles[slot]
            return Assignment(unit, reference.unit_name(unit), (rule.id,))

        primary = single("primary")
        return RouteResult(
            primary=primary,
            co_handlers=tuple(
                Assignment(unit, reference.unit_name(unit), tuple(rules))
                for unit, rules in lists["co_handlers"].items()
                if primary is None or unit != primary.unit
            ),
            feedback_owner=single("feedback_owner"),
            coordinators=tuple(
                Assignment(unit, reference.unit_name(unit), tuple(rules))
                for unit, rules in lists["coordinators"].items()
            ),
            agenda=bool(flags["agenda"]),
            report_upward=bool(flags["report_upward"]),
            matched=tuple(self._old_decision(r, values, "routing") for r in matches),
            overridden=tuple(overridden),
            flag_rules={slot: tuple(ids) for slot, ids in flags.items()},
        )
