"""``huhang lint``: find what is wrong with a rule set that ``huhang validate`` accepts.

``validate`` checks each file on its own. ``lint`` reads the whole, valid rule set and looks for
mistakes that only show across rules and files (the lint page of the documentation, docs/internals/lint.md, has an example of each):

- ``LINT-SHADOWED``: a rule that never decides -- under first match (or priority) the rules
  before it take every ticket it matches, no valid ticket satisfies it, or (collect) its only
  outcome is always replaced by a rule of higher precedence;
- ``LINT-GAP``: a ticket that no grading rule grades, or that gets no primary handler;
- ``LINT-CONFLICT``: two routing rules of equal precedence that can both hold and name
  different units for ``primary`` or ``feedback_owner`` (file order silently decides);
- ``LINT-GRADE-CLOCKS``: a grade grading can give that no resolution clock runs for, or a grade
  deadlines.yaml names that grading never gives;
- ``LINT-UNKNOWN-TARGET``: a routing outcome that is, or can resolve to, the wrong kind of
  unit (an office as primary handler, a department as coordinator, an unregistered unit);
- ``LINT-DEAD-DEDUCTION``: a scoring deduction that nothing can trigger;
- ``LINT-ENGINE``: the size of each rule file against the durable-rules limits (info), and a
  warning when one ticket satisfies more distinct engine tests than durable-rules can take.

**How "no ticket exists" is decided.** Exactly, not by sampling. Every condition depends on a
field only through finitely many *equivalence classes* of its values: for a reference or enum
field, the values that pass the same tests; for a number or a date, the thresholds compared
with and the intervals between them; for a list, which tested members it holds and its length
between the compared counts; for a text, which tested substrings it contains; for an optional
field, also "left empty". :class:`ValueSpace` builds one representative per class and searches
their combinations with three-valued logic (a branch stops as soon as a condition that must
hold is false or one that must not hold is true), solves groups of conditions that share no
field separately, and decides a test of the routing ``grade`` from the grading rules as soon
as every grade still possible agrees. A search that exceeds its step budget, or meets a field
whose classes it cannot all build, is reported as "could not decide" (info), never as a finding.

Every example ticket is real: it passes :func:`kernel.evaluation.ticket.validate_ticket`, is checked
again with the reference semantics (:func:`kernel.rules.conditions.holds`), and is then reduced
to the fields that matter.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from kernel.errors import EngineError, ProblemsError, TicketInvalid
from kernel.evaluation.compile import MessagePlan, compile_rule_file, lower_leaf
from kernel.evaluation.engine import EngineLimitExceeded
from kernel.evaluation.kernel import resolve_units
from kernel.evaluation.ticket import validate_ticket
from kernel.inputs.contracts import describe_value, load_schema
from kernel.inputs.sourcefile import PathKey, SourceDoc, read_file
from kernel.ledger.events import TICKET_EVENTS
from kernel.ledger.eventtypes import EVENT_TYPES
from kernel.rules.conditions import (
    All,
    Always,
    AnyOf,
    Condition,
    Leaf,
    Not,
    holds,
    leaves,
)
from kernel.rules.deadlines import ClockRule, DeadlineRules, Limit
from kernel.rules.fields import fields_for
from kernel.rules.load import (
    MAX_DISTINCT_TESTS_PER_FIELD,
    MAX_RULES_PER_FILE,
    UNIT_LIST_SLOTS,
    UNIT_SLOTS,
)
from kernel.rules.model import Rule, RuleFile, RuleSet, UnitValue
from kernel.rules.reference import UNIT_KINDS
from kernel.rules.scoring import DeductionRule, ScoringRules
from kernel.tools.lint.findings import (
    CONFLICT,
    DEAD_DEDUCTION,
    ENGINE,
    ERROR,
    GAP,
    GRADE_CLOCKS,
    INFO,
    SHADOWED,
    STALE_NUMBER,
    UNKNOWN_TARGET,
    WARNING,
    Finding,
)
from kernel.tools.lint.valuespace import ABSENT, Answer, ValueSpace
from kernel.vocabulary import ESCALATION_WORDS, GRADES, ROUTE_SLOT_WORDS

# Search budget: steps (assignments tried) for one question and for the whole run.
MAX_STEPS = 20_000
MAX_TOTAL_STEPS = 200_000
# durable-rules keeps the tests that hold for a message, and still wait to be followed, on a
# stack of 64 (MAX_STACK_SIZE in its events.c); a message that overflows it fails with error
# 303, whatever the rules make of it (on 2.0.28: 64 rules ``amount ge N`` pass, 65 fail). How
# full the stack gets depends on how the tests are nested, so lint counts the distinct tests
# one ticket satisfies and, past this number, runs that ticket through the engine to be sure.
ENGINE_MAX_TRUE_TESTS = 64

# Events that can happen while a ticket is open and not yet resolved: a clock that starts at one
# of them runs before the resolution it waits for.
BEFORE_RESOLUTION = frozenset(
    {
        "ticket.collected",
        "ticket.reported",
        "ticket.graded",
        "ticket.overridden",
        "ticket.dispatched",
        "ticket.progress_reported",
        "ticket.reopened",
    }
)
ESCALATION_EVENTS = {
    "supervision.issued": "supervision",
    "notice.published": "notice",
    "interview.recommended": "interview",
}


def lint(
    ruleset: RuleSet, *, max_steps: int = MAX_STEPS, max_total_steps: int = MAX_TOTAL_STEPS
) -> list[Finding]:
    """Every finding for a loaded (valid) rule set, sorted by location."""
    return _Linter(ruleset, max_steps, max_total_steps).run()


# --------------------------------------------------------------------------- locations


class _Docs:
    """Source positions, read again from the rule folder when a finding needs one."""

    def __init__(self, directory: Path, sources: dict[str, SourceDoc] | None = None) -> None:
        self.directory = directory
        self._docs: dict[str, SourceDoc | None] = {}
        # The documents the rule set was built from: a folder that extends another has them
        # merged over its levels, with positions in the file of each value.
        for doc in (sources or {}).values():
            for part in getattr(doc, "sources", [doc]):
                self._docs[part.path] = doc

    def doc(self, shown: str) -> SourceDoc | None:
        """The document of the file shown as ``shown`` (None if it cannot be read again)."""
        if shown not in self._docs:
            try:
                self._docs[shown] = read_file(self.directory / Path(shown).name, shown)
            except ProblemsError:
                self._docs[shown] = None
        return self._docs[shown]

    def where(self, shown: str, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        """Line and column of ``path`` in the file shown as ``shown`` (0, 0 if unreadable)."""
        doc = self.doc(shown)
        return doc.where(path, key=key) if doc is not None else (0, 0)


# --------------------------------------------------------------------------- the checks


def _rule_name(rule: Rule) -> str:
    return f"{rule.id}「{rule.title}」" if rule.title else rule.id


def _ids(rules: Sequence[Rule]) -> str:
    return "、".join(r.id for r in rules)


def _kind_word(unit_id: str, ruleset: RuleSet) -> str:
    unit = ruleset.reference.units.get(unit_id)
    return UNIT_KINDS.get(unit.kind, unit.kind) if unit else "未登记的单位"


def _resolve_schema_ref(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = root
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _payload_schema(event_type: str) -> dict[str, Any] | None:
    """The payload schema of an event type (from event.schema.json), or None if it has none."""
    root = load_schema("event")
    for branch in root.get("allOf", []):
        kinds = branch.get("if", {}).get("properties", {}).get("type", {}).get("enum", [])
        if event_type in kinds:
            payload = branch.get("then", {}).get("properties", {}).get("payload")
            if isinstance(payload, dict):
                return _resolve_schema_ref(root, payload)
    return None


class _Linter:
    def __init__(self, ruleset: RuleSet, max_steps: int, max_total_steps: int) -> None:
        self.ruleset = ruleset
        self.space = ValueSpace(ruleset, max_steps, max_total_steps)
        self.docs = _Docs(ruleset.directory, ruleset.sources)
        self.findings: list[Finding] = []
        # Rule id -> True (fires for some ticket), False (never), None (could not decide).
        self.fires: dict[str, bool | None] = {}

    def add(
        self,
        path: str,
        where: tuple[int, int],
        code: str,
        severity: str,
        message: str,
        example: dict[str, Any] | None = None,
    ) -> None:
        self.findings.append(Finding(path, where[0], where[1], code, severity, message, example))

    def at_rule(self, rule: Rule, code: str, severity: str, message: str, **kw: Any) -> None:
        self.add(rule.path, (rule.line, rule.col), code, severity, message, **kw)

    def run(self) -> list[Finding]:
        grading = self.ruleset.grading
        routing = self.ruleset.routing
        self.ordered_rules(grading)
        self.gap(grading)
        self.collect_rules(routing)
        self.routing_gap(routing)
        self.conflicts(routing)
        self.targets(routing)
        produced = self.produced_grades()
        self.grade_clocks(produced)
        self.deductions(produced)
        for rule_file in (grading, routing):
            self.engine(rule_file)
        self.stale_numbers()
        return sorted(self.findings, key=Finding.sort_key)

    # ------------------------------------------------------------------ 1. shadowing

    @staticmethod
    def beats(other: Rule, rule: Rule, policy: str) -> bool:
        """Whether ``other`` wins over ``rule`` when both hold."""
        if policy == "first":
            return other.index < rule.index
        return other.precedence > rule.precedence or (
            other.precedence == rule.precedence and other.index < rule.index
        )

    def ordered_rules(self, rule_file: RuleFile) -> None:
        """First match / priority: a rule is shadowed when the rules that beat it take every
        ticket it matches."""
        policy = rule_file.hit_policy
        for rule in rule_file.rules:
            winners = [r for r in rule_file.rules if self.beats(r, rule, policy)]
            answer = self.space.search([rule.when], [r.when for r in winners])
            if answer.found:
                self.fires[rule.id] = True
                continue
            if not answer.decided:
                self.fires[rule.id] = None
                self.undecided(rule, answer)
                continue
            self.fires[rule.id] = False
            if self.never_holds(rule):
                continue
            cover = self.cover(rule, winners)
            words = "排在它前面的规则" if policy == "first" else "优先级更高（或相同而靠前）的规则"
            self.at_rule(
                rule,
                SHADOWED,
                WARNING,
                f"规则 {_rule_name(rule)}永远不会命中：它能匹配的办理单都会先被{words} "
                f"{_ids(cover)} 命中",
            )

    def never_holds(self, rule: Rule) -> bool:
        """Report (and return True) when no valid ticket satisfies the rule at all."""
        alone = self.space.search([rule.when])
        if not alone.impossible:
            return False
        self.at_rule(
            rule,
            SHADOWED,
            WARNING,
            f"规则 {_rule_name(rule)}永远不会命中：没有任何有效的办理单满足它的条件"
            + self.grade_hint(rule),
        )
        return True

    def grade_hint(self, rule: Rule) -> str:
        """For a routing rule that tests the grade: the grades it names that grading never gives."""
        named = {
            str(v)
            for test in leaves(rule.when)
            if test.field == "grade" and test.op in ("eq", "in")
            for v in (test.value if test.op == "in" else (test.value,))
        }
        missing = sorted(named - self.produced_grades())
        if not missing:
            return ""
        return f"（grading.yaml 的规则永远不会给出 {'、'.join(missing)} 级）"

    def cover(self, rule: Rule, winners: Sequence[Rule]) -> list[Rule]:
        """A small, irredundant set of ``winners`` that together take every ticket ``rule``
        matches: add the winner of each ticket still uncovered, then drop the ones not needed."""
        cover: list[Rule] = []
        while True:
            answer = self.space.search([rule.when], [w.when for w in cover])
            if answer.values is None:
                break
            values = answer.values
            taken = next((w for w in winners if w not in cover and holds(w.when, values)), None)
            if taken is None:  # pragma: no cover - the rule was shown to be shadowed
                break
            cover.append(taken)
        for other in list(cover):
            rest = [w.when for w in cover if w is not other]
            if len(cover) > 1 and self.space.search([rule.when], rest).impossible:
                cover.remove(other)
        return sorted(cover, key=lambda r: r.index)

    def undecided(self, rule: Rule, answer: Answer) -> None:
        self.at_rule(rule, SHADOWED, INFO, f"无法判定规则 {rule.id} 是否会被覆盖：{answer.reason}")

    def collect_rules(self, rule_file: RuleFile) -> None:
        """Collect: a rule that never holds, or whose only outcomes are single units always
        replaced by a rule of higher precedence (or equal precedence, earlier)."""
        for rule in rule_file.rules:
            answer = self.space.search([rule.when])
            if answer.impossible:
                self.fires[rule.id] = False
                self.never_holds(rule)
                continue
            if not answer.decided:
                self.fires[rule.id] = None
                self.undecided(rule, answer)
                continue
            self.fires[rule.id] = True
            has_other = any(rule.then.get(s) for s in (*UNIT_LIST_SLOTS, "agenda", "report_upward"))
            slots = [s for s in UNIT_SLOTS if s in rule.then]
            if has_other or not slots:
                continue
            covers: dict[str, list[Rule]] = {}
            for slot in slots:
                winners = [
                    r for r in rule_file.rules if slot in r.then and self.beats(r, rule, "priority")
                ]
                if not self.space.search([rule.when], [w.when for w in winners]).impossible:
                    break
                covers[slot] = self.cover(rule, winners)
            else:
                text = "；".join(
                    f"{ROUTE_SLOT_WORDS[s]}（{s}）总被 {_ids(c)} 覆盖" for s, c in covers.items()
                )
                self.at_rule(
                    rule,
                    SHADOWED,
                    WARNING,
                    f"规则 {_rule_name(rule)}不起作用：它给出的{text}（precedence 更高，或相同而靠前）",
                )

    # ------------------------------------------------------------------ 2. gaps

    def rules_key(self, rule_file: RuleFile) -> tuple[int, int]:
        return self.docs.where(rule_file.path, ("rules",), key=True)

    def gap(self, rule_file: RuleFile) -> None:
        answer = self.space.search([Always()], [r.when for r in rule_file.rules])
        where = self.rules_key(rule_file)
        if answer.found:
            self.add(
                rule_file.path,
                where,
                GAP,
                WARNING,
                "有办理单不会命中任何分级规则，得不到等级，例如下面这张：",
                answer.ticket,
            )
        elif not answer.decided:
            self.add(
                rule_file.path,
                where,
                GAP,
                INFO,
                f"无法判定是否每张办理单都能分级：{answer.reason}",
            )

    def routing_gap(self, rule_file: RuleFile) -> None:
        primary = [r for r in rule_file.rules if "primary" in r.then]
        answer = self.space.search(
            [Always()],
            [r.when for r in primary],
            check=lambda values: "primary" not in self.space.singles(values),
        )
        where = self.rules_key(rule_file)
        if answer.found:
            self.add(
                rule_file.path,
                where,
                GAP,
                WARNING,
                "有办理单得不到主办单位（没有给出 primary 的路由规则成立），例如下面这张：",
                answer.ticket,
            )
        elif not answer.decided:
            self.add(
                rule_file.path,
                where,
                GAP,
                INFO,
                f"无法判定是否每张办理单都有主办单位：{answer.reason}",
            )

    # ------------------------------------------------------------------ 3. conflicts

    def conflicts(self, rule_file: RuleFile) -> None:
        for slot in UNIT_SLOTS:
            setting = [r for r in rule_file.rules if slot in r.then]
            for first, second in itertools.combinations(setting, 2):
                if first.precedence != second.precedence:
                    continue  # precedence is how one rule is meant to override another
                a: UnitValue = first.then[slot]
                b: UnitValue = second.then[slot]
                if a == b:
                    continue
                self.conflict(rule_file, slot, first, second, setting)

    def conflict(
        self, rule_file: RuleFile, slot: str, first: Rule, second: Rule, setting: list[Rule]
    ) -> None:
        a: UnitValue = first.then[slot]
        b: UnitValue = second.then[slot]
        higher = [r.when for r in setting if r.precedence > first.precedence]
        literals = [u.unit for u in (a, b) if u.unit is not None]
        outcome = {u.ref: literals for u in (a, b) if u.ref is not None}

        def differ(values: dict[str, Any]) -> bool:
            ua, ub = resolve_units(a, values), resolve_units(b, values)
            return bool(ua and ub and ua[0] != ub[0])

        answer = self.space.search([first.when, second.when], higher, check=differ, outcome=outcome)
        if answer.found:
            assert answer.values is not None
            values = answer.values

            def shown(unit: UnitValue) -> str:
                if unit.unit is not None:
                    return unit.unit
                return f"{unit.describe()}（此例为 {resolve_units(unit, values)[0]}）"

            self.at_rule(
                second,
                CONFLICT,
                WARNING,
                f"规则 {first.id} 与 {second.id} 的 precedence 相同（{first.precedence}），却可能同时"
                f"成立并给出不同的{ROUTE_SLOT_WORDS[slot]}（{slot}）：{first.id} 给出 {shown(a)}，"
                f"{second.id} 给出 {shown(b)}，谁生效只取决于两条规则在文件中的先后。"
                "例如下面这张办理单两条都命中：",
                example=answer.ticket,
            )
        elif not answer.decided:
            self.at_rule(
                second,
                CONFLICT,
                INFO,
                f"无法判定规则 {first.id} 与 {second.id} 给出的{ROUTE_SLOT_WORDS[slot]}是否冲突："
                f"{answer.reason}",
            )

    # ------------------------------------------------------------------ 5. targets

    def targets(self, rule_file: RuleFile) -> None:
        units = self.ruleset.reference.units
        offices = {u for u, unit in units.items() if unit.kind == "offices"}
        for rule in rule_file.rules:
            for slot in (*UNIT_SLOTS, *UNIT_LIST_SLOTS):
                if slot not in rule.then:
                    continue
                single = slot in UNIT_SLOTS
                items: list[tuple[PathKey, UnitValue]] = (
                    [(("rules", rule.index, "then", slot), rule.then[slot])]
                    if single
                    else [
                        (("rules", rule.index, "then", slot, i), v)
                        for i, v in enumerate(rule.then[slot])
                    ]
                )
                for path, value in items:
                    self.target(rule, slot, path, value, offices)

    def target(
        self, rule: Rule, slot: str, path: PathKey, value: UnitValue, offices: set[str]
    ) -> None:
        units = self.ruleset.reference.units
        where = self.docs.where(rule.path, path)
        label = f"规则 {rule.id} 的{ROUTE_SLOT_WORDS[slot]}（{slot}）"
        if slot == "coordinators":
            bad, severity, want = set(units) - offices, WARNING, "应为协调机构（offices）"
        elif slot == "primary":
            bad, severity, want = offices, WARNING, "协调机构不宜主办"
        elif slot == "co_handlers":
            bad, severity, want = offices, INFO, "协调机构将作为协办单位"
        else:
            bad, severity, want = set(), INFO, ""
        if value.unit is not None:
            if value.unit not in units:
                self.add(
                    rule.path,
                    where,
                    UNKNOWN_TARGET,
                    ERROR,
                    f"{label}{describe_value(value.unit)} 不是 units.yaml 中登记的单位",
                )
            elif value.unit in bad:
                self.add(
                    rule.path,
                    where,
                    UNKNOWN_TARGET,
                    severity,
                    f"{label}{value.unit} 是{_kind_word(value.unit, self.ruleset)}，{want}",
                )
            return
        if not bad:
            return
        never: list[Condition] = []
        if slot in UNIT_SLOTS:
            never = [
                r.when
                for r in self.ruleset.routing.rules
                if slot in r.then and self.beats(r, rule, "priority")
            ]
        ref = str(value.ref)

        def wrong(values: dict[str, Any]) -> bool:
            return any(u in bad for u in resolve_units(value, values))

        answer = self.space.search([rule.when], never, check=wrong, outcome={ref: []})
        if answer.found:
            assert answer.values is not None
            unit = next(u for u in resolve_units(value, answer.values) if u in bad)
            self.add(
                rule.path,
                where,
                UNKNOWN_TARGET,
                severity,
                f"{label}{{ref: {ref}}} 可能取到{_kind_word(unit, self.ruleset)}（如 {unit}），"
                f"{want}；例如下面这张办理单：",
                answer.ticket,
            )
        elif not answer.decided:
            self.add(
                rule.path,
                where,
                UNKNOWN_TARGET,
                INFO,
                f"无法判定{label}{{ref: {ref}}} 可能取到哪些单位：{answer.reason}",
            )

    # ------------------------------------------------------------------ 4. grades and clocks

    def produced_grades(self) -> set[str]:
        """Grades some grading rule can give (undecided rules count as able to)."""
        return {
            str(r.then["grade"])
            for r in self.ruleset.grading.rules
            if self.fires.get(r.id) is not False
        }

    @staticmethod
    def runs_before_resolution(clock: ClockRule, grade: str) -> bool:
        return (
            "ticket.resolved" in clock.stop
            and grade in clock.grades
            and bool(clock.monthly_report or (clock.limit and clock.limit.covers(grade)))
            and any(start in BEFORE_RESOLUTION for start in clock.start)
        )

    def grade_clocks(self, produced: set[str]) -> None:
        deadlines = self.ruleset.deadlines
        if deadlines is None:  # pragma: no cover - a loaded rule set always has them
            return
        grading = self.ruleset.grading
        for grade in sorted(produced):
            if any(self.runs_before_resolution(c, grade) for c in deadlines.clocks):
                continue
            source = next(
                r
                for r in grading.rules
                if r.then["grade"] == grade and self.fires.get(r.id) is not False
            )
            self.add(
                deadlines.path,
                self.docs.where(deadlines.path, ("clocks",), key=True),
                GRADE_CLOCKS,
                ERROR,
                f"grading.yaml 会给出 {grade} 级（如规则 {source.id}），但没有适用于 {grade} 级、"
                "在办结前开始计时的办结时限（stop: ticket.resolved，start 为交办、重新办理等"
                f"办结前的事件），{grade} 级问题将没有办结期限",
            )
        for index, clock in enumerate(deadlines.clocks):
            named = set(clock.grades) if clock.grades != GRADES else set()
            if clock.limit is not None:
                named |= set(clock.limit.by_grade)
            missing = sorted(named - produced)
            if missing:
                self.add(
                    deadlines.path,
                    self.docs.where(deadlines.path, ("clocks", index)),
                    GRADE_CLOCKS,
                    WARNING,
                    f"时限 {clock.id} 写了 {'、'.join(missing)} 级，但 grading.yaml 的规则永远不会"
                    "给出这些等级",
                )

    # ------------------------------------------------------------------ 8. stale numbers

    def stale_numbers(self) -> None:
        """Titles that state a number the rule no longer has (notices quote the titles)."""
        deadlines, scoring = self.ruleset.deadlines, self.ruleset.scoring
        if deadlines is not None:
            for index, clock in enumerate(deadlines.clocks):
                if clock.limit is not None:
                    for said, actual in stale_limit_numbers(clock.title, clock.limit):
                        self.add(
                            deadlines.path,
                            self.docs.where(deadlines.path, ("clocks", index, "title")),
                            STALE_NUMBER,
                            WARNING,
                            f"时限 {clock.id} 的标题写着「{said}」，但规则的时限是 {actual}；"
                            "通知和报告引用标题，请同步修改",
                        )
        if scoring is not None:
            for version in scoring.versions:
                for index, rule in enumerate(version.deductions):
                    for said in stale_points(rule.title, rule.points):
                        self.add(
                            version.path,
                            self.docs.where(version.path, ("deductions", index, "title")),
                            STALE_NUMBER,
                            WARNING,
                            f"扣分项 {rule.id} 的标题写着「{said}」，但规则扣 {rule.points:g} 分；"
                            "通知和报告引用标题，请同步修改",
                        )

    # ------------------------------------------------------------------ 6. deductions

    def clock_runs(self, clock: ClockRule, produced: set[str]) -> bool:
        return any(s in TICKET_EVENTS for s in clock.start) and bool(set(clock.grades) & produced)

    def deductions(self, produced: set[str]) -> None:
        scoring, deadlines = self.ruleset.scoring, self.ruleset.deadlines
        if scoring is None or deadlines is None:  # pragma: no cover - always loaded
            return
        for version in scoring.versions:
            for index, rule in enumerate(version.deductions):
                self.deduction(version, index, rule, deadlines, produced)

    def deduction(
        self,
        version: ScoringRules,
        index: int,
        rule: DeductionRule,
        deadlines: DeadlineRules,
        produced: set[str],
    ) -> None:
        path: PathKey = ("deductions", index)
        name = f"扣分项 {rule.id}「{rule.title}」"

        def dead(why: str, at: PathKey = path) -> None:
            self.add(
                version.path,
                self.docs.where(version.path, at),
                DEAD_DEDUCTION,
                WARNING,
                f"{name}永远不会触发：{why}",
            )

        if rule.clock:
            clock = deadlines.clock(rule.clock)
            if not any(s in TICKET_EVENTS for s in clock.start):
                dead(
                    f"时限 {clock.id} 的开始事件 {'、'.join(clock.start)} 不是办理单的事件，"
                    "这个时限从不开始计时",
                    (*path, "clock"),
                )
            elif not set(clock.grades) & produced:
                dead(
                    f"时限 {clock.id} 只适用于 {'、'.join(clock.grades)} 级，而 grading.yaml "
                    "的规则永远不会给出这些等级",
                    (*path, "clock"),
                )
            return
        if rule.monthly:
            duty = deadlines.duty(rule.monthly)
            if duty.per != "enterprise":
                dead(
                    f"按月要求 {duty.id} 不是按企业计的（per: {duty.per}），考核只对按企业计"
                    "（per: enterprise）的按月要求扣分",
                    (*path, "monthly"),
                )
            return
        event = str(rule.event)
        if event not in EVENT_TYPES:
            dead(f"事件类型 {event} 不存在，台账不会有这种事件", (*path, "event"))
            return
        label = f"{event}（{EVENT_TYPES[event]}）"
        action = ESCALATION_EVENTS.get(event)
        if action is not None:
            self.escalation_source(rule, action, label, deadlines, produced, dead, path)
        payload = _payload_schema(event)
        props: dict[str, Any] = (payload or {}).get("properties", {})
        closed = payload is not None and payload.get("additionalProperties") is False
        if rule.unit == "payload.unit" and closed and "unit" not in props:
            dead(
                f"扣分对象是 payload.unit，但事件 {label}的内容没有 unit 字段"
                "（请写 unit: primary、lead_unit 或 actor）",
                (*path, "unit") if "unit" in self.raw_deduction(version, index) else path,
            )
        self.forbidden_by_lifecycle(rule, label, dead, path)
        for key, value in rule.payload.items():
            at: PathKey = (*path, "payload", key)
            if closed and key not in props:
                known = "、".join(props) or "无"
                dead(f"事件 {label}的内容（payload）没有字段 {key}（可有：{known}）", at)
                continue
            if key not in props:
                continue
            schema = _resolve_schema_ref(load_schema("event"), props[key])
            if not Draft202012Validator(
                schema, format_checker=Draft202012Validator.FORMAT_CHECKER
            ).is_valid(value):
                allowed = schema.get("enum")
                hint = f"（可选：{'、'.join(map(str, allowed))}）" if allowed else ""
                dead(f"事件 {label}的 payload.{key} 不可能是 {describe_value(value)}{hint}", at)
            elif key == "unit" and value not in self.ruleset.reference.units:
                dead(f"payload.unit 的值 {describe_value(value)} 不是已登记的单位", at)
            elif key == "clock" and action is not None:
                self.clock_filter(str(value), deadlines, dead, at)

    def forbidden_by_lifecycle(
        self, rule: DeductionRule, label: str, dead: Callable[..., None], path: PathKey
    ) -> None:
        """A deduction on a step that rules/lifecycle.yaml never lets into the ledger."""
        lifecycle = self.ruleset.lifecycle
        step = lifecycle.step(str(rule.event)) if lifecycle is not None else None
        if step is None:
            return
        if rule.payload.get("late") is True and step.late == "refuse":
            dead(
                f"lifecycle.yaml 的 {step.id} 拒绝逾期退回（late: refuse），台账不会有 late: true "
                f"的{label}",
                (*path, "payload", "late"),
            )
        reason = rule.payload.get("reason")
        if reason is not None and step.reasons and reason not in step.reasons:
            dead(
                f"lifecycle.yaml 的 {step.id} 不允许理由 {describe_value(reason)}"
                f"（可选：{'、'.join(step.reasons)}）",
                (*path, "payload", "reason"),
            )

    def raw_deduction(self, version: ScoringRules, index: int) -> dict[str, Any]:
        doc = self.docs.doc(version.path)
        if doc is None or not isinstance(doc.data, dict):
            return {}
        items = doc.data.get("deductions") or []
        item = items[index] if index < len(items) else {}
        return item if isinstance(item, dict) else {}

    def escalation_source(
        self,
        rule: DeductionRule,
        action: str,
        label: str,
        deadlines: DeadlineRules,
        produced: set[str],
        dead: Callable[..., None],
        path: PathKey,
    ) -> None:
        word = ESCALATION_WORDS[action]
        if not any(step.action == action for step in deadlines.escalation):
            dead(
                f"deadlines.yaml 的督办程序（escalation）中没有 {action}（{word}）步骤，"
                f"巡查不会记录 {label}事件",
                (*path, "event"),
            )
        elif not any(c.escalate and self.clock_runs(c, produced) for c in deadlines.clocks):
            dead(
                f"没有会升级的时限（都写了 escalate: false 或从不计时），巡查不会记录 {label}事件",
                (*path, "event"),
            )

    def clock_filter(
        self, value: str, deadlines: DeadlineRules, dead: Callable[..., None], at: PathKey
    ) -> None:
        clock_id = value.split("#")[0].split("@")[0]
        known = [c.id for c in deadlines.clocks]
        if clock_id not in known:
            dead(f"payload.clock 的值 '{value}' 不是 deadlines.yaml 中的时限", at)
            return
        clock = deadlines.clock(clock_id)
        if not clock.escalate:
            dead(
                f"时限 {clock.id} 写了 escalate: false，超期不督办、不通报、不约谈，"
                "不会有 payload.clock 为它的升级事件",
                at,
            )
        elif clock_id == value:
            dead(
                f"巡查记录的 payload.clock 是时限实例（如 {clock.id}#1、{clock.id}@2026-04），"
                f"不会等于 '{value}'",
                at,
            )

    # ------------------------------------------------------------------ 7. engine size

    def engine(self, rule_file: RuleFile) -> None:
        """Rules and distinct values per field against the loader's limits (info), and a
        warning with an example when some ticket makes durable-rules itself fail."""
        distinct: dict[str, set[Any]] = defaultdict(set)
        for rule in rule_file.rules:
            for test in leaves(rule.when):
                values = test.value if test.op in ("in", "not_in") else (test.value,)
                distinct[test.field].update(values)
        name = Path(rule_file.path).name
        per_field = "、".join(f"{f} {len(v)}" for f, v in sorted(distinct.items())) or "无"
        widest = max((len(v) for v in distinct.values()), default=0)
        most, assignment = self.true_tests(rule_file)
        where = self.rules_key(rule_file)
        self.add(
            rule_file.path,
            where,
            ENGINE,
            INFO,
            f"{name} 有 {len(rule_file.rules)} 条规则（durable-rules 每个文件上限 "
            f"{MAX_RULES_PER_FILE}）；各字段比较的不同取值数：{per_field}（最多 {widest}，"
            f"每个字段上限 {MAX_DISTINCT_TESTS_PER_FIELD}）；一张办理单最多同时满足 {most} 个"
            f"不同的引擎测试（超过约 {ENGINE_MAX_TRUE_TESTS} 个时引擎可能出错）",
        )
        if most <= ENGINE_MAX_TRUE_TESTS:
            return
        example = self.engine_failure(rule_file, assignment)
        if example is not None:
            self.add(
                rule_file.path,
                where,
                ENGINE,
                WARNING,
                f"{name} 中有办理单同时满足的引擎测试太多，durable-rules 评估它时出错"
                "（引擎的错误码 303，引擎一次最多处理约 "
                f"{ENGINE_MAX_TRUE_TESTS} 个同时成立的测试）；请减少对同一字段的大于、小于、"
                "不等于比较，或拆分规则文件。例如下面这张：",
                example,
            )

    def engine_failure(
        self, rule_file: RuleFile, assignment: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Run the most loaded ticket through the compiled rule file: the example, trimmed to
        the fields needed, when durable-rules fails on it; None when it copes."""
        fields = fields_for(rule_file.kind)
        compiled = compile_rule_file(
            rule_file,
            {p for p, spec in fields.items() if spec.type == "array"},
            {p for p, spec in fields.items() if spec.required or spec.default is not None},
        )

        def breaks(trial: dict[str, Any]) -> dict[str, Any] | None:
            mapping = self.space.ticket(trial)
            try:
                values = dict(validate_ticket(mapping, self.ruleset.reference).values)
            except TicketInvalid:  # pragma: no cover - every value is valid on its own
                return None
            grade = self.space.grade_of(values)
            if grade is not None and rule_file.kind == "routing":
                values["grade"] = grade
            try:
                if rule_file.hit_policy == "first":
                    compiled.first(values)
                else:
                    compiled.matching(values)
            except (EngineError, EngineLimitExceeded):
                return mapping
            return None

        try:
            example = breaks(assignment)
            if example is None:
                return None
            for path in list(assignment):  # keep only the fields needed for the failure
                trial = {**assignment, path: self.space.plain(path)}
                smaller = breaks(trial)
                if smaller is not None:
                    assignment, example = trial, smaller
            return example
        finally:
            compiled.close()

    def true_tests(self, rule_file: RuleFile) -> tuple[int, dict[str, Any]]:
        """The most distinct atomic engine tests (as :mod:`kernel.evaluation.compile` lowers the
        leaves) that one ticket satisfies, and the field values that reach it. Fields are
        independent, so it is the sum of each field's maximum over its classes."""
        fields = fields_for(rule_file.kind)
        plan = MessagePlan()
        atoms: dict[str, set[str]] = defaultdict(set)
        by_field: dict[str, list[Leaf]] = defaultdict(list)
        for rule in rule_file.rules:
            for test, negated in _signed_leaves(rule.when):
                spec = fields[test.field]
                key = plan.add(test, spec.type == "array")
                present = (
                    test.count or test.op == "contains" or spec.required or spec.default is not None
                )
                for atom in _atoms(lower_leaf(test, key, negated, present)):
                    atoms[test.field].add(json.dumps(atom, ensure_ascii=False, sort_keys=True))
                by_field[test.field].append(test)
        total = 0
        assignment: dict[str, Any] = {}
        for path, found in atoms.items():
            tests = [json.loads(a) for a in sorted(found)]
            if path == "grade":
                candidates: list[Any] = [*sorted(self.produced_grades()), ABSENT]
            else:
                candidates = list(self.space.var(path, by_field[path], outcome=None).values)
                candidates += self.space.all_members(fields[path], by_field[path])
            best, best_value = 0, ABSENT
            for value in candidates:
                message = plan.build({} if value is ABSENT else {path: value})
                count = sum(1 for atom in tests if _atom_holds(atom, message))
                if count > best:
                    best, best_value = count, value
            total += best
            if path != "grade":
                assignment[path] = best_value
        return total, assignment


_GRADE_DAYS = re.compile(r"([A-D])\s*级?\s*(\d+)")
_DAYS = re.compile(r"(\d+)\s*个?工作日")
_POINTS = re.compile(r"(\d+(?:\.\d+)?)\s*分")


def stale_limit_numbers(title: str, limit: Limit) -> list[tuple[str, str]]:
    """``(what the title says, what the limit is)`` for each number in a clock's title that
    disagrees with its limit: "A 5、B 10" against ``by_grade``, "N 个工作日" against a plain limit."""
    stale: list[tuple[str, str]] = []
    by_grade = dict(_GRADE_DAYS.findall(title))
    for grade, days in by_grade.items():
        actual = limit.by_grade.get(grade, limit.default)
        if actual is not None and int(days) != actual:
            stale.append((f"{grade} {days}", f"{grade} 级 {actual} 个工作日"))
    if not by_grade and not limit.by_grade and limit.default is not None:
        for days in _DAYS.findall(title):
            if int(days) != limit.default:
                stale.append((f"{days} 个工作日", f"{limit.default} 个工作日"))
    return stale


def stale_points(title: str, points: float) -> list[str]:
    """Each "N 分" in a deduction's title that is not its points."""
    return [f"{n} 分" for n in _POINTS.findall(title) if float(n) != points]


def _signed_leaves(cond: Condition, negated: bool = False) -> list[tuple[Leaf, bool]]:
    """Each leaf with whether it sits under an odd number of ``not`` (as the compiler sees it)."""
    if isinstance(cond, Leaf):
        return [(cond, negated)]
    if isinstance(cond, Not):
        return _signed_leaves(cond.item, not negated)
    if isinstance(cond, All | AnyOf):
        return [pair for item in cond.items for pair in _signed_leaves(item, negated)]
    return []


def _atoms(test: dict[str, Any]) -> list[dict[str, Any]]:
    """The atomic durable-rules tests inside a lowered test (``$or``/``$and`` taken apart)."""
    out: list[dict[str, Any]] = []
    for op, arg in test.items():
        if op in ("$or", "$and"):
            for part in arg:
                out.extend(_atoms(part))
        else:
            out.append({op: arg})
    return out


_ATOM_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$neq": lambda a, b: bool(a != b),
    "$lt": lambda a, b: bool(a < b),
    "$lte": lambda a, b: bool(a <= b),
    "$gt": lambda a, b: bool(a > b),
    "$gte": lambda a, b: bool(a >= b),
}


def _atom_holds(atom: dict[str, Any], message: dict[str, Any]) -> bool:
    """Whether one atomic test holds for an engine message."""
    ((op, arg),) = atom.items()
    if op == "$ex":
        return next(iter(arg)) in message
    if op == "$nex":
        return next(iter(arg)) not in message
    if op in _ATOM_OPS:
        ((key, value),) = arg.items()
        return key in message and _ATOM_OPS[op](message[key], value)
    return op in message and bool(message[op] == arg)
