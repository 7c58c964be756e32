"""Compile checked rule files into durable-rules rulesets.

The compiler runs these passes, in order:

1. **plan** -- collect every field the rules read and give each a message key of our own
   (``f_enterprise__territory``), so business names never meet the engine's ``id``/``sid``;
   list lengths become count keys and list membership or substring tests become 0/1 feature
   keys computed in Python (durable-rules has no safe operator for either);
2. **negate** -- push ``not`` down to the leaves (De Morgan), because durable-rules accepts
   ``$not`` and then never matches;
3. **lower** -- translate each leaf to durable-rules tests with our missing-field semantics
   (``ne`` is "absent or different"), ``in`` as an ``$or`` of equalities (``$in`` is an error),
   and no ``$mt`` or ``$div`` anywhere;
4. **build** -- one :class:`kernel.evaluation.engine.Engine` per rule file, rule ``i`` at priority ``i``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kernel.evaluation.engine import DISCRIMINATOR, Engine, encode_scalar, encode_text
from kernel.rules.conditions import All, Always, Condition, Leaf, Not, leaves
from kernel.rules.model import Rule, RuleFile

Test = dict[str, Any]

# A test no message can pass: every message carries _k == 1.
NEVER: Test = {"_k": 2}

_OPPOSITE = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}
_DURABLE_OP = {"ne": "$neq", "lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte"}


#: what a message encoder reads for a field the ticket does not have
_MISSING = object()


def _key(path: str) -> str:
    return path.replace(".", "__")


@dataclass
class MessagePlan:
    """Which message keys a rule file needs, and how to compute them from a ticket."""

    scalars: dict[str, str] = field(default_factory=dict)
    counts: dict[str, str] = field(default_factory=dict)
    members: dict[tuple[str, Any], str] = field(default_factory=dict)
    substrings: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, leaf: Leaf, is_list: bool) -> str:
        """Register the key a leaf reads and return it."""
        if leaf.count:
            return self.counts.setdefault(leaf.field, f"n_{_key(leaf.field)}")
        if leaf.op == "contains":
            table: dict[Any, str] = self.members if is_list else self.substrings
            prefix = "h" if is_list else "s"
            slot = (leaf.field, leaf.value)
            if slot not in table:
                table[slot] = f"{prefix}{len(table)}_{_key(leaf.field)}"
            return table[slot]
        return self.scalars.setdefault(leaf.field, f"f_{_key(leaf.field)}")

    def build(self, values: dict[str, Any]) -> dict[str, Any]:
        """The message fields for a ticket's flat values (absent optional fields stay absent)."""
        message: dict[str, Any] = {}
        for path, key in self.scalars.items():
            if path in values:
                message[key] = values[path]
        for path, key in self.counts.items():
            items = values.get(path)
            message[key] = len(items) if isinstance(items, list) else 0
        for (path, wanted), key in self.members.items():
            items = values.get(path)
            message[key] = 1 if isinstance(items, list) and wanted in items else 0
        for (path, text), key in self.substrings.items():
            value = values.get(path)
            message[key] = 1 if isinstance(value, str) and text in value else 0
        return message

    def encoder(self, computed: str = "") -> Callable[[Mapping[str, Any], Any], str]:
        """One pass from a ticket's flat values to the engine's message text.

        The text is exactly ``Engine.message(self.build(values))`` -- the same keys in the same
        order, written by the same encoder -- without the intermediate mapping: the keys are
        the compiler's own ASCII names, so their JSON is written once, here. The field path
        ``computed`` (routing: ``grade``) is read from the second argument instead, when that
        is not None, as if ``values`` held it.
        """
        head = f'{{"{DISCRIMINATOR}":1'
        scalars = [(path, f',"{key}":') for path, key in self.scalars.items()]
        # the computed field keeps its place among the scalars (the same text as build())
        at = next((i for i, (path, _) in enumerate(scalars) if path == computed), len(scalars))
        before = tuple(scalars[:at])
        after = tuple(scalars[at + 1 :])
        computed_prefix = scalars[at][1] if at < len(scalars) else None
        counts = tuple((path, f',"{key}":') for path, key in self.counts.items())
        members = tuple(
            (path, wanted, f',"{key}":') for (path, wanted), key in self.members.items()
        )
        substrings = tuple(
            (path, text, f',"{key}":') for (path, text), key in self.substrings.items()
        )
        text = encode_text
        missing = _MISSING

        def message(values: Mapping[str, Any], computed_value: Any = None) -> str:
            get = values.get
            parts = [head]
            append = parts.append
            for path, prefix in before:
                value = get(path, missing)
                if value is missing:
                    continue
                kind = type(value)
                if kind is str:
                    append(prefix + text(value))
                elif kind is bool:
                    append(prefix + ("true" if value else "false"))
                else:
                    append(prefix + encode_scalar(value))
            if computed_prefix is not None:
                value = computed_value if computed_value is not None else get(computed, missing)
                if value is not missing:
                    append(computed_prefix + encode_scalar(value))
            for path, prefix in after:
                value = get(path, missing)
                if value is missing:
                    continue
                kind = type(value)
                if kind is str:
                    append(prefix + text(value))
                elif kind is bool:
                    append(prefix + ("true" if value else "false"))
                else:
                    append(prefix + encode_scalar(value))
            for path, prefix in counts:
                items = get(path)
                append(prefix + (str(len(items)) if isinstance(items, list) else "0"))
            for path, wanted, prefix in members:
                items = get(path)
                append(prefix + ("1" if isinstance(items, list) and wanted in items else "0"))
            for path, needle, prefix in substrings:
                value = get(path)
                append(prefix + ("1" if isinstance(value, str) and needle in value else "0"))
            append("}")
            return "".join(parts)

        return message


def _absent_or(key: str, test: Test) -> Test:
    return {"$or": [{"$nex": {key: 1}}, test]}


def lower_leaf(leaf: Leaf, key: str, negated: bool, always_present: bool) -> Test:
    """The durable-rules test of one leaf, honouring the kernel's missing-field semantics."""
    if leaf.op == "contains":
        return {key: 0 if negated else 1}
    if leaf.op == "exists":
        present = leaf.value != negated
        return {"$ex": {key: 1}} if present else {"$nex": {key: 1}}
    op = leaf.op
    if op in ("in", "not_in"):
        positive = (op == "in") != negated
        values = list(leaf.value)
        if positive:
            return {key: values[0]} if len(values) == 1 else {"$or": [{key: v} for v in values]}
        differs: Test = (
            {"$neq": {key: values[0]}}
            if len(values) == 1
            else {"$and": [{"$neq": {key: v}} for v in values]}
        )
        return differs if always_present else _absent_or(key, differs)
    if negated:
        op = _OPPOSITE[op]
        # not(lt) is "absent or ge": a missing value is not less than anything.
        test: Test = {key: leaf.value} if op == "eq" else {_DURABLE_OP[op]: {key: leaf.value}}
        if op == "eq" or always_present:
            return test
        return _absent_or(key, test)
    if op == "eq":
        return {key: leaf.value}
    test = {_DURABLE_OP[op]: {key: leaf.value}}
    if op == "ne" and not always_present:
        return _absent_or(key, test)
    return test


class _Lowering:
    def __init__(self, plan: MessagePlan, list_fields: set[str], required: set[str]) -> None:
        self.plan = plan
        self.list_fields = list_fields
        self.required = required

    def lower(self, cond: Condition, negated: bool = False) -> Test | None:
        """The test for ``cond``; None means "always holds", :data:`NEVER` "never holds"."""
        if isinstance(cond, Always):
            return NEVER if negated else None
        if isinstance(cond, Not):
            return self.lower(cond.item, not negated)
        if isinstance(cond, Leaf):
            is_list = cond.field in self.list_fields
            key = self.plan.add(cond, is_list)
            always_present = cond.count or cond.op == "contains" or cond.field in self.required
            return lower_leaf(cond, key, negated, always_present)
        conjunction = isinstance(cond, All) != negated
        parts = [self.lower(item, negated) for item in cond.items]
        absorbing, neutral = (NEVER, None) if conjunction else (None, NEVER)
        if any(p == absorbing for p in parts):
            return absorbing
        tests = [p for p in parts if p != neutral]
        if not tests:
            return neutral
        if len(tests) == 1:
            return tests[0]
        return {"$and" if conjunction else "$or": tests}


@dataclass
class CompiledRules:
    """A rule file bound to its durable-rules engine."""

    rule_file: RuleFile
    plan: MessagePlan
    engine: Engine
    tests: list[Test | None]
    #: the plan's one-pass message encoder (:meth:`MessagePlan.encoder`)
    message: Callable[[Mapping[str, Any], Any], str] = field(init=False, repr=False)
    #: the field :attr:`message` takes as its second argument (see :meth:`MessagePlan.encoder`)
    computed: str = ""

    def __post_init__(self) -> None:
        self.message = self.plan.encoder(self.computed)

    def first_index(self, values: Mapping[str, Any], computed_value: Any = None) -> int | None:
        """The index of the first rule in file order that holds (first-match hit policy)."""
        return self.engine.first_text(self.message(values, computed_value))

    def matching_indexes(self, values: Mapping[str, Any], computed_value: Any = None) -> list[int]:
        """The indexes of every rule that holds, ascending (collect and priority policies)."""
        return self.engine.collect_text(self.message(values, computed_value))

    def first(self, values: dict[str, Any]) -> Rule | None:
        """The first rule in file order that holds (first-match hit policy)."""
        index = self.first_index(values)
        return None if index is None else self.rule_file.rules[index]

    def matching(self, values: dict[str, Any]) -> list[Rule]:
        """Every rule that holds, in file order (collect and priority hit policies)."""
        return [self.rule_file.rules[i] for i in self.matching_indexes(values)]

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()


def compile_rule_file(
    rule_file: RuleFile, list_fields: set[str], required_fields: set[str], computed: str = ""
) -> CompiledRules:
    """Run the compiler passes over one rule file."""
    plan = MessagePlan()
    lowering = _Lowering(plan, list_fields, required_fields)
    tests = [lowering.lower(rule.when) for rule in rule_file.rules]
    for rule in rule_file.rules:  # make sure even unused-by-engine leaves are planned
        for leaf in leaves(rule.when):
            plan.add(leaf, leaf.field in list_fields)
    return CompiledRules(rule_file, plan, Engine(tests), tests, computed)
