"""Scenario fixtures: a timeline of events plus expectations, run against a rule set.

A scenario is plain YAML (schema: ``huhang schema scenario``). The runner submits the timeline
through a real ledger (in memory), grades reported tickets with the rules, runs the deadline
sweep at each expectation date, and compares grades, routes, clocks, escalations, notices,
deductions and scores with what the scenario expects. It also records which rules fired, for
coverage. Shorthand: ``actor`` may be left out (the natural unit for the step is used), as may
``event_id``, ``payload`` of content-free steps, ``enterprise`` when the scenario has one
enterprise, and ``summary`` of a collected problem.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kernel.assessment.scoring import Assessment, FactCollector, score_period
from kernel.clocks.compute import ClockEvaluator
from kernel.clocks.monthly import missed_contacts, month_label, months_between, office_duties
from kernel.clocks.steps import step_guard
from kernel.clocks.sweep import sweep
from kernel.errors import InputError, Problem, ProblemsError, RuleSetInvalid
from kernel.evaluation.kernel import Kernel
from kernel.inputs.contracts import schema_problems
from kernel.inputs.sourcefile import SourceDoc, read_file
from kernel.ledger.events import ENTERPRISE_EVENTS, OFFICE
from kernel.ledger.ledger import Ledger, Projector, replay_enterprise
from kernel.rules.load import default_rules_dir, display_path, load_rules
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from kernel.vocabulary import TICKET_STATE_WORDS

NOTIFIER = "scenario"

#: steps taken by the primary handler when a scenario names no actor
PRIMARY_STEPS = ("ticket.returned", "ticket.extension_requested")


class ScenarioInvalid(ProblemsError):
    """A scenario file that cannot be run (exit code 2)."""


@dataclass(frozen=True)
class Mismatch:
    """One expected value that was not met."""

    as_of: str
    where: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return (
            f"[{self.as_of}] {self.where}：期望 {_show(self.expected)}，实际 {_show(self.actual)}"
        )


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + "、".join(str(v) for v in value) + "]"
    if value is None:
        return "（无）"
    return str(value)


@dataclass
class ScenarioResult:
    """The outcome of one scenario."""

    path: str
    note: str
    mismatches: list[Mismatch] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    universe: set[str] = field(default_factory=set)
    checks: int = 0

    @property
    def passed(self) -> bool:
        """True when every expectation held."""
        return not self.mismatches

    def diff(self) -> str:
        """Every mismatch, one per line."""
        return "\n".join(str(m) for m in self.mismatches)


# --------------------------------------------------------------------------- rules


def rule_universe(ruleset: RuleSet) -> set[str]:
    """Every rule id of a rule set, prefixed by its kind, for coverage."""
    ids = {f"grading:{r.id}" for r in ruleset.grading.rules}
    ids |= {f"routing:{r.id}" for r in ruleset.routing.rules}
    if ruleset.deadlines is not None:
        ids |= {f"clock:{c.id}" for c in ruleset.deadlines.clocks}
        ids |= {f"escalation:{s.id}" for s in ruleset.deadlines.escalation}
        ids |= {f"monthly:{m.id}" for m in ruleset.deadlines.monthly}
    if ruleset.scoring is not None:
        for version in ruleset.scoring.versions:
            ids |= {f"deduction:{d.id}" for d in version.deductions}
            ids |= {f"outcome:{o.id}" for o in version.outcomes}
    if ruleset.lifecycle is not None:
        ids |= {f"step:{s.id}" for s in ruleset.lifecycle.steps}
    return ids


_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def _rule_data(path: Path) -> Any:
    """A rule file of the copied folder, read within bounds (its problems refuse the scenario)."""
    doc = read_file(path, str(path))
    if doc.problems:
        raise ProblemsError(doc.problems, f"规则文件 {path.name} 有问题")
    if not isinstance(doc.data, dict):
        raise InputError(f"规则文件 {path.name} 应为映射（键: 值）")
    return doc.data


def _set_path(data: Any, path: str, value: Any) -> None:
    parts = [m.group(1) or m.group(2) for m in _SEGMENT.finditer(path)]
    if not parts:
        raise InputError(f"覆盖路径 '{path}' 无效")
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if part.isdigit():
                index = int(part)
            else:
                index = next(
                    (
                        j
                        for j, item in enumerate(node)
                        if isinstance(item, dict) and item.get("id") == part
                    ),
                    -1,
                )
            if not 0 <= index < len(node):
                raise InputError(f"覆盖路径 '{path}' 中的 '{part}' 不存在")
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if part not in node:
                    node[part] = {}
                node = node[part]
        else:
            raise InputError(f"覆盖路径 '{path}' 在 '{part}' 处不是映射或列表")


@dataclass
class PreparedRules:
    """The rule folder for a scenario (a temporary copy when it overrides anything)."""

    directory: Path
    temporary: Path | None = None

    def cleanup(self) -> None:
        """Remove the temporary copy."""
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)


def _keep_upper_level(folder: Path, target: Path) -> None:
    """A copied county folder still extends the same upper folder (its path made absolute)."""
    level_file = target / "level.yaml"
    if not level_file.is_file():
        return
    content = _rule_data(level_file)
    extends = content.get("extends")
    if isinstance(extends, str) and not extends.startswith("package:"):
        content["extends"] = str((folder / extends).resolve())
        level_file.write_text(
            yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )


def prepare_rules(data: dict[str, Any], base: Path, rules_dir: Path | None) -> PreparedRules:
    """Resolve the scenario's rules: a folder, plus overrides and extra units in a temp copy."""
    spec = data.get("rules") or {}
    folder = (
        (base / spec["dir"]).absolute() if spec.get("dir") else (rules_dir or default_rules_dir())
    )
    overrides = spec.get("override") or []
    units = data.get("units") or {}
    if not overrides and not units:
        return PreparedRules(folder)
    temporary = Path(tempfile.mkdtemp(prefix="huhang-scenario-"))
    target = temporary / "rules"
    try:
        shutil.copytree(folder, target)
        _keep_upper_level(folder, target)
        for item in overrides:
            path = target / item["file"]
            inside = path.resolve().is_relative_to(
                target.resolve()
            )  # never a file outside the copy
            if not inside or not path.is_file():
                raise InputError(f"覆盖的规则文件 {item['file']} 不存在于规则目录中")
            content = _rule_data(path)
            _set_path(content, item["path"], item["value"])
            path.write_text(
                yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8"
            )
        if units:
            path = target / "units.yaml"
            content = _rule_data(path)
            for kind, entries in units.items():
                content.setdefault(kind, []).extend(entries)
            path.write_text(
                yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8"
            )
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return PreparedRules(target, temporary)


# --------------------------------------------------------------------------- running


class Runner:
    """Runs one scenario."""

    def __init__(self, doc: SourceDoc, ruleset: RuleSet, result: ScenarioResult) -> None:
        self.doc = doc
        self.data: dict[str, Any] = doc.data
        self.ruleset = ruleset
        self.result = result
        self.kernel = Kernel(ruleset)
        self.ledger = Ledger(
            MemoryStorage(), ruleset.reference, notifiers=[NOTIFIER], guard=step_guard(ruleset)
        )
        assert (
            ruleset.deadlines is not None
            and ruleset.calendar is not None
            and ruleset.scoring is not None
        )
        self.evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
        self.collector = FactCollector(
            ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
        )
        self.auto_grade = bool(self.data.get("auto_grade", True))
        self.sweep = bool(self.data.get("sweep", True))
        self.last_day: dt.date | None = None

    def close(self) -> None:
        """Release the engines."""
        self.kernel.close()

    # ------------------------------------------------------------------ timeline

    def events(self) -> Iterator[tuple[int, dict[str, Any], Any]]:
        enterprises = self.data.get("enterprises") or []
        timeline = self.data["timeline"]
        first = str(timeline[0]["date"])
        for i, entry in enumerate(enterprises):
            payload = {k: v for k, v in entry.items() if k not in ("code", "registered")}
            yield (
                -1,
                {
                    "event_id": f"ENT-{i + 1}",
                    "type": "enterprise.registered",
                    "date": str(entry.get("registered", first)),
                    "actor": OFFICE,
                    "enterprise": entry["code"],
                    "payload": payload,
                },
                ("enterprises", i),
            )
        for i, raw in enumerate(timeline):
            yield i, self._complete(i, dict(raw)), ("timeline", i)

    def _complete(self, index: int, event: dict[str, Any]) -> dict[str, Any]:
        event.pop("reject", None)
        event.setdefault("event_id", f"S{index + 1}")
        event["date"] = str(event["date"])
        kind = str(event["type"])
        payload = event.setdefault("payload", {})
        enterprises = self.data.get("enterprises") or []
        if (
            kind in ("ticket.collected", "contact.recorded", "enterprise.changed")
            and "enterprise" not in event
            and len(enterprises) == 1
        ):
            event["enterprise"] = enterprises[0]["code"]
        if kind == "ticket.collected" and isinstance(payload, dict):
            payload.setdefault("summary", "问题")
            payload.setdefault("assessment", {"authority_level": "本单位"})
        if "actor" not in event:
            event["actor"] = self._actor(kind, event)
        return event

    def _actor(self, kind: str, event: dict[str, Any]) -> str:
        ticket = self.ledger.ticket(str(event.get("ticket_id"))) if event.get("ticket_id") else None
        code = event.get("enterprise") or (ticket.enterprise if ticket else None)
        lead = None
        if code:
            history = self.ledger.storage.events(
                enterprise=str(code), types=tuple(ENTERPRISE_EVENTS)
            )
            state = replay_enterprise(history)
            lead = state.get("lead_unit") if state else None
        if kind in ("ticket.collected", "ticket.reported", "contact.recorded"):
            return str(lead or (ticket.lead_unit if ticket else OFFICE))
        if kind == "ticket.withdrawn" and ticket is not None:
            return ticket.lead_unit
        if kind in ("ticket.resolved", "ticket.progress_reported", *PRIMARY_STEPS) and ticket:
            return str(ticket.route.get("primary") or OFFICE)
        if kind == "ticket.feedback_given" and ticket is not None:
            return str(ticket.route.get("feedback_owner") or ticket.lead_unit)
        return OFFICE

    def run(self) -> None:
        """Submit the timeline and check every expectation in date order."""
        expectations = sorted(self.data.get("expect") or [], key=lambda e: str(e["as_of"]))
        pending = list(expectations)
        for index, event, where in self.events():
            day = dt.date.fromisoformat(event["date"])
            while pending and dt.date.fromisoformat(str(pending[0]["as_of"])) < day:
                self.check(pending.pop(0))
            reject = self.data["timeline"][index].get("reject") if index >= 0 else None
            self.submit(event, where, reject)
            self.last_day = max(self.last_day or day, day)
        for expectation in pending:
            self.check(expectation)
        self.final_coverage()

    def submit(self, event: dict[str, Any], where: Any, reject: str | None) -> None:
        label = f"事件 {event['event_id']}（{event['type']}，{event['date']}）"
        step = self.ruleset.lifecycle.step(event["type"]) if self.ruleset.lifecycle else None
        try:
            result = self.ledger.submit(event, doc=self.doc, prefix=where)
        except InputError as exc:
            reason = exc.reason if hasattr(exc, "reason") else str(exc)
            if step is not None and step.id in reason:
                self.result.fired.add(f"step:{step.id}")  # the step's rule refused it
            if reject is None:
                self.result.mismatches.append(
                    Mismatch(event["date"], label, "被接受", f"被拒绝：{reason}")
                )
            elif reject not in reason:
                self.result.mismatches.append(
                    Mismatch(event["date"], f"{label} 的拒绝理由", f"包含「{reject}」", reason)
                )
            else:
                self.result.checks += 1
            return
        if reject is not None:
            self.result.mismatches.append(
                Mismatch(event["date"], label, f"被拒绝（{reject}）", "被接受")
            )
            return
        if step is not None and result.accepted:
            self.result.fired.add(f"step:{step.id}")
        if result.accepted and event["type"] == "ticket.reported" and self.auto_grade:
            graded = self.ledger.grade(
                str(event["ticket_id"]), self.kernel, dt.date.fromisoformat(event["date"])
            )
            self._fired_from_graded(graded.event.payload)
        elif result.accepted and event["type"] == "ticket.graded":
            self._fired_from_graded(event["payload"])

    def _fired_from_graded(self, payload: dict[str, Any]) -> None:
        if payload.get("grade_rule"):
            self.result.fired.add(f"grading:{payload['grade_rule']}")
        for rule in payload.get("route_rules", ()):
            self.result.fired.add(f"routing:{rule}")

    # ------------------------------------------------------------------ expectations

    def _expect(self, as_of: str, where: str, expected: Any, actual: Any) -> None:
        self.result.checks += 1
        if expected != actual:
            self.result.mismatches.append(Mismatch(as_of, where, expected, actual))

    def check(self, expectation: dict[str, Any]) -> None:
        as_of = dt.date.fromisoformat(str(expectation["as_of"]))
        label = as_of.isoformat()
        if self.sweep:
            sweep(
                self.ledger,
                self.evaluator,
                as_of,
                states=self.ledger.project(until=as_of).tickets.values(),
            )
        projector = self.ledger.project(until=as_of)
        self._record_clocks(projector, as_of)
        for ticket_id, wanted in (expectation.get("tickets") or {}).items():
            self._check_ticket(label, projector, str(ticket_id), wanted, as_of)
        if "notices" in expectation:
            ids = sorted(
                d.notice.notice_id
                for d in self.ledger.storage.deliveries()
                if d.notice.day <= as_of
            )
            self._expect(label, "通知", sorted(expectation["notices"]), ids)
        if "deductions" in expectation or "scores" in expectation:
            assessment = self.assess(projector, as_of)
            for unit, rules in (expectation.get("deductions") or {}).items():
                got = [d.rule for d in assessment.unit(str(unit)).deductions]
                self._expect(label, f"{unit} 的扣分项", sorted(rules), sorted(got))
            for unit, wanted in (expectation.get("scores") or {}).items():
                result = assessment.unit(str(unit))
                spec = wanted if isinstance(wanted, dict) else {"score": wanted}
                if "score" in spec:
                    self._expect(label, f"{unit} 的得分", float(spec["score"]), result.score)
                if "converted" in spec:
                    self._expect(
                        label, f"{unit} 的折算分", float(spec["converted"]), result.converted
                    )
                if "outcomes" in spec:
                    self._expect(
                        label,
                        f"{unit} 的考核结果",
                        list(spec["outcomes"]),
                        [o for o, _ in result.outcomes],
                    )
        if "missed_contacts" in expectation:
            got = [f"{m.enterprise}@{m.month}" for m in self.missed(projector, as_of)]
            self._expect(label, "未按月联系", sorted(expectation["missed_contacts"]), sorted(got))

    def _check_ticket(
        self,
        label: str,
        projector: Projector,
        ticket_id: str,
        wanted: dict[str, Any],
        as_of: dt.date,
    ) -> None:
        state = projector.tickets.get(ticket_id)
        prefix = f"办理单 {ticket_id}"
        if state is None:
            self._expect(label, prefix, "存在", "不存在")
            return
        graded = next((e for e in reversed(state.events) if e.type == "ticket.graded"), None)
        if "grade" in wanted:
            self._expect(label, f"{prefix} 的等级", wanted["grade"], state.grade)
        if "grade_rule" in wanted:
            self._expect(
                label,
                f"{prefix} 的分级规则",
                wanted["grade_rule"],
                graded.payload.get("grade_rule") if graded else None,
            )
        if "route_rules" in wanted:
            self._expect(
                label,
                f"{prefix} 的路由规则",
                list(wanted["route_rules"]),
                list(graded.payload.get("route_rules", [])) if graded else [],
            )
        if "state" in wanted:
            actual = state.state if wanted["state"] in TICKET_STATE_WORDS else state.state_label
            self._expect(label, f"{prefix} 的状态", wanted["state"], actual)
        for key, value in (wanted.get("route") or {}).items():
            self._expect(
                label,
                f"{prefix} 的 route.{key}",
                value,
                state.route.get(key, [] if isinstance(value, list) else None),
            )
        clocks = {i.key: i for i in self.evaluator.evaluate(state, as_of).instances}
        for key, spec in (wanted.get("clocks") or {}).items():
            item = clocks.get(str(key))
            if item is None:
                self._expect(label, f"{prefix} 的时限 {key}", "存在", "不存在")
                continue
            for name, value in spec.items():
                found: Any = getattr(item, name)
                if isinstance(found, dt.date):
                    found, value = found.isoformat(), str(value)
                if isinstance(found, tuple):
                    found = list(found)
                self._expect(label, f"{prefix} 的时限 {key}.{name}", value, found)
        if "escalations" in wanted:
            got = []
            for item in clocks.values():
                for esc in item.escalations:
                    got.append(esc.step.id)
            expected = list(wanted["escalations"])
            if any("@" in e for e in expected):
                got = [
                    f"{e.step.id}@{e.day.isoformat()}"
                    for item in clocks.values()
                    for e in item.escalations
                ]
            self._expect(label, f"{prefix} 的督办步骤", sorted(expected), sorted(got))

    def assess(self, projector: Projector, as_of: dt.date) -> Assessment:
        """The assessment of the year of ``as_of``, up to ``as_of``."""
        events = [e for e in self.ledger.events() if e.date <= as_of]
        start = dt.date(as_of.year, 1, 1)
        tallies = self.collector.tallies(projector, events, as_of)
        assert self.ruleset.scoring is not None
        assessment = score_period(
            f"{as_of.year} 年", start, as_of, tallies, self.ruleset.scoring, self.ruleset.reference
        )
        for unit in assessment.units:
            self.result.fired |= {f"deduction:{d.rule}" for d in unit.deductions}
            self.result.fired |= {f"outcome:{o}" for o, _ in unit.outcomes}
        return assessment

    def missed(self, projector: Projector, as_of: dt.date) -> list[Any]:
        assert self.ruleset.deadlines is not None
        out = []
        events = [e for e in self.ledger.events() if e.type == "contact.recorded"]
        for duty in self.ruleset.deadlines.monthly:
            if duty.per != "enterprise" or not projector.enterprises:
                continue
            first = month_label(min(e.registered_on for e in projector.enterprises.values()))
            found = missed_contacts(
                duty,
                projector.enterprises.values(),
                events,
                months_between(first, month_label(as_of)),
                as_of,
            )
            if found:
                self.result.fired.add(f"monthly:{duty.id}")
            out.extend(found)
        return out

    def _record_clocks(self, projector: Projector, as_of: dt.date) -> None:
        for state in projector.tickets.values():
            for item in self.evaluator.evaluate(state, as_of).instances:
                self.result.fired.add(f"clock:{item.clock.id}")
                self.result.fired |= {f"escalation:{e.step.id}" for e in item.escalations}

    def final_coverage(self) -> None:
        """Evaluate everything once more at the last date, so coverage sees every rule that fired."""
        if self.last_day is None:
            return
        day = self.last_day
        for expectation in self.data.get("expect") or []:
            day = max(day, dt.date.fromisoformat(str(expectation["as_of"])))
        if self.sweep:
            sweep(
                self.ledger,
                self.evaluator,
                day,
                states=self.ledger.project(until=day).tickets.values(),
            )
        projector = self.ledger.project(until=day)
        self._record_clocks(projector, day)
        self.assess(projector, day)
        self.missed(projector, day)
        assert self.ruleset.deadlines is not None and self.ruleset.calendar is not None
        for duty in self.ruleset.deadlines.monthly:
            if duty.per == "office":
                months = months_between(f"{day.year:04d}-01", month_label(day))
                found = office_duties(
                    duty, self.ledger.events(), months, self.ruleset.calendar, day
                )
                if any(item.state == "breached" for item in found):
                    self.result.fired.add(f"monthly:{duty.id}")


def load_scenario(path: Path) -> SourceDoc:
    """Read and check a scenario file; raise :class:`ScenarioInvalid` with every problem."""
    doc = read_file(path, display_path(path))
    problems: list[Problem] = list(doc.problems)
    if not isinstance(doc.data, dict):
        raise ScenarioInvalid([doc.problem((), "SCHEMA-TYPE", "场景文件应为映射（键: 值）")])
    problems += schema_problems(doc, "scenario")
    if problems:
        raise ScenarioInvalid(problems, f"场景文件有 {len(problems)} 个问题")
    return doc


def run_scenario(path: Path, rules_dir: Path | None = None) -> ScenarioResult:
    """Run one scenario file; :class:`ScenarioInvalid` when the file itself is wrong."""
    doc = load_scenario(path)
    data = copy.deepcopy(doc.data)
    prepared = prepare_rules(data, path.parent, rules_dir)
    try:
        try:
            ruleset = load_rules(prepared.directory)
        except RuleSetInvalid as exc:
            raise ScenarioInvalid(
                exc.problems, f"场景 {doc.path} 使用的规则有 {len(exc.problems)} 个问题"
            ) from None
        result = ScenarioResult(
            doc.path, str(data.get("note", "")), universe=rule_universe(ruleset)
        )
        runner = Runner(doc, ruleset, result)
        try:
            runner.run()
        finally:
            runner.close()
        return result
    finally:
        prepared.cleanup()


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Scenario files under the given paths (folders are searched for *.yaml)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.yaml") if p.is_file()))
        elif path.exists():
            found.append(path)
        else:
            raise InputError(f"{path} 不存在")
    return found
