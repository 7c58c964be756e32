"""rules/deadlines.yaml: every clock of docs/policy.md §5 as data, and its cross-file checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernel.errors import Problem
from kernel.inputs.sourcefile import SourceDoc
from kernel.inputs.suggest import did_you_mean
from kernel.rules.reference import Reference
from kernel.vocabulary import GRADES


@dataclass(frozen=True)
class Limit:
    """A clock's limit in working days, by category first, then by grade, then the default."""

    by_grade: dict[str, int] = field(default_factory=dict)
    by_category: dict[str, int] = field(default_factory=dict)
    default: int | None = None

    def days(self, grade: str | None, category: str | None) -> int | None:
        """The limit for a ticket, or None when the clock has none for it."""
        if category is not None and category in self.by_category:
            return self.by_category[category]
        if grade is not None and grade in self.by_grade:
            return self.by_grade[grade]
        return self.default

    def covers(self, grade: str) -> bool:
        """True when a ticket of ``grade`` (any category) has a limit."""
        return grade in self.by_grade or self.default is not None


@dataclass(frozen=True)
class ClockRule:
    """One clock: when it starts and stops, its limit, and whose it is."""

    id: str
    title: str
    clause: str
    start: tuple[str, ...]
    stop: tuple[str, ...]
    owner: str
    limit: Limit | None = None
    monthly_report: tuple[str, ...] = ()
    grades: tuple[str, ...] = GRADES
    pause: tuple[str, ...] = ()
    resume: tuple[str, ...] = ()
    escalate: bool = True
    warn: bool = True
    extend: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ()
    #: payload conditions a start event must meet, by event type
    start_when: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: where the clock was read from, as given (relative to the working folder): not part of
    #: its repr, which keys the caches (kernel.clocks.index.evaluator_key, facts.facts_key)
    path: str = field(default="", repr=False)
    line: int = 0

    def starts(self, event_type: str, payload: dict[str, Any]) -> bool:
        """Whether an event of this type and payload starts an instance of the clock."""
        if event_type not in self.start:
            return False
        wanted = self.start_when.get(event_type, {})
        return all(payload.get(k) == v for k, v in wanted.items())

    def applies_to(self, grade: str | None) -> bool:
        """Whether the clock runs for a ticket of ``grade`` (ungraded tickets: grade-free clocks)."""
        if grade is None:
            return self.grades == GRADES
        return grade in self.grades


@dataclass(frozen=True)
class EscalationStep:
    """A step of the escalation ladder (督办 → 通报 → 约谈)."""

    id: str
    title: str
    clause: str
    action: str
    after: str
    workdays: int | None = None
    consecutive_months: int | None = None
    line: int = 0


@dataclass(frozen=True)
class MonthlyDuty:
    """A monthly requirement: contacts per enterprise, or the office's monthly notice."""

    id: str
    title: str
    clause: str
    event: tuple[str, ...]
    owner: str
    per: str = "enterprise"
    by: tuple[str, ...] = ()
    at_least: int = 1
    due_workday: int | None = None
    line: int = 0


@dataclass(frozen=True)
class DeadlineRules:
    """The whole deadlines.yaml."""

    #: the file as given (not in the repr, which keys the caches: see ClockRule.path)
    path: str = field(repr=False)
    version: int
    counting: str
    warning_lead: int
    clocks: tuple[ClockRule, ...]
    escalation: tuple[EscalationStep, ...]
    monthly: tuple[MonthlyDuty, ...]
    #: when an escalation step's day is judged: at its ``end`` (default) or ``start``
    judged_at: str = "end"

    def clock(self, clock_id: str) -> ClockRule:
        """A clock by id."""
        for clock in self.clocks:
            if clock.id == clock_id:
                return clock
        raise KeyError(clock_id)

    def duty(self, duty_id: str) -> MonthlyDuty:
        """A monthly duty by id."""
        for duty in self.monthly:
            if duty.id == duty_id:
                return duty
        raise KeyError(duty_id)


def _kinds(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def parse_deadlines(
    doc: SourceDoc,
    reference: Reference,
    grades_used: set[str],
    seen: dict[str, str],
    problems: list[Problem],
) -> DeadlineRules | None:
    """Build :class:`DeadlineRules` from a schema-valid document, adding semantic problems."""
    data = doc.data
    clocks: list[ClockRule] = []
    before = len(problems)

    def duplicate(path: tuple[str | int, ...], ident: str) -> bool:
        if ident in seen:
            problems.append(
                doc.problem(path, "DUPLICATE-ID", f"编号 '{ident}' 重复，已在 {seen[ident]} 定义")
            )
            return True
        seen[ident] = f"{doc.path}:{doc.where(path)[0]}"
        return False

    for i, raw in enumerate(data.get("clocks") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path: tuple[str | int, ...] = ("clocks", i)
        duplicate((*path, "id"), raw["id"])
        limit_raw = raw.get("limit")
        limit: Limit | None = None
        if isinstance(limit_raw, int):
            limit = Limit(default=limit_raw)
        elif isinstance(limit_raw, dict):
            limit = Limit(
                by_grade=dict(limit_raw.get("by_grade") or {}),
                by_category=dict(limit_raw.get("by_category") or {}),
                default=limit_raw.get("default"),
            )
            for category in limit.by_category:
                found = reference.check("categories", category)
                if found is not None:
                    problems.append(
                        doc.problem(
                            (*path, "limit", "by_category"),
                            found[0],
                            f"limit.by_category 中{found[1]}",
                        )
                    )
        monthly = raw.get("monthly")
        report = _kinds(monthly.get("report")) if isinstance(monthly, dict) else ()
        grades = tuple(raw.get("grades") or GRADES)
        if limit is None and not report:
            problems.append(
                doc.problem(
                    path,
                    "DEADLINE-LIMIT",
                    f"时限 {raw['id']} 既没有 limit 也没有 monthly，无法计算到期日",
                )
            )
        if limit is not None and report:
            problems.append(
                doc.problem(path, "DEADLINE-LIMIT", f"时限 {raw['id']} 不能同时有 limit 和 monthly")
            )
        if limit is not None:
            missing = [g for g in grades if not limit.covers(g)]
            if missing:
                problems.append(
                    doc.problem(
                        (*path, "limit"),
                        "DEADLINE-LIMIT",
                        f"时限 {raw['id']} 适用于 {'、'.join(grades)} 级，但没有规定 {'、'.join(missing)} 级的时限"
                        "（在 by_grade 中补上，或写 default，或用 grades 缩小范围）",
                    )
                )
        pause, resume = _kinds(raw.get("pause")), _kinds(raw.get("resume"))
        for kind in raw.get("start_when") or {}:
            if kind not in _kinds(raw.get("start")):
                problems.append(
                    doc.problem(
                        (*path, "start_when", kind),
                        "DEADLINE-START",
                        f"时限 {raw['id']} 的 start_when 写了 {kind}，但它不是 start 事件",
                    )
                )
        if bool(pause) != bool(resume):
            problems.append(
                doc.problem(
                    path, "DEADLINE-PAUSE", f"时限 {raw['id']} 的 pause 和 resume 必须同时写"
                )
            )
        clocks.append(
            ClockRule(
                id=raw["id"],
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                start=_kinds(raw.get("start")),
                stop=_kinds(raw.get("stop")),
                owner=str(raw.get("owner", "primary")),
                limit=limit,
                monthly_report=report,
                grades=grades,
                pause=pause,
                resume=resume,
                escalate=bool(raw.get("escalate", True)),
                warn=bool(raw.get("warn", True)),
                extend=_kinds(raw.get("extend")),
                cancel=_kinds(raw.get("cancel")),
                start_when={str(k): dict(v) for k, v in (raw.get("start_when") or {}).items()},
                path=doc.file_of(path),
                line=doc.where(path)[0],
            )
        )
    for grade in sorted(grades_used):
        if not any(
            "ticket.resolved" in c.stop
            and grade in c.grades
            and (c.monthly_report or (c.limit and c.limit.covers(grade)))
            for c in clocks
        ):
            problems.append(
                doc.problem(
                    ("clocks",),
                    "DEADLINE-GRADE",
                    f"grading.yaml 会给出 {grade} 级，但 deadlines.yaml 没有 {grade} 级的办结时限（stop: ticket.resolved）",
                )
            )
    steps: list[EscalationStep] = []
    for i, raw in enumerate(data.get("escalation") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path = ("escalation", i)
        duplicate((*path, "id"), raw["id"])
        after = str(raw.get("after", ""))
        earlier = [s.id for s in steps]
        if after != "due" and after not in earlier:
            hint = did_you_mean(after, ["due", *earlier])
            problems.append(
                doc.problem(
                    (*path, "after"),
                    "ESCALATION-AFTER",
                    f"督办步骤 {raw['id']} 的 after 应为 due 或前面某个步骤的 id，'{after}' 不是{hint}",
                )
            )
        has_days, has_months = "workdays" in raw, "consecutive_months" in raw
        if has_days == has_months:
            problems.append(
                doc.problem(
                    path,
                    "ESCALATION-TRIGGER",
                    f"督办步骤 {raw['id']} 必须且只能写 workdays 或 consecutive_months 之一",
                )
            )
        if (
            has_months
            and after in earlier
            and next(s for s in steps if s.id == after).action != "notice"
        ):
            problems.append(
                doc.problem(
                    (*path, "consecutive_months"),
                    "ESCALATION-TRIGGER",
                    f"督办步骤 {raw['id']} 按连续月份计，after 必须是一个通报（notice）步骤",
                )
            )
        steps.append(
            EscalationStep(
                id=raw["id"],
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                action=str(raw.get("action", "")),
                after=after,
                workdays=raw.get("workdays"),
                consecutive_months=raw.get("consecutive_months"),
                line=doc.where(path)[0],
            )
        )
    duties: list[MonthlyDuty] = []
    for i, raw in enumerate(data.get("monthly") or []):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            continue
        path = ("monthly", i)
        duplicate((*path, "id"), raw["id"])
        events = _kinds(raw.get("event"))
        if raw.get("by") and events != ("contact.recorded",):
            problems.append(
                doc.problem((*path, "by"), "MONTHLY-BY", "by 只能用于 event: contact.recorded")
            )
        duties.append(
            MonthlyDuty(
                id=raw["id"],
                title=str(raw.get("title", "")),
                clause=str(raw.get("clause", "")),
                event=events,
                owner=str(raw.get("owner", "lead_unit")),
                per=str(raw.get("per", "enterprise")),
                by=tuple(raw.get("by") or ()),
                at_least=int(raw.get("at_least", 1)),
                due_workday=raw.get("due_workday"),
                line=doc.where(path)[0],
            )
        )
    if len(problems) > before:
        return None
    return DeadlineRules(
        path=doc.path,
        version=int(data.get("version", 1)),
        counting=str(data.get("counting", "next_day")),
        warning_lead=int(data.get("warning_lead", 1)),
        clocks=tuple(clocks),
        escalation=tuple(steps),
        monthly=tuple(duties),
        judged_at=str(data.get("judged_at", "end")),
    )
