"""Baseline (c): GoRules zen-engine evaluating decision tables equivalent to the rule files.

:func:`decision_graph` writes a JDM decision graph::

    input → grading (decision table, hit policy first) → routing (decision table, collect)
          → expression node {grade, grade_rule, routes} → output

Each rule becomes one row. A rule whose condition is one test, or an ``all`` of tests on
distinct fields, is written the way a decision table is meant to be read: one input column per
field, a unary cell (``$ in ["省级", "中央"]``, ``len($) >= 3``) per test, empty cells for "any".
Other conditions (``any``, ``not``, repeated fields) go whole into a column without a field, as a
ZEN expression. The kernel's missing-field semantics are kept: comparisons, ``eq``, ``in`` and
``contains`` are false on an empty field (guarded with ``!= null``), ``ne``/``not_in`` true.

Routing rows output the rule's proposal (primary, co_handlers, feedback_owner, coordinators,
agenda, report_upward, with ``{ref: field}`` as ZEN expressions on the ticket) plus its index
and precedence; the rows are merged in Python with the same function as the plain baseline,
since a decision table has no "highest precedence wins, lists unioned" policy of its own.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

from bench.plain import FLAG_SLOTS, LIST_SLOTS, SINGLE_SLOTS, Outcome, merge
from kernel.rules.conditions import All, AnyOf, Condition, Leaf, Not, leaves
from kernel.rules.fields import FieldSpec, fields_for
from kernel.rules.model import Rule, RuleFile, RuleSet, UnitValue

KEY = "huhang"
GRADING_KEY = "huhang-grading"
_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def literal(value: Any) -> str:
    """A ZEN literal for a rule value (JSON spelling; numbers without exponents)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, "f").rstrip("0").rstrip(".") or "0"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no ZEN literal for {value!r}")


def leaf_expression(leaf: Leaf, subject: str, spec: FieldSpec | None) -> str:
    """The ZEN test of one leaf on ``subject`` (``$`` in a column cell, else the field path)."""
    guard = f"{subject} != null"
    if leaf.count:
        return f"len({subject} ?? []) {_CMP[leaf.op]} {leaf.value}"
    if leaf.op == "exists":
        return f"{subject} {'!=' if leaf.value else '=='} null"
    if leaf.op == "in":
        return f"{subject} in {literal(leaf.value)}"
    if leaf.op == "not_in":
        return f"not({subject} in {literal(leaf.value)})"
    if leaf.op == "contains":
        return f"({guard} and contains({subject}, {literal(leaf.value)}))"
    if leaf.op in ("eq", "ne"):
        return f"{subject} {_CMP[leaf.op]} {literal(leaf.value)}"
    if spec is not None and spec.type == "date":
        return f"({guard} and date({subject}) {_CMP[leaf.op]} date({literal(leaf.value)}))"
    return f"({guard} and {subject} {_CMP[leaf.op]} {literal(leaf.value)})"


def expression(cond: Condition, fields: dict[str, FieldSpec]) -> str:
    """A whole condition as one ZEN expression over the ticket's fields."""
    if isinstance(cond, Leaf):
        return leaf_expression(cond, cond.field, fields.get(cond.field))
    if isinstance(cond, Not):
        return f"not({expression(cond.item, fields)})"
    if isinstance(cond, All | AnyOf):
        joiner = " and " if isinstance(cond, All) else " or "
        return "(" + joiner.join(expression(item, fields) for item in cond.items) + ")"
    return "true"


def _columns_of(cond: Condition) -> list[Leaf] | None:
    """The leaves of a condition that fits field columns (one test per field), else None."""
    if isinstance(cond, Leaf):
        return [cond]
    if isinstance(cond, All) and all(isinstance(item, Leaf) for item in cond.items):
        found = list(leaves(cond))
        if len({leaf.field for leaf in found}) == len(found):
            return found
    return None


def unit_expression(values: tuple[UnitValue, ...] | list[UnitValue], as_list: bool) -> str:
    """A ZEN output expression for an outcome's unit(s)."""
    if not as_list:
        (value,) = values
        return literal(value.unit) if value.unit is not None else str(value.ref)
    parts = []
    for value in values:
        if value.unit is not None:
            parts.append(f"[{literal(value.unit)}]")
        elif value.ref == "assessment.departments":
            parts.append(f"({value.ref} ?? [])")
        else:
            parts.append(f"({value.ref} == null ? [] : [{value.ref}])")
    return parts[0] if len(parts) == 1 else "flatten([" + ", ".join(parts) + "])"


def _table(
    rule_file: RuleFile,
    fields: dict[str, FieldSpec],
    outputs: list[tuple[str, Any]],
    hit_policy: str,
) -> dict[str, Any]:
    """A decision table node's content; ``outputs`` are (field, cell-maker) pairs."""
    shapes = [_columns_of(rule.when) for rule in rule_file.rules]
    used = Counter(leaf.field for shape in shapes if shape for leaf in shape)
    columns = {path: f"in{i}" for i, path in enumerate(sorted(used))}
    inputs: list[dict[str, Any]] = [
        {"id": column, "name": path, "field": path} for path, column in columns.items()
    ]
    inputs.append({"id": "expr", "name": "condition"})
    rows = []
    for rule, shape in zip(rule_file.rules, shapes, strict=True):
        row: dict[str, Any] = {"_id": rule.id, "_description": rule.title}
        row.update(dict.fromkeys(columns.values(), ""))
        row["expr"] = ""
        if shape is not None:
            for leaf in shape:
                row[columns[leaf.field]] = leaf_expression(leaf, "$", fields.get(leaf.field))
        elif not isinstance(rule.when, All | AnyOf | Not | Leaf):
            pass  # always: every cell empty
        else:
            row["expr"] = expression(rule.when, fields)
        for i, (_, make) in enumerate(outputs):
            row[f"out{i}"] = make(rule)
        rows.append(row)
    return {
        "hitPolicy": hit_policy,
        "inputs": inputs,
        "outputs": [
            {"id": f"out{i}", "name": name, "field": name} for i, (name, _) in enumerate(outputs)
        ],
        "rules": rows,
        "passThrough": True,
        "inputField": None,
        "outputPath": "routes" if hit_policy == "collect" else None,
        "executionMode": "single",
    }


def _slot_cell(slot: str) -> Any:
    def make(rule: Rule) -> str:
        value = rule.then.get(slot)
        if value is None:
            return "null"
        if slot in FLAG_SLOTS:
            return "true" if value else "false"
        return unit_expression(value if slot in LIST_SLOTS else [value], slot in LIST_SLOTS)

    return make


def decision_graph(ruleset: RuleSet, *, routing_table: bool = True) -> dict[str, Any]:
    """The JDM graph for the rule set's grading and routing files (or grading alone)."""
    grading = _table(
        ruleset.grading,
        fields_for("grading"),
        [
            ("grade", lambda rule: literal(rule.then["grade"])),
            ("grade_rule", lambda rule: str(rule.index)),
        ],
        "first",
    )
    routing = _table(
        ruleset.routing,
        fields_for("routing"),
        [
            ("index", lambda rule: str(rule.index)),
            ("precedence", lambda rule: str(rule.precedence)),
            *((slot, _slot_cell(slot)) for slot in (*SINGLE_SLOTS, *LIST_SLOTS, *FLAG_SLOTS)),
        ],
        "collect",
    )
    finish = {
        "expressions": [
            {"id": "x0", "key": "grade", "value": "grade"},
            {"id": "x1", "key": "grade_rule", "value": "grade_rule"},
            {"id": "x2", "key": "routes", "value": "routes"},
        ],
        "passThrough": False,
        "inputField": None,
        "outputPath": None,
        "executionMode": "single",
    }

    def node(ident: str, kind: str, content: dict[str, Any], x: int) -> dict[str, Any]:
        return {
            "id": ident,
            "type": kind,
            "name": ident,
            "position": {"x": x, "y": 100},
            "content": content,
        }

    if not routing_table:
        grading["passThrough"] = False
        nodes = [
            node("request", "inputNode", {}, 0),
            node("grading", "decisionTableNode", grading, 250),
            node("response", "outputNode", {}, 500),
        ]
    else:
        nodes = [
            node("request", "inputNode", {}, 0),
            node("grading", "decisionTableNode", grading, 250),
            node("routing", "decisionTableNode", routing, 500),
            node("finish", "expressionNode", finish, 750),
            node("response", "outputNode", {}, 1000),
        ]
    chain = [n["id"] for n in nodes]
    edges = [
        {"id": f"e{i}", "sourceId": a, "targetId": b, "type": "edge"}
        for i, (a, b) in enumerate(itertools.pairwise(chain))
    ]
    return {"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges}


class ZenEvaluator:
    """The graphs loaded in a ZenEngine (static loader), evaluated synchronously."""

    def __init__(self, ruleset: RuleSet) -> None:
        import zen  # optional: only the benchmark needs it

        self.graph = decision_graph(ruleset)
        self.grading_graph = decision_graph(ruleset, routing_table=False)
        content = {KEY: self.graph, GRADING_KEY: self.grading_graph}
        self.engine = zen.ZenEngine({"loader": {"type": "static", "content": content}})
        # Built separately: ZenDecision.evaluate is the other synchronous entry point.
        self.decision = self.engine.create_decision(json.dumps(self.graph, ensure_ascii=False))

    def raw(self, data: dict[str, Any]) -> dict[str, Any]:
        """The graph's result for one ticket mapping."""
        result: dict[str, Any] = self.engine.evaluate(KEY, data)["result"]
        return result

    def evaluate(self, data: dict[str, Any]) -> Outcome:
        """Grade and route one ticket: zen evaluates both tables, Python merges the routes."""
        result = self.engine.evaluate(KEY, data)["result"]
        return merge(result.get("grade"), result["routes"])

    def grade(self, data: dict[str, Any]) -> str | None:
        """Grading alone (a graph with only the grading table)."""
        grade: str | None = self.engine.evaluate(GRADING_KEY, data)["result"].get("grade")
        return grade

    def evaluate_decision(self, data: dict[str, Any]) -> Outcome:
        """As :meth:`evaluate`, through ``ZenDecision.evaluate`` instead of the engine."""
        result = self.decision.evaluate(data)["result"]
        return merge(result.get("grade"), result["routes"])
