"""Grade and route a ticket: the rule set compiled to durable-rules, with the reasons kept."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any

from kernel.evaluation.compile import CompiledRules, compile_rule_file
from kernel.evaluation.decisions import (
    GRADE,
    GRADE_PENDING,
    PENDING,
    ROUTE,
    VALUES,
    Assignment,
    Evaluation,
    GradeResult,
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
        # the hot path's steps, looked up once
        self._grading_message = self._grading.message
        self._grading_first = self._grading.engine.first_text
        self._routing_message = self._routing.message
        self._routing_fired = self._routing.engine.fired_text
        self._refs = {
            rule.id: RuleRef.of(rule, rule_file.version)
            for rule_file in ruleset.files.values()
            for rule in rule_file.rules
        }
        self._versions = ruleset.versions()
        grading_rules = ruleset.grading.rules
        self._grading_rules = grading_rules
        self._hit_policy = ruleset.grading.hit_policy
        self._first_match = self._hit_policy == "first"
        self._evaluation_pending = partial(
            Evaluation.deferred, ruleset.fingerprint, self._versions, self._hit_policy
        )
        self._grades = [str(rule.then.get("grade")) for rule in grading_rules]
        self._before = [grading_rules[:i] for i in range(len(grading_rules))]
        # what fills in the reasons of a grade given by rule i (first match), or by no rule
        self._grade_pending = [
            partial(GradeResult.deferred, rule, considered, self._refs, self._grading_fields)
            for rule, considered in zip(grading_rules, self._before, strict=True)
        ]
        self._no_grade_pending = partial(
            GradeResult.deferred, None, grading_rules, self._refs, self._grading_fields
        )
        self._outcomes = [_Outcome.of(rule) for rule in ruleset.routing.rules]
        #: per tuple of fired routing rules as the engine gave them (order, repeats)
        self._templates: dict[tuple[int, ...], _Template] = {}
        self._assignments: dict[tuple[str, tuple[str, ...]], Assignment] = {}
        #: per routing rule id: the assignments of a unit by that rule alone
        self._by_rule: dict[str, dict[str, Assignment]] = {}

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

        The decision (grade, handlers, flags, overridden proposals) is worked out here. The
        objects that present it (``Evaluation.grade``, ``route`` and ``rules``) and the reasons
        -- the rules considered and their condition tests (``GradeResult.decision`` and
        ``not_matched``, ``RouteResult.matched``, ``Decision.conditions``) -- are built when
        first read, from the same inputs.
        """
        if not isinstance(ticket, Ticket):
            ticket = self.validate(ticket)
        values = ticket.values
        if self._first_match:
            index = self._grading_first(self._grading_message(values, None))
            if index is None:
                grade, pending = None, self._no_grade_pending
            else:
                grade, pending = self._grades[index], self._grade_pending[index]
        else:
            rule = _highest(self._grading.matching(values))
            considered = tuple(r for r in self._grading_rules if r is not rule)
            grade = None if rule is None else self._grades[rule.index]
            pending = partial(
                GradeResult.deferred, rule, considered, self._refs, self._grading_fields
            )
        data = ticket.data
        enterprise = data["enterprise"]
        # the result objects present this decision when first read (Evaluation.deferred)
        return build(
            Evaluation,
            {
                "ticket_id": str(data["ticket_id"]),
                "enterprise": str(enterprise["name"]),
                "territory": str(enterprise["territory"]),
                "category": str(data["category"]),
                PENDING: self._evaluation_pending,
                VALUES: values,
                GRADE: grade,
                GRADE_PENDING: pending,
                ROUTE: self._route(values, grade),
            },
        )

    def route_for(self, ticket: Ticket, grade: str) -> RouteResult:
        """The route the rules give ``ticket`` if it had ``grade`` (for an office's override)."""
        return build(RouteResult, self._route(ticket.values, grade))

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
        if self._first_match:
            index = self._grading.first_index(values)
            return None if index is None else self.ruleset.grading.rules[index]
        return _highest(self._grading.matching(values))

    def _pick_grade(self, values: dict[str, Any]) -> str | None:
        rule = self._pick_grade_rule(values)
        return None if rule is None else str(rule.then["grade"])

    # ------------------------------------------------------------------ routing

    def _route(self, values: dict[str, Any], grade: str | None) -> dict[str, Any]:
        """The fields of the route the rules give a ticket with ``grade``, its reasons pending."""
        fired = self._routing_fired(self._routing_message(values, grade))
        template = self._templates.get(fired)
        if template is None:
            template = self._template(fired)
        attrs = template.merge(_with_grade(values, grade) if template.reads_grade else values)
        attrs[PENDING] = template.pending
        attrs[VALUES] = values
        attrs[GRADE] = grade
        return attrs

    def _template(self, fired: tuple[int, ...]) -> _Template:
        """What a set of fired routing rules assigns, before the ticket's values are read.

        Kept per tuple of fired rules as the engine gave them (a rule file has few such sets in
        practice); the rules themselves are the set in file order.
        """
        matched = tuple(sorted(set(fired)))
        outcomes = [self._outcomes[i] for i in matched]
        ranked = outcomes if len(outcomes) < 2 else sorted(outcomes, key=_rank)
        flag_rules = {
            slot: tuple(o.rule_id for o in outcomes if slot in o.flags) for slot in FLAG_SLOTS
        }
        template = _Template(
            rules=tuple(self.ruleset.routing.rules[i] for i in matched),
            singles=tuple(
                (slot, o.rule_id, value.unit, value.ref or "")
                for o in ranked
                for slot, value in o.singles
            ),
            co_handlers=self._entries(outcomes, "co_handlers"),
            coordinators=self._entries(outcomes, "coordinators"),
            flag_rules=flag_rules,
            agenda=bool(flag_rules["agenda"]),
            report_upward=bool(flag_rules["report_upward"]),
            reads_grade=any("grade" in o.refs for o in outcomes),
            assignment=self._assignment,
        )
        template.pending = partial(
            RouteResult.deferred, template.rules, self._refs, self._routing_fields
        )
        if len(self._templates) >= _CACHE_SIZE:
            self._templates.clear()
        self._templates[fired] = template
        return template

    def _assignment(
        self, unit: str, rules: tuple[str, ...], by_unit: dict[str, Assignment] | None = None
    ) -> Assignment:
        """The shared Assignment of ``unit`` by ``rules``, also put in ``by_unit`` if given.

        Assignments are immutable values, and few distinct ones exist: made once, shared.
        """
        key = (unit, rules)
        found = self._assignments.get(key)
        if found is None:
            found = Assignment(unit, self.ruleset.reference.unit_name(unit), rules)
            if len(self._assignments) >= _CACHE_SIZE:
                self._assignments.clear()
            self._assignments[key] = found
        if by_unit is not None:
            if len(by_unit) >= _CACHE_SIZE:
                by_unit.clear()
            by_unit[unit] = found
        return found

    def _entries(self, outcomes: list[_Outcome], slot: str) -> _Entries:
        """A list slot's proposals in file order, each with its rule's table of assignments."""
        return tuple(
            ((o.rule_id,), value.unit, value.ref or "", self._by_rule.setdefault(o.rule_id, {}))
            for o in outcomes
            for name, values in o.lists
            if name == slot
            for value in values
        )


#: entries of each of the kernel's small caches (matched-rule sets, assignments) before it
#: starts afresh
_CACHE_SIZE = 4096


#: a list slot's proposals in file order: (the rule's id as a 1-tuple, unit, field it refers
#: to, the assignments of a unit by that rule alone)
_Entries = tuple[tuple[tuple[str], str | None, str, dict[str, Assignment]], ...]


def _single_unit(found: Any) -> str | None:
    """The unit a single slot takes from a ticket value (None: the proposal is skipped)."""
    if type(found) is str:
        return found
    if isinstance(found, list):
        return str(found[0]) if found else None
    return None if found is None else str(found)


class _Template:
    """The merge for one set of matched routing rules, prepared before any ticket is read.

    Single slots go to the highest precedence (ties: file order); lists keep file order without
    duplicates; the primary handler is never a co-handler. Per ticket only the values the
    outcomes refer to are read. The single slots' outcome (winners and overridden proposals)
    depends only on the units those references resolve to (unit ids, bounded by the reference
    data), so it is kept per resolved tuple; so are list slots that refer to no value, per
    primary unit. Lists that refer to ticket values are merged per ticket.
    """

    __slots__ = (
        "_assignment",
        "_co_refers",
        "_coordinators",
        "_lists",
        "_singles",
        "agenda",
        "co_handlers",
        "coordinators",
        "flag_rules",
        "pending",
        "reads_grade",
        "report_upward",
        "rules",
        "single_refs",
        "singles",
    )

    def __init__(
        self,
        *,
        rules: tuple[Rule, ...],
        singles: tuple[tuple[str, str, str | None, str], ...],
        co_handlers: _Entries,
        coordinators: _Entries,
        flag_rules: dict[str, tuple[str, ...]],
        agenda: bool,
        report_upward: bool,
        reads_grade: bool,
        assignment: Callable[..., Assignment],
    ) -> None:
        self.rules = rules
        #: (slot, rule id, unit, ref) in merge order (precedence, then file order)
        self.singles = singles
        self.single_refs = tuple(ref for _, _, unit, ref in singles if unit is None)
        self.co_handlers = co_handlers
        self.coordinators = coordinators
        self.flag_rules = flag_rules
        self.agenda = agenda
        self.report_upward = report_upward
        #: whether an outcome names the unit in the ticket's grade field (never, in practice)
        self.reads_grade = reads_grade
        self._assignment = assignment
        #: what fills in a route's ``matched`` (see :meth:`RouteResult.deferred`)
        self.pending: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self._singles: dict[tuple[str | None, ...], tuple[Any, ...]] = {}
        self._lists: dict[str | None, tuple[Assignment, ...]] = {}
        self._co_refers = any(entry[1] is None for entry in co_handlers)
        self._coordinators: tuple[Assignment, ...] | None = None
        if not any(entry[1] is None for entry in coordinators):
            self._coordinators = self._merge_list(coordinators, {}, None)

    def merge(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The route's fields (all but ``matched``) for a ticket's values, in a new dict."""
        get = values.get
        resolved: list[str | None] = []
        for ref in self.single_refs:
            found = get(ref)
            resolved.append(found if type(found) is str else _single_unit(found))
        key = tuple(resolved)
        singles = self._singles.get(key)
        if singles is None:
            singles = self._merge_singles(key)
        primary, feedback, overridden = singles
        excluded = None if primary is None else primary.unit
        if self._co_refers:
            co_handlers = self._merge_list(self.co_handlers, values, excluded)
        else:
            found = self._lists.get(excluded)
            co_handlers = self._static_list(excluded) if found is None else found
        coordinators = self._coordinators
        if coordinators is None:
            coordinators = self._merge_list(self.coordinators, values, None)
        return {
            "primary": primary,
            "co_handlers": co_handlers,
            "feedback_owner": feedback,
            "coordinators": coordinators,
            "agenda": self.agenda,
            "report_upward": self.report_upward,
            "overridden": overridden,
            "flag_rules": self.flag_rules,
        }

    def _merge_singles(self, resolved: tuple[str | None, ...]) -> tuple[Any, ...]:
        """(primary, feedback owner, overridden proposals) for the resolved references."""
        units = iter(resolved)
        won: dict[str, tuple[str, str]] = {}
        overridden: list[Override] = []
        for slot, rule_id, literal, _ in self.singles:
            unit = literal if literal is not None else next(units)
            if unit is None:
                continue
            winner = won.get(slot)
            if winner is None:
                won[slot] = (rule_id, unit)
            elif unit != winner[1]:
                overridden.append(Override(slot, unit, rule_id, winner[0]))
        primary = won.get("primary")
        feedback = won.get("feedback_owner")
        found = (
            None if primary is None else self._assignment(primary[1], (primary[0],)),
            None if feedback is None else self._assignment(feedback[1], (feedback[0],)),
            tuple(overridden),
        )
        if len(self._singles) >= _CACHE_SIZE:
            self._singles.clear()
        self._singles[resolved] = found
        return found

    def _static_list(self, excluded: str | None) -> tuple[Assignment, ...]:
        found = self._merge_list(self.co_handlers, {}, excluded)
        if len(self._lists) >= _CACHE_SIZE:
            self._lists.clear()
        self._lists[excluded] = found
        return found

    def _merge_list(
        self, entries: _Entries, values: Mapping[str, Any], excluded: str | None
    ) -> tuple[Assignment, ...]:
        """A list slot's units in file order without duplicates, each with its rules."""
        if not entries:
            return ()
        units: dict[str, Assignment] = {}
        get = units.get
        assignment = self._assignment
        for rules, unit, ref, known in entries:
            if unit is not None:
                names: Iterable[Any] = (unit,)
            else:
                found = values.get(ref)
                if found is None:
                    continue
                names = found if isinstance(found, list) else (found,)
            for item in names:
                name = item if type(item) is str else str(item)
                before = get(name)
                if before is None:
                    # one rule: its own small table of assignments, keyed by the unit alone
                    units[name] = known.get(name) or assignment(name, rules, known)
                else:
                    units[name] = assignment(name, before.rules + rules)
        if excluded is not None:
            units.pop(excluded, None)
        return tuple(units.values())


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
