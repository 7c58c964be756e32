"""The value space of a rule set's fields: equivalence classes and the exact search over them.

See :mod:`kernel.tools.lint.checks` for how the checks use it.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from kernel.errors import TicketInvalid
from kernel.evaluation.kernel import resolve_units
from kernel.evaluation.ticket import validate_ticket
from kernel.inputs.contracts import load_schema
from kernel.inputs.creditcode import ALPHABET, complete
from kernel.inputs.creditcode import is_valid as credit_code_valid
from kernel.rules.conditions import (
    All,
    AnyOf,
    Condition,
    Leaf,
    Not,
    holds,
    leaf_holds,
    leaves,
)
from kernel.rules.fields import FieldSpec, fields_for
from kernel.rules.load import (
    UNIT_SLOTS,
)
from kernel.rules.model import Rule, RuleSet

# Beyond this many tested members of one list (or substrings of one text), the subsets are not
# all enumerated and a negative answer becomes "could not decide".
MAX_MEMBERS = 10

# --------------------------------------------------------------------------- the search


class _Absent:
    """The value of an optional field that was left empty."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


class _OutOfSteps(Exception):
    """The search used up its budget."""


@dataclass(frozen=True)
class _Var:
    """A field and one representative value per equivalence class that matters."""

    field: str
    values: tuple[Any, ...]
    exact: bool = True


@dataclass(frozen=True)
class Answer:
    """The outcome of one search: an example ticket, or none (decided or not)."""

    ticket: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    decided: bool = True
    reason: str = ""

    @property
    def found(self) -> bool:
        """True when an example exists."""
        return self.ticket is not None

    @property
    def impossible(self) -> bool:
        """True when it is proven that no ticket exists."""
        return self.ticket is None and self.decided


Check = Callable[[dict[str, Any]], bool]
Grade = str | None


@dataclass(frozen=True)
class _Item:
    """A constraint of one search: a condition that must hold, one that must not, or a check
    on the units an outcome resolves to; ``fields`` are the fields its answer depends on."""

    kind: str  # must | never | check
    fields: frozenset[str]
    cond: Condition | None = None
    check: Check | None = None


def _subschema(root: dict[str, Any], path: str) -> dict[str, Any]:
    node = root
    for part in path.split("."):
        node = node["properties"][part]
    return node


def _fillers(taken: Sequence[str]) -> tuple[str, str]:
    """Two characters that occur in none of ``taken``: a filler and a separator."""
    free = [ch for ch in "〇□△◇☆※◎▽" if not any(ch in text for text in taken)]
    if len(free) < 2:  # pragma: no cover - only with rules quoting all eight symbols
        free = [chr(0xE000 + i) for i in range(2)]
    return free[0], free[1]


def _same_value(a: Any, b: Any) -> bool:
    if a is ABSENT or b is ABSENT:
        return a is b
    return type(a) is type(b) and bool(a == b)


class ValueSpace:
    """The tickets that matter to a question, one per equivalence class, and the search."""

    def __init__(self, ruleset: RuleSet, max_steps: int, max_total_steps: int) -> None:
        self.ruleset = ruleset
        self.reference = ruleset.reference
        self.fields = fields_for("routing")
        self.schema = load_schema("ticket")
        self.max_steps = max_steps
        self.steps_left = max_total_steps
        self.grading = ruleset.grading
        self.grading_leaves = [lf for r in self.grading.rules for lf in leaves(r.when)]
        self.grading_fields = frozenset(lf.field for lf in self.grading_leaves)
        self._validators: dict[str, Draft202012Validator] = {}
        self._valid_cache: dict[tuple[str, str], bool] = {}
        self._vars: dict[tuple[str, frozenset[Leaf], tuple[str, ...] | None], _Var] = {}
        self.base = self._base_ticket()

    # ------------------------------------------------------------------ the rules in Python

    def grade_of(self, values: Mapping[str, Any]) -> Grade:
        """The grade the grading rules give (the reference semantics)."""
        rules = [r for r in self.grading.rules if holds(r.when, dict(values))]
        if not rules:
            return None
        if self.grading.hit_policy == "first":
            return str(rules[0].then["grade"])
        best = rules[0]
        for rule in rules[1:]:
            if rule.precedence > best.precedence:
                best = rule
        return str(best.then["grade"])

    def singles(self, values: Mapping[str, Any]) -> dict[str, tuple[Rule, str]]:
        """Who gets ``primary`` and ``feedback_owner`` (highest precedence, then file order)."""
        matches = [r for r in self.ruleset.routing.rules if holds(r.when, dict(values))]
        out: dict[str, tuple[Rule, str]] = {}
        for rule in sorted(matches, key=lambda r: (-r.precedence, r.index)):
            for slot in UNIT_SLOTS:
                if slot in rule.then and slot not in out:
                    units = resolve_units(rule.then[slot], values)
                    if units:
                        out[slot] = (rule, units[0])
        return out

    # ------------------------------------------------------------------ three-valued logic

    def tv(self, cond: Condition, values: dict[str, Any], assigned: set[str]) -> bool | None:
        """Evaluate with some fields unassigned: None when the answer still depends on them."""
        if isinstance(cond, Leaf):
            if cond.field == "grade":
                return self._grade_tv(cond, values, assigned)
            if cond.field not in assigned:
                return None
            return leaf_holds(cond, values)
        if isinstance(cond, All):
            result: bool | None = True
            for item in cond.items:
                got = self.tv(item, values, assigned)
                if got is False:
                    return False
                if got is None:
                    result = None
            return result
        if isinstance(cond, AnyOf):
            result = False
            for item in cond.items:
                got = self.tv(item, values, assigned)
                if got is True:
                    return True
                if got is None:
                    result = None
            return result
        if isinstance(cond, Not):
            got = self.tv(cond.item, values, assigned)
            return None if got is None else not got
        return True

    def _grade_tv(self, leaf: Leaf, values: dict[str, Any], assigned: set[str]) -> bool | None:
        """A test of the grade, decided as soon as every grade still possible agrees."""
        possible: set[Grade] = set()
        answers = [(r, self.tv(r.when, values, assigned)) for r in self.grading.rules]
        if self.grading.hit_policy == "first":
            for rule, got in answers:
                if got is False:
                    continue
                possible.add(str(rule.then["grade"]))
                if got is True:
                    break
            else:
                possible.add(None)
        elif any(got is None for _, got in answers):
            possible = {str(r.then["grade"]) for r, got in answers if got is not False}
            if not any(got is True for _, got in answers):
                possible.add(None)
        else:
            possible.add(self.grade_of(values))
        results = {leaf_holds(leaf, {} if g is None else {"grade": g}) for g in possible}
        return results.pop() if len(results) == 1 else None

    def depends_on(self, cond: Condition) -> frozenset[str]:
        """The ticket fields ``cond`` reads (a test of the grade reads the grading fields)."""
        out: set[str] = set()
        for test in leaves(cond):
            if test.field == "grade":
                out |= self.grading_fields
            else:
                out.add(test.field)
        return frozenset(out)

    # ------------------------------------------------------------------ tickets

    def _base_ticket(self) -> dict[str, Any]:
        """A minimal valid ticket; the search overwrites the fields that matter."""
        ref = self.reference
        departments = ref.ids("departments")
        units = ref.ids("units")
        territories = ref.ids("territories")
        categories = ref.ids("categories")
        enum = self.fields["assessment.authority_level"].enum
        return {
            "ticket_id": "LINT-EXAMPLE",
            "collected_on": "2026-01-05",
            "category": categories[0] if categories else "",
            "summary": "示例问题",
            "enterprise": {
                "credit_code": complete("91610700MA6YT2A0X"),
                "name": "示例企业有限公司",
                "territory": territories[0] if territories else "",
                "lead_unit": (departments or units or [""])[0],
            },
            "assessment": {"authority_level": enum[0] if enum else ""},
        }

    def plain(self, path: str) -> Any:
        """The value a field has in the base ticket (ABSENT for an unfilled optional field)."""
        spec = self.fields[path]
        if spec.default is not None:
            return copy.deepcopy(spec.default)
        node: Any = self.base
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return ABSENT
            node = node[part]
        return node

    def ticket(self, assignment: Mapping[str, Any]) -> dict[str, Any]:
        """The base ticket with ``assignment`` applied; defaults are left out."""
        data = copy.deepcopy(self.base)
        for path, value in assignment.items():
            spec = self.fields.get(path)
            if spec is None or path == "grade":
                continue
            *parents, last = path.split(".")
            node = data
            for part in parents:
                node = node.setdefault(part, {})
            if value is ABSENT or (spec.default is not None and value == spec.default):
                node.pop(last, None)
            else:
                node[last] = copy.deepcopy(value)
        return _ordered(data, self.schema)

    def _valid(self, spec: FieldSpec, value: Any) -> bool:
        """Whether one field may hold ``value`` in a valid ticket (cached)."""
        if value is ABSENT:
            return not spec.required and spec.default is None
        key = (spec.path, json.dumps(value, ensure_ascii=False, sort_keys=True))
        known = self._valid_cache.get(key)
        if known is None:
            known = self._check_value(spec, value)
            self._valid_cache[key] = known
        return known

    def _validator(self, key: str, schema: dict[str, Any]) -> Draft202012Validator:
        found = self._validators.get(key)
        if found is None:
            found = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            self._validators[key] = found
        return found

    def _check_value(self, spec: FieldSpec, value: Any) -> bool:
        schema = _subschema(self.schema, spec.path)
        if spec.type == "array" and isinstance(value, list):
            # A list is valid when each item is (checked once per item) and, where the
            # contract asks for it, no item repeats.
            item_schema = schema.get("items", {})
            items = self._validator(f"{spec.path}[]", item_schema)
            if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) != len(value):
                return False
            if not all(self._item_ok(spec, items, item) for item in value):
                return False
            rest = {k: v for k, v in schema.items() if k not in ("items", "uniqueItems")}
            return self._validator(f"{spec.path}*", rest).is_valid(value)
        if not self._validator(spec.path, schema).is_valid(value):
            return False
        if spec.ref and self.reference.check(spec.ref, str(value)) is not None:
            return False
        return not (spec.path == "enterprise.credit_code" and not credit_code_valid(str(value)))

    def _item_ok(self, spec: FieldSpec, validator: Draft202012Validator, item: Any) -> bool:
        key = (f"{spec.path}[]", json.dumps(item, ensure_ascii=False))
        known = self._valid_cache.get(key)
        if known is None:
            known = validator.is_valid(item) and (
                not spec.ref or self.reference.check(spec.ref, str(item)) is None
            )
            self._valid_cache[key] = known
        return known

    # ------------------------------------------------------------------ domains

    def var(self, path: str, tests: Sequence[Leaf], *, outcome: Sequence[str] | None) -> _Var:
        """One representative of ``path`` per class of the leaf ``tests`` (the plain value
        first). ``outcome``: the field is also read by a ``{ref}`` outcome, so keep two units
        per class and unit kind, and these literal units."""
        key = (path, frozenset(tests), None if outcome is None else tuple(outcome))
        found = self._vars.get(key)
        if found is None:
            found = self._vars[key] = self._make_var(path, tests, outcome)
        return found

    def _make_var(self, path: str, tests: Sequence[Leaf], outcome: Sequence[str] | None) -> _Var:
        spec = self.fields[path]
        exact = True
        if spec.type == "array":
            # Already one list per class: members tested x lengths between the counts.
            lists, exact = self._lists(spec, tests)
            return _Var(path, tuple(lists), exact)
        if spec.type == "boolean":
            candidates: list[Any] = [False, True]
        elif spec.enum or spec.ref:
            candidates = list(spec.enum) if spec.enum else self.reference.ids(str(spec.ref))
        elif spec.type in ("integer", "number", "date"):
            candidates = self._ordered_values(spec, tests)
        else:
            candidates, exact = self._texts(spec, tests)
        if not spec.required and spec.default is None:
            candidates.append(ABSENT)
        candidates.insert(0, self.plain(path))
        keep = 1 if outcome is None else 2
        seen: dict[Any, int] = defaultdict(int)
        values: list[Any] = []
        for value in candidates:
            if not self._valid(spec, value) or any(_same_value(value, v) for v in values):
                continue
            # Absent and present stay apart even when every test agrees: the engine tests
            # them differently (see :meth:`_Linter.true_tests`).
            key: Any = (
                value is ABSENT,
                tuple(leaf_holds(t, {} if value is ABSENT else {path: value}) for t in tests),
            )
            if outcome is not None:
                unit = self.reference.units.get(value) if isinstance(value, str) else None
                key = (key, unit.kind if unit else None)
            if seen[key] < keep or (outcome is not None and value in outcome):
                seen[key] += 1
                values.append(value)
        return _Var(path, tuple(values), exact)

    def _ordered_values(self, spec: FieldSpec, tests: Sequence[Leaf]) -> list[Any]:
        is_date = spec.type == "date"
        minimum = _subschema(self.schema, spec.path).get("minimum")

        def num(value: Any) -> float:
            return float(dt.date.fromisoformat(value).toordinal()) if is_date else float(value)

        points: set[float] = set()
        for test in tests:
            if test.op == "exists":
                continue
            for value in test.value if test.op in ("in", "not_in") else (test.value,):
                points.add(num(value))
        if minimum is not None:
            points.add(float(minimum))
        if not points:
            points.add(num("2026-01-05") if is_date else 0.0)
        ordered = sorted(points)
        if spec.type == "number":
            candidates = set(ordered) | {ordered[0] - 1, ordered[-1] + 1}
            candidates |= {(a + b) / 2 for a, b in itertools.pairwise(ordered)}
        else:  # integers and dates: every class between two points holds point + 1
            candidates = {p + d for p in ordered for d in (-1, 0, 1)}
        out: list[Any] = []
        for point in sorted(candidates):
            if minimum is not None and point < minimum:
                continue
            if is_date:
                try:
                    out.append(dt.date.fromordinal(int(point)).isoformat())
                except (ValueError, OverflowError):
                    continue
            elif spec.type == "integer" or point.is_integer():
                out.append(int(point))
            else:
                out.append(point)
        return out

    def _texts(self, spec: FieldSpec, tests: Sequence[Leaf]) -> tuple[list[Any], bool]:
        equal: list[str] = []
        parts: list[str] = []
        for test in tests:
            if test.op == "contains":
                if test.value not in parts:
                    parts.append(str(test.value))
            elif test.op != "exists":
                for value in test.value if test.op in ("in", "not_in") else (test.value,):
                    if isinstance(value, str) and value not in equal:
                        equal.append(value)
        exact = True
        if len(parts) > MAX_MEMBERS:
            exact = False
            subsets: list[tuple[str, ...]] = [(), *((p,) for p in parts)]
        else:
            subsets = [s for n in range(len(parts) + 1) for s in itertools.combinations(parts, n)]
        filler, sep = _fillers([*equal, *parts])
        values: list[Any] = list(equal)
        for subset in subsets:
            # A filler and a separator that occur in no tested text make the text contain
            # exactly the parts in ``subset`` (and what they contain), and equal none of them.
            text = filler + sep.join(subset)
            if self._valid(spec, text):
                values.append(text)
            elif not subset and spec.path == "enterprise.credit_code":
                fresh = (complete(f"91610700MA6YT2A0{c}") for c in ALPHABET)
                values.append(next(code for code in fresh if code not in equal))
            else:
                exact = False
        return values, exact

    def all_members(self, spec: FieldSpec, tests: Sequence[Leaf]) -> list[Any]:
        """Values holding every tested member (or text) at once, with lengths around each
        compared count: the class representatives cover these only up to ``MAX_MEMBERS``."""
        parts = list(dict.fromkeys(t.value for t in tests if t.op == "contains"))
        if not parts or (spec.type == "string" and (spec.enum or spec.ref)):
            return []
        filler, sep = _fillers([str(p) for p in parts])
        if spec.type == "string":
            text = filler + sep.join(str(p) for p in parts)
            return [text] if self._valid(spec, text) else []
        counts = {int(t.value) for t in tests if t.count}
        others = (
            [u for u in self.reference.ids(spec.ref) if u not in parts]
            if spec.ref
            else [f"{filler}{i}" for i in range(1, max(counts, default=0) + 3)]
        )
        lengths = {len(parts)} | {c + d for c in counts for d in (-1, 0, 1)}
        out: list[Any] = []
        for n in sorted(x for x in lengths if x >= len(parts)):
            value = [*parts, *others[: n - len(parts)]]
            if self._valid(spec, value):
                out.append(value)
        return out

    def _lists(self, spec: FieldSpec, tests: Sequence[Leaf]) -> tuple[list[Any], bool]:
        members: list[Any] = []
        counts: set[int] = set()
        for test in tests:
            if test.count:
                counts.add(int(test.value))
            elif test.op == "contains" and test.value not in members:
                members.append(test.value)
        exact = True
        if spec.ref:
            others: list[Any] = [u for u in self.reference.ids(spec.ref) if u not in members]
            unbounded = False
        else:
            filler, _ = _fillers([str(m) for m in members])
            others = [f"{filler}{i}" for i in range(1, max(counts, default=0) + 3)]
            unbounded = True
        if len(members) > MAX_MEMBERS:
            exact = False
            subsets: list[tuple[Any, ...]] = [(), *((m,) for m in members)]
        else:
            subsets = [
                s for n in range(len(members) + 1) for s in itertools.combinations(members, n)
            ]
        plain = self.plain(spec.path)
        values: list[Any] = [plain] if self._valid(spec, plain) else []
        for subset in subsets:
            low = len(subset)
            # Each class of lengths (between the compared counts) holds ``low`` or a count
            # plus or minus one; beyond the largest count + 1 all lengths are alike.
            high = max([*counts, low]) + 1 if unbounded else low + len(others)
            lengths = {low} | {c + d for c in counts for d in (-1, 0, 1)}
            for n in sorted(x for x in lengths if low <= x <= high):
                value = [*subset, *others[: n - low]]
                if value == plain:
                    continue
                if self._valid(spec, value):
                    values.append(value)
                else:
                    exact = False
        return values, exact

    # ------------------------------------------------------------------ search

    def search(
        self,
        must: Sequence[Condition],
        never: Sequence[Condition] = (),
        *,
        check: Check | None = None,
        outcome: Mapping[str, Sequence[str]] | None = None,
    ) -> Answer:
        """A valid ticket for which every ``must`` holds and no ``never`` holds; ``check``
        (with ``outcome``: the fields it reads, and literal units to try for them) must pass
        too."""
        outcome = outcome or {}
        items = [_Item("must", self.depends_on(c), c) for c in must]
        items += [_Item("never", self.depends_on(c), c) for c in never]
        if check is not None:
            items.append(_Item("check", frozenset(outcome), check=check))
        tests: dict[str, list[Leaf]] = defaultdict(list)
        conds = [*must, *never]
        if any(t.field == "grade" for c in conds for t in leaves(c)):
            conds += [r.when for r in self.grading.rules]
        for cond in conds:
            for test in leaves(cond):
                tests[test.field].append(test)
        # Fields in the order the conditions name them, then those only a test of the grade
        # reads, then those only the check reads.
        named = [t.field for c in (*must, *never) for t in leaves(c) if t.field != "grade"]
        extra = sorted(f for item in items for f in item.fields)
        order = list(dict.fromkeys([*named, *extra, *outcome]))
        variables = {f: self.var(f, tests.get(f, []), outcome=outcome.get(f)) for f in order}
        rank = {f: i for i, f in enumerate(order)}
        inexact = [f for f, v in variables.items() if not v.exact]
        values: dict[str, Any] = {}
        assigned: set[str] = set()
        trail: list[str] = []
        steps = 0

        def assign(path: str, value: Any) -> None:
            if value is ABSENT:
                values.pop(path, None)
            else:
                values[path] = value
            assigned.add(path)
            trail.append(path)

        def undo(mark: int) -> None:
            while len(trail) > mark:
                path = trail.pop()
                values.pop(path, None)
                assigned.discard(path)

        def decide(item: _Item) -> bool | None:
            if item.check is not None:
                return item.check(values) if item.fields <= assigned else None
            assert item.cond is not None
            return self.tv(item.cond, values, assigned)

        def components(pending: list[_Item]) -> list[list[_Item]]:
            groups: list[tuple[set[str], list[_Item]]] = []
            for item in pending:
                free = set(item.fields - assigned)
                joined = [g for g in groups if g[0] & free]
                for group in joined:
                    groups.remove(group)
                    free |= group[0]
                groups.append((free, [i for g in joined for i in g[1]] + [item]))
            return [members for _, members in groups]

        def choose(pending: list[_Item]) -> str:
            for item in pending:  # the conditions that must hold first, in rule order
                if item.kind == "must" and item.cond is not None:
                    for test in leaves(item.cond):
                        for path in sorted(self.depends_on(test), key=rank.__getitem__):
                            if path not in assigned:
                                return path
            free = [f for item in pending for f in item.fields if f not in assigned]
            return min(free, key=lambda f: (-free.count(f), rank[f]))

        def solve(pending: list[_Item]) -> bool:
            nonlocal steps
            steps += 1
            self.steps_left -= 1
            if steps > self.max_steps or self.steps_left < 0:
                raise _OutOfSteps
            still: list[_Item] = []
            for item in pending:
                got = decide(item)
                if got is None:
                    still.append(item)
                elif got == (item.kind == "never"):
                    return False
            if not still:
                return True
            groups = components(still)
            if len(groups) > 1:  # no shared field: each group is solved on its own
                mark = len(trail)
                for group in groups:
                    if not solve(group):
                        undo(mark)
                        return False
                return True
            path = choose(still)
            mark = len(trail)
            for value in variables[path].values:
                assign(path, value)
                if solve(still):
                    return True
                undo(mark)
            return False

        def finish(assignment: dict[str, Any]) -> Answer | None:
            mapping = self.ticket(assignment)
            try:
                ticket = validate_ticket(mapping, self.reference, "<lint>")
            except TicketInvalid:
                return None
            full = dict(ticket.values)
            grade = self.grade_of(full)
            if grade is not None:
                full["grade"] = grade
            if not all(holds(c, full) for c in must) or any(holds(c, full) for c in never):
                return None
            if check is not None and not check(full):
                return None
            return Answer(mapping, full)

        try:
            solved = solve(items)
        except _OutOfSteps:
            return Answer(
                decided=False, reason=f"需要检查的取值组合超过上限（{self.max_steps} 步）"
            )
        if solved:
            assignment = {f: values.get(f, ABSENT) for f in order if f in assigned}
            answer = finish(assignment)
            if answer is None:  # pragma: no cover - the search and the contract agree
                return Answer(decided=False, reason="找到的取值组合构不成有效的办理单")
            return self._simplify(answer, assignment, finish)
        if inexact:
            return Answer(
                decided=False, reason=f"字段 {'、'.join(inexact)} 的取值太多，无法逐一检查"
            )
        return Answer()

    def _simplify(
        self,
        answer: Answer,
        assignment: dict[str, Any],
        finish: Callable[[dict[str, Any]], Answer | None],
    ) -> Answer:
        """Reset each field to its plain value while the example still answers the question,
        so that an example shows only what matters."""
        current = dict(assignment)
        for path in list(current):
            plain = self.plain(path)
            if _same_value(current[path], plain):
                continue
            trial = {**current, path: plain}
            simpler = finish(trial)
            if simpler is not None:
                answer, current = simpler, trial
        return answer


def _ordered(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its keys in the ticket contract's order (nested objects too)."""
    props = schema.get("properties", {})
    out: dict[str, Any] = {}
    for key in [*props, *(k for k in data if k not in props)]:
        if key in data:
            value = data[key]
            sub = props.get(key, {})
            out[key] = _ordered(value, sub) if isinstance(value, dict) else value
    return out
