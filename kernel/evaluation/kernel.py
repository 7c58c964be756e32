"""Grade and route a ticket: the rule set compiled to durable-rules, with the reasons kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kernel.evaluation.compile import CompiledRules, compile_rule_file
from kernel.evaluation.decisions import (
    Assignment,
    Decision,
    Evaluation,
    GradeResult,
    LazyDecisions,
    Override,
    RouteResult,
    RuleRef,
)
from kernel.evaluation.ticket import Ticket, validate_ticket
from kernel.rules.fields import FieldSpec, fields_for
from kernel.rules.load import load_rules
from kernel.rules.model import Rule, RuleFile, RuleSet, UnitValue

SINGLE_SLOTS = ("primary", "feedback_owner")
LIST_SLOTS = ("co_handlers", "coordinators")
FLAG_SLOTS = ("agenda", "report_upward")


def _compile(rule_file: RuleFile, fields: dict[str, FieldSpec]) -> CompiledRules:
    list_fields = {path for path, spec in fields.items() if spec.type == "array"}
    always_present = {
        path for path, spec in fields.items() if spec.required or spec.default is not None
    }
    return compile_rule_file(rule_file, list_fields, always_present)


class Kernel:
    """A rule set compiled and ready to evaluate tickets.

    Build one per rule set and reuse it: compiling takes milliseconds, evaluating microseconds.
    Call :meth:`close` (or use ``with``) to release the engines; a replacement rule set is simply
    a new ``Kernel``.
    """

    def __init__(self, ruleset: RuleSet) -> None:
        self.ruleset = ruleset
        self._grading_fields = fields_for("grading")
        self._routing_fields = fields_for("routing")
        self._grading = _compile(ruleset.grading, self._grading_fields)
        self._routing = _compile(ruleset.routing, self._routing_fields)
        self._refs = {
            rule.id: RuleRef.of(rule, rule_file.version)
            for rule_file in ruleset.files.values()
            for rule in rule_file.rules
        }

    @classmethod
    def from_dir(cls, directory: Path | str | None = None) -> Kernel:
        """Load, check and compile the rules in ``directory`` (default: the project's rules/)."""
        return cls(load_rules(directory))

    # ------------------------------------------------------------------ public API

    def validate(self, data: dict[str, Any], source: str = "<ticket>") -> Ticket:
        """Check a ticket against the contract and this rule set's reference data."""
        return validate_ticket(data, self.ruleset.reference, source)

    def evaluate(self, ticket: Ticket | dict[str, Any]) -> Evaluation:
        """Grade and route one ticket; a mapping is validated first."""
        if not isinstance(ticket, Ticket):
            ticket = self.validate(ticket)
        grade = self._grade(ticket)
        route = self._route(ticket, grade.grade)
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
        """The route the rules give ``ticket`` if it had ``grade`` (for an office's override)."""
        return self._route(ticket, grade)

    def grade_only(self, ticket: Ticket) -> str | None:
        """Just the grade, without building explanations (for bulk runs)."""
        return self._pick_grade(ticket.values)

    def close(self) -> None:
        """Release both engines."""
        self._grading.close()
        self._routing.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ grading

    def _pick_grade_rule(self, values: dict[str, Any]) -> Rule | None:
        if self.ruleset.grading.hit_policy == "first":
            return self._grading.first(values)
        matches = self._grading.matching(values)
        return _highest(matches)

    def _pick_grade(self, values: dict[str, Any]) -> str | None:
        rule = self._pick_grade_rule(values)
        return None if rule is None else str(rule.then["grade"])

    def _grade(self, ticket: Ticket) -> GradeResult:
        rule_file = self.ruleset.grading
        rule = self._pick_grade_rule(ticket.values)
        if rule_file.hit_policy == "first":
            considered = rule_file.rules if rule is None else rule_file.rules[: rule.index]
        else:
            considered = tuple(r for r in rule_file.rules if r is not rule)
        not_matched = LazyDecisions(
            lambda: tuple(
                self._decision(r, ticket.values, self._grading_fields) for r in considered
            )
        )
        if rule is None:
            return GradeResult(None, None, not_matched, rule_file.hit_policy)
        decision = self._decision(rule, ticket.values, self._grading_fields)
        return GradeResult(str(rule.then["grade"]), decision, not_matched, rule_file.hit_policy)

    # ------------------------------------------------------------------ routing

    def _route(self, ticket: Ticket, grade: str | None) -> RouteResult:
        values = dict(ticket.values)
        if grade is not None:
            values["grade"] = grade
        matches = self._routing.matching(values)
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
        for rule in matches:  # file order for lists and flags
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
        co_handlers = tuple(
            Assignment(unit, reference.unit_name(unit), tuple(rules))
            for unit, rules in lists["co_handlers"].items()
            if primary is None or unit != primary.unit
        )
        coordinators = tuple(
            Assignment(unit, reference.unit_name(unit), tuple(rules))
            for unit, rules in lists["coordinators"].items()
        )
        matched = LazyDecisions(
            lambda: tuple(self._decision(r, values, self._routing_fields) for r in matches)
        )
        return RouteResult(
            primary=primary,
            co_handlers=co_handlers,
            feedback_owner=single("feedback_owner"),
            coordinators=coordinators,
            agenda=bool(flags["agenda"]),
            report_upward=bool(flags["report_upward"]),
            matched=matched,
            overridden=tuple(overridden),
            flag_rules={slot: tuple(ids) for slot, ids in flags.items()},
        )

    # ------------------------------------------------------------------ reasons

    def _decision(
        self, rule: Rule, values: dict[str, Any], fields: dict[str, FieldSpec]
    ) -> Decision:
        return Decision(self._refs[rule.id], rule, values, fields)


def _highest(rules: Iterable[Rule]) -> Rule | None:
    best: Rule | None = None
    for rule in rules:
        if best is None or rule.precedence > best.precedence:
            best = rule
    return best


def resolve_units(value: UnitValue, values: Mapping[str, Any]) -> list[str]:
    """The units an outcome names for a ticket: a literal unit, or the field it refers to."""
    if value.unit is not None:
        return [value.unit]
    found = values.get(value.ref or "")
    if isinstance(found, list):
        return [str(v) for v in found]
    return [] if found is None else [str(found)]
