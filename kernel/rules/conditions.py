"""Declarative conditions: the data model, their checks, and evaluation in Python.

A condition is plain data read from YAML; nothing in it is ever evaluated as code::

    {all: [...]}  {any: [...]}  {not: {...}}  {always: true}
    {field: PATH, eq|ne|lt|le|gt|ge: VALUE}
    {field: PATH, in|not_in: [VALUE, ...]}
    {field: PATH, contains: VALUE}          # list membership, or substring of a text
    {field: PATH, exists: true|false}
    {field: PATH, count: {eq|ne|lt|le|gt|ge: N}}

Semantics of a missing (optional, unfilled) field: comparisons, ``eq``, ``in`` and ``contains``
are false; ``ne`` and ``not_in`` are true ("absent or different"). The durable-rules compiler in
:mod:`kernel.evaluation.compile` produces exactly these semantics, and a property test checks the two
against each other.
"""

from __future__ import annotations

import datetime as _dt
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kernel.errors import Problem
from kernel.inputs.contracts import describe_value
from kernel.inputs.sourcefile import PathKey, SourceDoc, field_name
from kernel.inputs.suggest import did_you_mean
from kernel.rules.fields import FieldSpec
from kernel.rules.reference import Reference

COMPARE_OPS = ("eq", "ne", "lt", "le", "gt", "ge")
LEAF_OPS = (*COMPARE_OPS, "in", "not_in", "contains", "exists", "count")
GROUP_KEYS = ("all", "any", "not", "always")

OP_WORDS = {
    "eq": "等于",
    "ne": "不等于",
    "lt": "小于",
    "le": "不大于",
    "gt": "大于",
    "ge": "不小于",
    "in": "属于",
    "not_in": "不属于",
    "contains": "包含",
}

_PY_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

# Operators each field type accepts.
_TYPE_OPS = {
    "string": {"eq", "ne", "in", "not_in", "contains", "exists"},
    "date": {"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists"},
    "number": {"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists"},
    "integer": {"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "exists"},
    "boolean": {"eq", "ne", "exists"},
    "array": {"contains", "count", "exists"},
}


@dataclass(frozen=True)
class Leaf:
    """A test of one field: ``field op value`` (``count`` tests the length of a list)."""

    field: str
    op: str
    value: Any
    location: tuple[int, int] = (0, 0)
    count: bool = False


@dataclass(frozen=True)
class All:
    """Every item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one item holds."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The item does not hold."""

    item: Condition


@dataclass(frozen=True)
class Always:
    """Holds for every ticket."""


Condition = Leaf | All | AnyOf | Not | Always


def leaves(cond: Condition) -> Iterator[Leaf]:
    """Every leaf test of a condition, in order."""
    if isinstance(cond, Leaf):
        yield cond
    elif isinstance(cond, All | AnyOf):
        for item in cond.items:
            yield from leaves(item)
    elif isinstance(cond, Not):
        yield from leaves(cond.item)


# --------------------------------------------------------------------------- parsing


class ConditionParser:
    """Parses and checks condition data, collecting every problem with its location."""

    def __init__(
        self, doc: SourceDoc, fields: dict[str, FieldSpec], reference: Reference | None
    ) -> None:
        self.doc = doc
        self.fields = fields
        self.reference = reference
        self.problems: list[Problem] = []

    def _problem(self, path: PathKey, code: str, message: str, *, key: bool = False) -> None:
        if self.doc.has_issue(path):
            return  # already reported while reading (an impossible date)
        self.problems.append(self.doc.problem(path, code, message, key=key))

    def parse(self, raw: Any, path: PathKey) -> Condition | None:
        """The condition at ``path``, or None when it has problems (they are recorded)."""
        if not isinstance(raw, dict):
            return None  # the schema reports the wrong type
        forms = [k for k in GROUP_KEYS if k in raw]
        has_field = "field" in raw
        if len(forms) + (1 if has_field else 0) != 1:
            found = "、".join(forms + (["field"] if has_field else []))
            self._problem(
                path,
                "CONDITION-FORM",
                f"{field_name(path)} 必须且只能是以下形式之一：all、any、not、always，"
                "或 {field: 字段, 运算符: 值}" + (f"；这里同时写了 {found}" if found else ""),
            )
            return None
        if has_field:
            return self._leaf(raw, path)
        form = forms[0]
        if len(raw) != 1:
            # Keys unknown to conditions are reported by the schema check; only report a known
            # key (an operator) that has no business next to a group.
            extras = [k for k in raw if k != form and k in LEAF_OPS]
            for extra in extras:
                self._problem(
                    (*path, extra),
                    "CONDITION-FORM",
                    f"{field_name(path)} 中 '{form}' 不能与 '{extra}' 写在同一层",
                    key=True,
                )
            return None
        if form == "always":
            return Always() if raw["always"] is True else None
        if form == "not":
            inner = self.parse(raw["not"], (*path, "not"))
            if isinstance(inner, Always):
                self._problem(
                    path, "CONDITION-NEVER", f"{field_name(path)} 永远不成立（not always）"
                )
                return None
            return Not(inner) if inner is not None else None
        items_raw = raw[form]
        if not isinstance(items_raw, list) or not items_raw:
            return None  # the schema reports it
        items = [self.parse(item, (*path, form, i)) for i, item in enumerate(items_raw)]
        if any(item is None for item in items):
            return None
        parsed = tuple(item for item in items if item is not None)
        return All(parsed) if form == "all" else AnyOf(parsed)

    def _leaf(self, raw: dict[str, Any], path: PathKey) -> Leaf | None:
        name = raw["field"]
        ops = [k for k in raw if k != "field"]
        if not isinstance(name, str):
            return None
        spec = self.fields.get(name)
        if spec is None:
            self._unknown_field(name, path)
        known_ops = [op for op in ops if op in LEAF_OPS]
        if len(known_ops) != 1 or len(ops) != 1:
            if not ops:
                self._problem(
                    path, "CONDITION-FORM", f"{field_name(path)} 缺少运算符（如 eq、in、count）"
                )
            elif len(known_ops) > 1:
                self._problem(
                    path,
                    "CONDITION-FORM",
                    f"{field_name(path)} 只能有一个运算符，实际有：{'、'.join(known_ops)}",
                )
            # Unknown operators are reported by the schema check with a hint.
            return None
        op = known_ops[0]
        if spec is None:
            return None
        location = self.doc.where(path)
        value = raw[op]
        if op not in _TYPE_OPS[spec.type]:
            allowed = "、".join(sorted(_TYPE_OPS[spec.type]))
            self._problem(
                (*path, op),
                "OPERATOR-TYPE",
                f"字段 '{name}'（{spec.label}）是{_type_word(spec.type)}，不能使用运算符 '{op}'"
                f"（可用：{allowed}）",
                key=True,
            )
            return None
        if op == "count":
            if not isinstance(value, dict) or len(value) != 1:
                return None  # the schema reports it
            count_op, number = next(iter(value.items()))
            if count_op not in COMPARE_OPS or not _is_int(number):
                return None  # the schema reports it
            return Leaf(name, count_op, number, location, count=True)
        if op == "exists":
            return Leaf(name, op, value, location) if isinstance(value, bool) else None
        values = value if op in ("in", "not_in") else [value]
        if not isinstance(values, list):
            return None
        item_spec_type = spec.item_type if spec.type == "array" else spec.type
        ok = True
        for i, item in enumerate(values):
            item_path = (*path, op, i) if op in ("in", "not_in") else (*path, op)
            if op == "contains" and spec.type == "string":
                expected_type = "string"
            else:
                expected_type = item_spec_type or "string"
            if not _value_fits(item, expected_type):
                reason = (
                    f"{describe_value(item)} 不是有效的日期"
                    if expected_type == "date" and isinstance(item, str)
                    else f"不能与 {describe_value(item)} 比较"
                )
                self._problem(
                    item_path,
                    "VALUE-TYPE",
                    f"字段 '{name}'（{spec.label}）是{_type_word(expected_type)}，{reason}",
                )
                ok = False
                continue
            if not (op == "contains" and spec.type == "string"):
                ok = self._check_domain(spec, item, item_path) and ok
        if not ok:
            return None
        return Leaf(name, op, tuple(values) if op in ("in", "not_in") else value, location)

    def _unknown_field(self, name: str, path: PathKey) -> None:
        if name == "grade":
            hint = "（grade 是分级结果，只能在 routing.yaml 的条件中使用）"
        else:
            hint = did_you_mean(name, self.fields)
        self._problem(
            (*path, "field"),
            "UNKNOWN-FIELD",
            f"{field_name(path)} 引用了不存在的字段 '{name}'{hint}",
        )

    def _check_domain(self, spec: FieldSpec, value: Any, path: PathKey) -> bool:
        if spec.enum and value not in spec.enum:
            hint = did_you_mean(str(value), spec.enum)
            self._problem(
                path,
                "UNKNOWN-VALUE",
                f"字段 '{spec.path}'（{spec.label}）没有取值 {describe_value(value)}"
                f"（可选：{'、'.join(spec.enum)}）{hint}",
            )
            return False
        if spec.ref and self.reference is not None:
            problem = self.reference.check(spec.ref, str(value))
            if problem is not None:
                code, text = problem
                self._problem(path, code, f"字段 '{spec.path}'（{spec.label}）的值{text}")
                return False
        return True


def _is_iso_date(text: str) -> bool:
    try:
        return len(text) == 10 and _dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _value_fits(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "date":
        return isinstance(value, str) and _is_iso_date(value)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return _is_int(value)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


def _type_word(kind: str) -> str:
    return {
        "string": "文本",
        "date": "日期文本（YYYY-MM-DD）",
        "boolean": "布尔值（true/false）",
        "integer": "整数",
        "number": "数字",
        "array": "列表",
    }.get(kind, kind)


# --------------------------------------------------------------------------- evaluation


_MISSING = object()


def leaf_holds(leaf: Leaf, values: dict[str, Any]) -> bool:
    """Evaluate one leaf against a ticket's flat field values (path -> value)."""
    actual = values.get(leaf.field, _MISSING)
    if leaf.count:
        size = len(actual) if isinstance(actual, list) else 0
        return _PY_COMPARE[leaf.op](size, leaf.value)
    if leaf.op == "exists":
        return bool((actual is not _MISSING) == leaf.value)
    if actual is _MISSING:
        return leaf.op in ("ne", "not_in")
    if leaf.op == "in":
        return any(_same(actual, v) for v in leaf.value)
    if leaf.op == "not_in":
        return not any(_same(actual, v) for v in leaf.value)
    if leaf.op == "contains":
        if isinstance(actual, list):
            return any(_same(item, leaf.value) for item in actual)
        return isinstance(actual, str) and leaf.value in actual
    if leaf.op == "eq":
        return _same(actual, leaf.value)
    if leaf.op == "ne":
        return not _same(actual, leaf.value)
    return bool(_PY_COMPARE[leaf.op](actual, leaf.value))


def _same(a: Any, b: Any) -> bool:
    # Strict: True is not 1, "1" is not 1 (durable-rules would coerce them; we never let it).
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def holds(cond: Condition, values: dict[str, Any]) -> bool:
    """Evaluate a condition in Python (the reference semantics)."""
    if isinstance(cond, Leaf):
        return leaf_holds(cond, values)
    if isinstance(cond, All):
        return all(holds(item, values) for item in cond.items)
    if isinstance(cond, AnyOf):
        return any(holds(item, values) for item in cond.items)
    if isinstance(cond, Not):
        return not holds(cond.item, values)
    return True


@dataclass(frozen=True)
class LeafTrace:
    """A leaf test with the ticket's value and whether it held."""

    leaf: Leaf
    actual: Any
    present: bool
    held: bool
    negated: bool = False

    @property
    def satisfied(self) -> bool:
        """Whether the test counted in the rule's favour (after any ``not``)."""
        return self.held != self.negated


def trace(cond: Condition, values: dict[str, Any], *, negated: bool = False) -> list[LeafTrace]:
    """The leaf tests that decide ``cond`` for these values.

    When the condition holds: the tests that made it hold (for ``any``, the branches that held).
    When it fails: the tests that made it fail.
    """
    if isinstance(cond, Leaf):
        present = cond.field in values
        actual = values.get(cond.field)
        if cond.count:
            actual = len(actual) if isinstance(actual, list) else 0
        return [LeafTrace(cond, actual, present, leaf_holds(cond, values), negated)]
    if isinstance(cond, Not):
        return trace(cond.item, values, negated=not negated)
    if isinstance(cond, Always):
        return []
    effective_all = isinstance(cond, All) != negated  # not(any) behaves like all of nots
    outcome = holds(cond, values) != negated
    picked: list[LeafTrace] = []
    for item in cond.items:
        item_outcome = holds(item, values) != negated
        if effective_all:
            # all: when it holds every item matters; when it fails only the failing ones.
            if outcome or not item_outcome:
                picked.extend(trace(item, values, negated=negated))
        elif not outcome or item_outcome:
            # any: when it holds the held branches; when it fails every branch.
            picked.extend(trace(item, values, negated=negated))
    return picked
