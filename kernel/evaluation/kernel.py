"""Grade and route a ticket: the rule set compiled to durable-rules, with the reasons kept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from operator import attrgetter
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
    build,
)
from kernel.evaluation.ticket import Ticket, validate_ticket
from kernel.rules.fields import FieldSpec, fields_for
from kernel.rules.load import load_rules
from kernel.rules.model import Rule, RuleFile, RuleSet, UnitValue

SINGLE_SLOTS = ("primary", "feedback_owner")
LIST_SLOTS = ("co_handlers", "coordinators")
FLAG_SLOTS = ("agenda", "report_upward")


def _compile(
    rule_file: RuleFile, fields: dict[str, FieldSpec], computed: str = ""
) -> CompiledRules:
    list_fields = {path for path, spec in fields.items() if spec.type == "array"}
    always_present = {
        path for path, spec in fields.items() if spec.required or spec.default is not None
    }
    return compile_rule_file(rule_file, list_fields, always_present, computed)


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
        self._routing = _compile(ruleset.routing, self._routing_fields, computed="grade")
        self._refs = {
            rule.id: RuleRef.of(rule, rule_file.version)
            for rule_file in ruleset.files.values()
            for rule in rule_file.rules
        }
        self._versions = ruleset.versions()
        grading_rules = ruleset.grading.rules
        self._grades = [str(rule.then.get("grade")) for rule in grading_rules]
        self._before = [grading_rules[:i] for i in range(len(grading_rules))]
        self._outcomes = [_Outcome.of(rule) for rule in ruleset.routing.rules]
        self._templates: dict[tuple[int, ...], _Template] = {}
        self._assignments: dict[tuple[str, tuple[str, ...]], Assignment] = {}

    @classmethod
    def from_dir(cls, directory: Path | str | None = None) -> Kernel:
        """Load, check and compile the rules in ``directory`` (default: the project's rules/)."""
        return cls(load_rules(directory))

    # ------------------------------------------------------------------ public API

    def validate(self, data: dict[str, Any], source: str = "<ticket>") -> Ticket:
        """Check a ticket against the contract and this rule set's reference data."""
        return validate_ticket(data, self.ruleset.reference, source)

    def evaluate(self, ticket: Ticket | dict[str, Any]) -> Evaluation:
        """Grade and route one ticket; a mapping is validated first.

        The decision (grade, handlers, flags) is worked out here; the reasons -- the condition
        tests of every rule considered -- are built when first read (``Decision.conditions``,
        ``GradeResult.not_matched``, ``RouteResult.matched``), from the same inputs.
        """
        if not isinstance(ticket, Ticket):
            ticket = self.validate(ticket)
        grade = self._grade(ticket)
        route = self._route(ticket, grade.grade)
        data = ticket.data
        enterprise = data["enterprise"]
        return build(
            Evaluation,
            {
                "ticket_id": ticket.ticket_id,
                "enterprise": str(enterprise["name"]),
                "territory": str(enterprise["territory"]),
                "category": str(data["category"]),
                "grade": grade,
                "route": route,
                "rules": {
                    "fingerprint": self.ruleset.fingerprint,
                    "versions": dict(self._versions),
                },
            },
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
            index = self._grading.first_index(values)
            return None if index is None else self.ruleset.grading.rules[index]
        return _highest(self._grading.matching(values))

    def _pick_grade(self, values: dict[str, Any]) -> str | None:
        rule = self._pick_grade_rule(values)
        return None if rule is None else str(rule.then["grade"])

    def _grade(self, ticket: Ticket) -> GradeResult:
        rule_file = self.ruleset.grading
        values = ticket.values
        rule = self._pick_grade_rule(values)
        fields = self._grading_fields
        if rule_file.hit_policy == "first":
            considered = rule_file.rules if rule is None else self._before[rule.index]
        else:
            considered = tuple(r for r in rule_file.rules if r is not rule)
        not_matched = LazyDecisions(considered, self._refs, values, fields)
        if rule is None:
            grade = None
            decision = None
        else:
            grade = self._grades[rule.index]
            decision = self._decision(rule, values, fields)
        return build(
            GradeResult,
            {
                "grade": grade,
                "decision": decision,
                "not_matched": not_matched,
                "hit_policy": rule_file.hit_policy,
            },
        )

    # ------------------------------------------------------------------ routing

    def _route(self, ticket: Ticket, grade: str | None) -> RouteResult:
        values = ticket.values
        if grade is None:
            indexes = self._routing.matching_indexes(values)
        else:
            indexes = self._routing.matching_indexes(values, grade)
        matched = tuple(indexes)
        template = self._templates.get(matched)
        if template is None:
            template = self._template(matched)
        merged = template.static
        if merged is None:
            merged = self._merge(
                template, _with_grade(values, grade) if template.reads_grade else values
            )
        attrs = dict(merged)
        # the routing rules' conditions read the grade too: the reasons see it as a value
        attrs["matched"] = LazyDecisions(
            template.rules, self._refs, values, self._routing_fields, grade
        )
        return build(RouteResult, attrs)

    def _template(self, matched: tuple[int, ...]) -> _Template:
        """What a set of matched routing rules assigns, before the ticket's values are read.

        Kept per set of matched rules: a rule file has few such sets in practice.
        """
        outcomes = [self._outcomes[i] for i in matched]
        ranked = outcomes if len(outcomes) < 2 else sorted(outcomes, key=_rank)
        template = _Template(
            singles=tuple(
                (slot, o.rule_id, value.unit, value.ref or "")
                for o in ranked
                for slot, value in o.singles
            ),
            rules=tuple(self.ruleset.routing.rules[i] for i in matched),
            lists=tuple(
                (slot == "co_handlers", o.rule_id, value.unit, value.ref or "")
                for o in outcomes
                for slot, values in o.lists
                for value in values
            ),
            flag_rules={
                slot: tuple(o.rule_id for o in outcomes if slot in o.flags) for slot in FLAG_SLOTS
            },
        )
        template.agenda = bool(template.flag_rules["agenda"])
        template.report_upward = bool(template.flag_rules["report_upward"])
        template.reads_grade = any("grade" in o.refs for o in outcomes)
        if not any(o.refs for o in outcomes):
            template.static = self._merge(template, {})
        if len(self._templates) >= _CACHE_SIZE:
            self._templates.clear()
        self._templates[matched] = template
        return template

    def _merge(self, template: _Template, values: Mapping[str, Any]) -> dict[str, Any]:
        """Who handles a ticket that these routing rules matched: the kernel's merge.

        Single slots go to the highest precedence (ties: file order); lists keep file order
        without duplicates; the primary handler is never a co-handler.
        """
        singles: dict[str, tuple[str, str]] = {}
        overridden: list[Override] = []
        for slot, rule_id, unit, ref in template.singles:
            if unit is None:
                found = values.get(ref)
                if type(found) is str:
                    unit = found
                elif isinstance(found, list):
                    if not found:
                        continue
                    unit = str(found[0])
                elif found is None:
                    continue
                else:
                    unit = str(found)
            won = singles.get(slot)
            if won is None:
                singles[slot] = (rule_id, unit)
            elif unit != won[1]:
                overridden.append(Override(slot, unit, rule_id, won[0]))
        co_handlers: dict[str, list[str]] = {}
        coordinators: dict[str, list[str]] = {}
        for is_co, rule_id, unit, ref in template.lists:
            target = co_handlers if is_co else coordinators
            if unit is not None:
                target.setdefault(unit, []).append(rule_id)
                continue
            found = values.get(ref)
            if found is None:
                continue
            for item in found if isinstance(found, list) else (found,):
                target.setdefault(str(item), []).append(rule_id)
        known = self._assignments.get
        assign = self._assignment
        primary_won = singles.get("primary")
        feedback_won = singles.get("feedback_owner")
        primary = None
        if primary_won is not None:
            key = (primary_won[1], (primary_won[0],))
            primary = known(key) or assign(key)
            co_handlers.pop(primary.unit, None)
        feedback = None
        if feedback_won is not None:
            key = (feedback_won[1], (feedback_won[0],))
            feedback = known(key) or assign(key)
        return {
            "primary": primary,
            "co_handlers": tuple(
                [
                    known(key) or assign(key)
                    for key in [(unit, tuple(rules)) for unit, rules in co_handlers.items()]
                ]
            ),
            "feedback_owner": feedback,
            "coordinators": tuple(
                [
                    known(key) or assign(key)
                    for key in [(unit, tuple(rules)) for unit, rules in coordinators.items()]
                ]
            ),
            "agenda": template.agenda,
            "report_upward": template.report_upward,
            "overridden": tuple(overridden),
            "flag_rules": template.flag_rules,
        }

    def _assignment(self, key: tuple[str, tuple[str, ...]]) -> Assignment:
        # Assignments are immutable values, and few distinct ones exist: made once, shared.
        unit, rules = key
        found = Assignment(unit, self.ruleset.reference.unit_name(unit), rules)
        if len(self._assignments) >= _CACHE_SIZE:
            self._assignments.clear()
        self._assignments[key] = found
        return found

    # ------------------------------------------------------------------ reasons

    def _decision(
        self, rule: Rule, values: dict[str, Any], fields: dict[str, FieldSpec]
    ) -> Decision:
        return build(
            Decision,
            {"rule": self._refs[rule.id], "source": rule, "values": values, "fields": fields},
        )


#: entries of each of the kernel's small caches (matched-rule sets, assignments) before it
#: starts afresh
_CACHE_SIZE = 4096


@dataclass
class _Template:
    """A set of matched routing rules' outcomes in merge order: (slot, rule id, unit, ref)."""

    rules: tuple[Rule, ...]
    singles: tuple[tuple[str, str, str | None, str], ...]
    #: (is a co-handler rather than a coordinator, rule id, unit, ref)
    lists: tuple[tuple[bool, str, str | None, str], ...]
    flag_rules: dict[str, tuple[str, ...]]
    agenda: bool = False
    report_upward: bool = False
    #: whether an outcome names the unit in the ticket's grade field (never, in practice)
    reads_grade: bool = False
    #: the merge itself, when no outcome refers to a ticket value
    static: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Outcome:
    """What one routing rule assigns, read once from the rule instead of per evaluation."""

    rule_id: str
    rank: tuple[int, int]
    singles: tuple[tuple[str, UnitValue], ...]
    lists: tuple[tuple[str, tuple[UnitValue, ...]], ...]
    flags: tuple[str, ...]
    refs: frozenset[str]

    @classmethod
    def of(cls, rule: Rule) -> _Outcome:
        then = rule.then
        singles = tuple((slot, then[slot]) for slot in SINGLE_SLOTS if slot in then)
        lists = tuple((slot, tuple(then[slot])) for slot in LIST_SLOTS if then.get(slot))
        values = [v for _, v in singles] + [v for _, vs in lists for v in vs]
        return cls(
            rule_id=rule.id,
            rank=(-rule.precedence, rule.index),
            singles=singles,
            lists=lists,
            flags=tuple(slot for slot in FLAG_SLOTS if then.get(slot)),
            refs=frozenset(v.ref for v in values if v.ref is not None),
        )


_rank = attrgetter("rank")


def _with_grade(values: dict[str, Any], grade: str | None) -> dict[str, Any]:
    if grade is None:
        return values
    values = dict(values)
    values["grade"] = grade
    return values


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
