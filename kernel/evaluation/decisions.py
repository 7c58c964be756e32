"""Decisions and their reasons: what the kernel decided for a ticket, and why.

Every decision carries the rule id, title, clause, version and location, plus the condition tests
with the ticket values that satisfied them. Explanations, coverage, lint and impact
analysis, are built on these records. ``to_dict`` is the stable JSON form documented in docs/reference/json-outputs.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from kernel.rules.conditions import LeafTrace, trace
from kernel.rules.fields import FieldSpec
from kernel.rules.model import Rule

JSON_FORMAT_VERSION = 1

_T = TypeVar("_T")


def build(cls: type[_T], attrs: dict[str, Any]) -> _T:
    """An instance of a frozen result dataclass from all its fields, without its ``__init__``.

    The hot path of every evaluation: a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``; this sets the instance's ``__dict__`` in one step. ``attrs`` must
    name every field (no defaults are filled in) and is owned by the instance afterwards.
    """
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", attrs)
    return instance


@dataclass(frozen=True)
class RuleRef:
    """Which rule decided: enough to find and cite it."""

    id: str
    title: str
    clause: str
    kind: str
    version: int
    path: str
    line: int
    #: the level the rule comes from, in a folder that extends another ('' otherwise)
    level: str = ""

    @classmethod
    def of(cls, rule: Rule, version: int) -> RuleRef:
        """The reference of a loaded rule."""
        return cls(
            rule.id, rule.title, rule.clause, rule.kind, version, rule.path, rule.line, rule.level
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "id": self.id,
            "title": self.title,
            "clause": self.clause,
            "file": self.path,
            "line": self.line,
            "version": self.version,
        }


@dataclass(frozen=True)
class ConditionResult:
    """One condition test with the ticket's value."""

    field: str
    label: str
    op: str
    expected: Any
    actual: Any
    present: bool
    satisfied: bool
    negated: bool = False
    count: bool = False

    @classmethod
    def of(cls, item: LeafTrace, spec: FieldSpec | None) -> ConditionResult:
        """Build from a trace entry and the field's catalogue entry."""
        leaf = item.leaf
        expected = list(leaf.value) if isinstance(leaf.value, tuple) else leaf.value
        actual = list(item.actual) if isinstance(item.actual, list) else item.actual
        return cls(
            field=leaf.field,
            label=spec.label if spec else leaf.field,
            op=leaf.op,
            expected=expected,
            actual=actual,
            present=item.present or leaf.count,
            satisfied=item.satisfied,
            negated=item.negated,
            count=leaf.count,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "field": self.field,
            "label": self.label,
            "test": ("count_" if self.count else "") + self.op,
            "negated": self.negated,
            "expected": self.expected,
            "actual": self.actual if self.present else None,
            "present": self.present,
            "satisfied": self.satisfied,
        }


@dataclass(frozen=True)
class Decision:
    """A rule that matched (or was considered), with the tests behind it.

    The condition tests are worked out on first access, so bulk runs that never look at the
    reasons do not pay for them.
    """

    rule: RuleRef
    source: Rule = field(repr=False, compare=False)
    values: dict[str, Any] = field(repr=False, compare=False)
    fields: dict[str, FieldSpec] = field(repr=False, compare=False)

    @cached_property
    def conditions(self) -> tuple[ConditionResult, ...]:
        """The condition tests with the ticket's values."""
        return tuple(
            ConditionResult.of(item, self.fields.get(item.leaf.field))
            for item in trace(self.source.when, self.values)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"rule": self.rule.to_dict(), "conditions": [c.to_dict() for c in self.conditions]}


def _decisions(
    rules: Sequence[Rule],
    refs: dict[str, RuleRef],
    values: dict[str, Any],
    fields: dict[str, FieldSpec],
) -> tuple[Decision, ...]:
    return tuple(
        build(Decision, {"rule": refs[r.id], "source": r, "values": values, "fields": fields})
        for r in rules
    )


#: Keys of a result built by the kernel (with :func:`build`) whose reasons are still to come:
#: the function that fills them in from the instance's attributes, and the ticket's values and
#: grade they are built from.
PENDING = "_pending"
VALUES = "_values"
GRADE = "_grade"
#: (an evaluation) what fills in its grade's reasons, and its route's fields
GRADE_PENDING = "_grade_pending"
ROUTE = "_route"


def _pending(instance: object, name: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The instance's attributes with its pending reasons filled in, for ``__getattr__``.

    Raises AttributeError unless ``name`` is one of ``names`` and the reasons are pending (or
    were just filled in by another thread: the inputs stay, only the filler is removed).
    """
    if name not in names:
        raise AttributeError(name)
    attrs: dict[str, Any] = instance.__dict__
    fill: Callable[[dict[str, Any]], dict[str, Any]] | None = attrs.get(PENDING)
    if fill is not None:
        attrs.update(fill(attrs))
        attrs.pop(PENDING, None)
    if name not in attrs:
        raise AttributeError(name)
    return attrs


@dataclass(frozen=True)
class GradeResult:
    """The grade, the rule that gave it, and why the rules before it did not apply."""

    grade: str | None
    decision: Decision | None
    not_matched: Sequence[Decision] = field(default_factory=tuple)
    hit_policy: str = "first"

    if not TYPE_CHECKING:  # the kernel's results build these two on first read

        def __getattr__(self, name: str) -> Any:
            return _pending(self, name, ("decision", "not_matched"))[name]

    @staticmethod
    def deferred(
        rule: Rule | None,
        considered: Sequence[Rule],
        refs: dict[str, RuleRef],
        fields: dict[str, FieldSpec],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        """``decision`` and ``not_matched`` for a grade given by ``rule`` (None: no rule held).

        ``attrs`` holds the ticket's values under :data:`VALUES`.
        """
        values = attrs[VALUES]
        decision = None
        if rule is not None:
            decision = build(
                Decision,
                {"rule": refs[rule.id], "source": rule, "values": values, "fields": fields},
            )
        return {"decision": decision, "not_matched": _decisions(considered, refs, values, fields)}

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "value": self.grade,
            "matched": self.grade is not None,
            "hit_policy": self.hit_policy,
            "decision": self.decision.to_dict() if self.decision else None,
            "not_matched": [d.to_dict() for d in self.not_matched],
        }


@dataclass(frozen=True)
class Assignment:
    """A unit in a role, and the rules that put it there."""

    unit: str
    name: str
    rules: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"unit": self.unit, "name": self.name, "rules": list(self.rules)}


@dataclass(frozen=True)
class Override:
    """A single-valued result that a rule proposed but a rule of higher precedence replaced."""

    slot: str
    unit: str
    rule: str
    by_rule: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "slot": self.slot,
            "unit": self.unit,
            "rule": self.rule,
            "overridden_by": self.by_rule,
        }


@dataclass(frozen=True)
class RouteResult:
    """Who handles the ticket: primary, co-handlers, feedback owner, coordinators, agenda."""

    primary: Assignment | None
    co_handlers: tuple[Assignment, ...]
    feedback_owner: Assignment | None
    coordinators: tuple[Assignment, ...]
    agenda: bool
    report_upward: bool
    matched: Sequence[Decision]
    overridden: tuple[Override, ...] = ()
    flag_rules: dict[str, tuple[str, ...]] = field(default_factory=dict)

    if not TYPE_CHECKING:  # the kernel's results build ``matched`` on first read

        def __getattr__(self, name: str) -> Any:
            return _pending(self, name, ("matched",))[name]

    @staticmethod
    def deferred(
        rules: Sequence[Rule],
        refs: dict[str, RuleRef],
        fields: dict[str, FieldSpec],
        attrs: dict[str, Any],
    ) -> dict[str, Any]:
        """``matched`` for the routing rules that held (``attrs``: :data:`VALUES`, :data:`GRADE`).

        Their conditions read the grade too: the decisions see it as one of the values.
        """
        values = attrs[VALUES]
        grade = attrs[GRADE]
        if grade is not None:
            values = dict(values)
            values["grade"] = grade
        return {"matched": _decisions(rules, refs, values, fields)}

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "primary": self.primary.to_dict() if self.primary else None,
            "co_handlers": [a.to_dict() for a in self.co_handlers],
            "feedback_owner": self.feedback_owner.to_dict() if self.feedback_owner else None,
            "coordinators": [a.to_dict() for a in self.coordinators],
            "agenda": self.agenda,
            "agenda_rules": list(self.flag_rules.get("agenda", ())),
            "report_upward": self.report_upward,
            "report_upward_rules": list(self.flag_rules.get("report_upward", ())),
            "matched": [d.to_dict() for d in self.matched],
            "overridden": [o.to_dict() for o in self.overridden],
        }


@dataclass(frozen=True)
class Evaluation:
    """The complete result for one ticket."""

    ticket_id: str
    enterprise: str
    territory: str
    category: str
    grade: GradeResult
    route: RouteResult
    rules: dict[str, Any]

    if not TYPE_CHECKING:  # the kernel's results build these objects on first read

        def __getattr__(self, name: str) -> Any:
            return _pending(self, name, ("grade", "route", "rules"))[name]

    @staticmethod
    def deferred(
        fingerprint: str, versions: dict[str, int], hit_policy: str, attrs: dict[str, Any]
    ) -> dict[str, Any]:
        """``grade``, ``route`` and ``rules`` of an evaluation the kernel built.

        The decision is already made: ``attrs`` holds the grade (:data:`GRADE`), what fills in
        its reasons (:data:`GRADE_PENDING`), the ticket's values and the route's fields
        (:data:`ROUTE`); these objects present it. ``rules`` is the rule set's fingerprint and
        file versions, in a dict of its own.
        """
        grade = {
            "grade": attrs[GRADE],
            "hit_policy": hit_policy,
            PENDING: attrs[GRADE_PENDING],
            VALUES: attrs[VALUES],
        }
        return {
            "grade": build(GradeResult, grade),
            "route": build(RouteResult, attrs[ROUTE]),
            "rules": {"fingerprint": fingerprint, "versions": dict(versions)},
        }

    @property
    def complete(self) -> bool:
        """True when the ticket got a grade and a primary handler."""
        return self.grade.grade is not None and self.route.primary is not None

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON form (``format_version`` 1), documented in docs/reference/json-outputs.md."""
        return {
            "format_version": JSON_FORMAT_VERSION,
            "ticket_id": self.ticket_id,
            "enterprise": self.enterprise,
            "territory": self.territory,
            "category": self.category,
            "complete": self.complete,
            "rules": self.rules,
            "grade": self.grade.to_dict(),
            "route": self.route.to_dict(),
        }
