"""rules/scoring.yaml (and its other versions, scoring.*.yaml): the assessment as data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kernel.errors import Problem
from kernel.inputs.sourcefile import SourceDoc
from kernel.inputs.suggest import did_you_mean
from kernel.rules.deadlines import DeadlineRules


@dataclass(frozen=True)
class Indicator:
    """One scored indicator (问题办结率, 企业满意度, 日常考核)."""

    id: str
    title: str
    clause: str
    points: float
    formula: str  # ratio | deductions
    measure: str | None = None  # closure | satisfaction
    clock: str | None = None
    when_empty: str = "full"
    floor: float = 0.0


@dataclass(frozen=True)
class DeductionRule:
    """A deduction: what triggers it, how much, against whom, from which indicator."""

    id: str
    title: str
    clause: str
    points: float
    indicator: str
    clock: str | None = None
    monthly: str | None = None
    event: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    unit: str = "payload.unit"
    cap: float | None = None

    @property
    def source(self) -> str:
        """``clock``, ``monthly`` or ``event``."""
        return "clock" if self.clock else "monthly" if self.monthly else "event"


@dataclass(frozen=True)
class OutcomeTest:
    """``metric op value``."""

    metric: str
    op: str
    value: float


@dataclass(frozen=True)
class OutcomeRule:
    """An outcome of the assessment (鼓励, 通报批评, 问责建议)."""

    id: str
    title: str
    clause: str
    any: tuple[OutcomeTest, ...]
    unless: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoringRules:
    """One version of the scoring rules."""

    #: the file as given (not in the repr, which keys the facts cache: kernel.assessment.facts)
    path: str = field(repr=False)
    version: int
    effective_from: dt.date
    scope: tuple[str, ...]
    indicators: tuple[Indicator, ...]
    deductions: tuple[DeductionRule, ...]
    outcomes: tuple[OutcomeRule, ...]
    weight: float
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """The full score (sum of the indicators' points)."""
        return sum(i.points for i in self.indicators)

    def deduction(self, rule_id: str) -> DeductionRule | None:
        """A deduction rule by id (None if this version has no such rule)."""
        return next((d for d in self.deductions if d.id == rule_id), None)


@dataclass(frozen=True)
class ScoringHistory:
    """Every version of the scoring rules, ordered by effective date."""

    versions: tuple[ScoringRules, ...]

    def in_force(self, day: dt.date) -> ScoringRules | None:
        """The version in force on ``day`` (None before the first one)."""
        found = None
        for version in self.versions:
            if version.effective_from <= day:
                found = version
        return found

    @property
    def first_day(self) -> dt.date:
        """When the first version took effect."""
        return self.versions[0].effective_from


def parse_scoring(
    doc: SourceDoc,
    deadlines: DeadlineRules | None,
    seen: dict[str, str],
    problems: list[Problem],
) -> ScoringRules | None:
    """Build one version from a schema-valid document, adding cross-file problems."""
    data = doc.data
    before = len(problems)
    clock_ids = [c.id for c in deadlines.clocks] if deadlines else []
    duty_ids = [m.id for m in deadlines.monthly] if deadlines else []

    def duplicate(path: tuple[str | int, ...], ident: str) -> None:
        key = f"{ident}@{doc.path}"  # the same ids recur in every version of the file
        if key in seen:
            problems.append(
                doc.problem(path, "DUPLICATE-ID", f"编号 '{ident}' 重复，已在 {seen[key]} 定义")
            )
        else:
            seen[key] = f"{doc.path}:{doc.where(path)[0]}"

    indicators: list[Indicator] = []
    for i, raw in enumerate(data.get("indicators") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path: tuple[str | int, ...] = ("indicators", i)
        duplicate((*path, "id"), raw["id"])
        formula = str(raw.get("formula"))
        if formula == "ratio" and not raw.get("measure"):
            problems.append(
                doc.problem(
                    path,
                    "SCORING-MEASURE",
                    f"比率指标 {raw['id']} 须写 measure（closure 或 satisfaction）",
                )
            )
        clock = raw.get("clock")
        if raw.get("measure") == "closure":
            if not clock:
                problems.append(
                    doc.problem(
                        path,
                        "SCORING-MEASURE",
                        f"办结率指标 {raw['id']} 须写 clock（如 T-RESOLVE）",
                    )
                )
            elif deadlines is not None and clock not in clock_ids:
                hint = did_you_mean(str(clock), clock_ids)
                problems.append(
                    doc.problem(
                        (*path, "clock"),
                        "UNKNOWN-CLOCK",
                        f"指标 {raw['id']} 引用的时限 '{clock}' 不存在{hint}",
                    )
                )
        indicators.append(
            Indicator(
                id=raw["id"],
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                points=float(raw.get("points", 0)),
                formula=formula,
                measure=raw.get("measure"),
                clock=clock,
                when_empty=str(raw.get("when_empty", "full")),
                floor=float(raw.get("floor", 0)),
            )
        )
    deduction_targets = [i.id for i in indicators if i.formula == "deductions"]
    deductions: list[DeductionRule] = []
    for i, raw in enumerate(data.get("deductions") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path = ("deductions", i)
        duplicate((*path, "id"), raw["id"])
        sources = [k for k in ("clock", "monthly", "event") if raw.get(k)]
        if len(sources) != 1:
            problems.append(
                doc.problem(
                    path,
                    "DEDUCTION-SOURCE",
                    f"扣分项 {raw['id']} 必须且只能写 clock、monthly、event 之一",
                )
            )
        if raw.get("clock") and deadlines is not None and raw["clock"] not in clock_ids:
            hint = did_you_mean(str(raw["clock"]), clock_ids)
            problems.append(
                doc.problem(
                    (*path, "clock"),
                    "UNKNOWN-CLOCK",
                    f"扣分项 {raw['id']} 引用的时限 '{raw['clock']}' 不存在{hint}",
                )
            )
        if raw.get("monthly") and deadlines is not None and raw["monthly"] not in duty_ids:
            hint = did_you_mean(str(raw["monthly"]), duty_ids)
            problems.append(
                doc.problem(
                    (*path, "monthly"),
                    "UNKNOWN-CLOCK",
                    f"扣分项 {raw['id']} 引用的按月要求 '{raw['monthly']}' 不存在{hint}",
                )
            )
        target = raw.get("indicator") or (
            deduction_targets[0] if len(deduction_targets) == 1 else None
        )
        if target not in deduction_targets:
            problems.append(
                doc.problem(
                    path,
                    "DEDUCTION-INDICATOR",
                    f"扣分项 {raw['id']} 应指明从哪个扣分类指标扣分（可选：{'、'.join(deduction_targets) or '无'}）",
                )
            )
        unit = str(raw.get("unit", "payload.unit" if raw.get("event") else "owner"))
        deductions.append(
            DeductionRule(
                id=raw["id"],
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                points=float(raw.get("points", 0)),
                indicator=str(target),
                clock=raw.get("clock"),
                monthly=raw.get("monthly"),
                event=raw.get("event"),
                payload=dict(raw.get("payload") or {}),
                unit=unit,
                cap=raw.get("cap"),
            )
        )
    outcomes: list[OutcomeRule] = []
    for i, raw in enumerate(data.get("outcomes") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path = ("outcomes", i)
        duplicate((*path, "id"), raw["id"])
        tests = []
        for test in raw.get("any") or []:
            op = next((k for k in test if k != "metric"), "ge")
            tests.append(OutcomeTest(str(test.get("metric")), op, float(test.get(op, 0))))
        earlier = [o.id for o in outcomes]
        for j, other in enumerate(raw.get("unless") or []):
            if other not in earlier:
                hint = did_you_mean(str(other), earlier)
                problems.append(
                    doc.problem(
                        (*path, "unless", j),
                        "OUTCOME-UNLESS",
                        f"结果 {raw['id']} 的 unless 应引用写在它前面的结果，'{other}' 不是{hint}",
                    )
                )
        outcomes.append(
            OutcomeRule(
                id=raw["id"],
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                any=tuple(tests),
                unless=tuple(raw.get("unless") or ()),
            )
        )
    if len(problems) > before:
        return None
    conversion = data.get("conversion") or {}
    return ScoringRules(
        path=doc.path,
        version=int(data.get("version", 1)),
        effective_from=dt.date.fromisoformat(str(data["effective_from"])),
        scope=tuple(data.get("scope") or ()),
        indicators=tuple(indicators),
        deductions=tuple(deductions),
        outcomes=tuple(outcomes),
        weight=float(conversion.get("weight", 5)),
        weights={str(k): float(v) for k, v in (conversion.get("weights") or {}).items()},
    )
