"""The loaded, checked rule set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.calendar.workdays import WorkCalendar
from kernel.inputs.sourcefile import SourceDoc
from kernel.rules.conditions import Condition
from kernel.rules.deadlines import DeadlineRules
from kernel.rules.levels import Level
from kernel.rules.lifecycle import LifecycleRules
from kernel.rules.reference import Reference
from kernel.rules.scoring import ScoringHistory


@dataclass(frozen=True)
class UnitValue:
    """An outcome naming a unit: a literal id, or ``{ref: field}`` read from the ticket."""

    unit: str | None = None
    ref: str | None = None

    def describe(self) -> str:
        """Human text for explanations."""
        return self.unit if self.unit is not None else f"{{ref: {self.ref}}}"


@dataclass(frozen=True)
class Rule:
    """One rule: an id, its Chinese title, the clause it implements, a condition, an outcome."""

    id: str
    title: str
    clause: str
    when: Condition
    then: dict[str, Any]
    precedence: int
    index: int
    kind: str
    path: str
    line: int
    col: int
    #: the level the rule comes from, in a folder that extends another ('' otherwise)
    level: str = ""

    @property
    def location(self) -> str:
        """``file:line`` of the rule's id."""
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class RuleFile:
    """A rule file with its hit policy and rules in file order."""

    kind: str
    path: str
    version: int
    title: str
    hit_policy: str
    rules: tuple[Rule, ...]
    effective_from: str | None = None


@dataclass(frozen=True)
class RuleSet:
    """Everything the kernel needs to grade and route a ticket."""

    directory: Path
    reference: Reference
    files: dict[str, RuleFile] = field(default_factory=dict)
    fingerprint: str = ""
    deadlines: DeadlineRules | None = None
    calendar: WorkCalendar | None = None
    scoring: ScoringHistory | None = None
    #: rules/lifecycle.yaml (None when the folder has none: steps checked by the projection only)
    lifecycle: LifecycleRules | None = None
    #: the levels of the folder, top first (one for a folder that extends none)
    levels: tuple[Level, ...] = ()
    #: each rule file as read (resolved over the levels), by kind
    sources: dict[str, SourceDoc] = field(default_factory=dict)

    @property
    def level(self) -> Level | None:
        """The folder's own level (None when built without one)."""
        return self.levels[-1] if self.levels else None

    def home(self, name: str) -> Path:
        """The folder holding ``name`` (``calendar``, ``templates``): this one, or the nearest
        upper level's when this level has none."""
        for level in reversed(self.levels):
            if (level.directory / name).exists():
                return level.directory
        return self.directory

    @property
    def grading(self) -> RuleFile:
        """The grading rules."""
        return self.files["grading"]

    @property
    def routing(self) -> RuleFile:
        """The routing rules."""
        return self.files["routing"]

    def rule(self, rule_id: str) -> Rule:
        """A rule by id, from any file."""
        for rule_file in self.files.values():
            for rule in rule_file.rules:
                if rule.id == rule_id:
                    return rule
        raise KeyError(rule_id)

    def versions(self) -> dict[str, int]:
        """The version of each rule file (scoring: the latest)."""
        out = {kind: f.version for kind, f in self.files.items()}
        if self.deadlines is not None:
            out["deadlines"] = self.deadlines.version
        if self.scoring is not None:
            out["scoring"] = self.scoring.versions[-1].version
        if self.lifecycle is not None:
            out["lifecycle"] = self.lifecycle.version
        return out
