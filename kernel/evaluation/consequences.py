"""What else the rules decide for a ticket: the route after an override, the lifecycle steps.

``huhang explain`` adds two parts to the explanation of a grade and a route: for each other
grade, the route slots that an office's override to that grade would change (the ``by_grade``
routes that the ledger records with a grading, docs/policy.md §2.4), and the steps of
rules/lifecycle.yaml with the limits that apply to the ticket's grade (docs/policy.md §8).
"""

from __future__ import annotations

from typing import Any

from kernel.evaluation.decisions import Assignment, Evaluation, RouteResult
from kernel.evaluation.kernel import Kernel
from kernel.evaluation.ticket import Ticket
from kernel.rules.lifecycle import LifecycleRules, StepRule
from kernel.vocabulary import (
    ACTOR_WORDS,
    EVENT_TYPE_WORDS,
    GRADES,
    ROUTE_SLOT_WORDS,
    TICKET_STATE_WORDS,
    yes_no,
)


def _units(items: tuple[Assignment, ...] | Assignment | None) -> str:
    if items is None:
        return "（无）"
    if isinstance(items, Assignment):
        items = (items,)
    return "、".join(a.unit for a in items) if items else "（无）"


def _rules(items: tuple[Assignment, ...] | Assignment | None, flag: tuple[str, ...] = ()) -> str:
    if isinstance(items, Assignment):
        items = (items,)
    ids = list(flag)
    for item in items or ():
        ids.extend(r for r in item.rules if r not in ids)
    return f" ← {'、'.join(ids)}" if ids else ""


def _slots(route: RouteResult) -> dict[str, tuple[str, str]]:
    """Each route slot as (its value in words, the rules behind it)."""
    return {
        "primary": (_units(route.primary), _rules(route.primary)),
        "co_handlers": (_units(route.co_handlers), _rules(route.co_handlers)),
        "feedback_owner": (_units(route.feedback_owner), _rules(route.feedback_owner)),
        "coordinators": (_units(route.coordinators), _rules(route.coordinators)),
        "agenda": (yes_no(route.agenda), _rules(None, route.flag_rules.get("agenda", ()))),
        "report_upward": (
            yes_no(route.report_upward),
            _rules(None, route.flag_rules.get("report_upward", ())),
        ),
    }


def override_lines(kernel: Kernel, ticket: Ticket, result: Evaluation) -> list[str]:
    """For each other grade, the route slots an override to it changes (empty if none)."""
    if result.grade.grade is None:
        return []
    current = _slots(result.route)
    lines: list[str] = []
    for grade in GRADES:
        if grade == result.grade.grade:
            continue
        other = _slots(kernel.route_for(ticket, grade))
        changed = [
            f"{ROUTE_SLOT_WORDS[slot]}改为 {value}{rules}"
            for slot, (value, rules) in other.items()
            if value != current[slot][0]
        ]
        changed += _clock_changes(kernel, result, grade)
        lines.append(f"  改判为 {grade} 级：{'；'.join(changed) if changed else '路由不变'}")
    return [
        "",
        "【改判等级时】路由和时限随改判后的等级（政策 §2.4；改判时写明的单位和标记优先）",
        *lines,
    ]


def _days(days: int | None) -> str:
    return "不计时" if days is None else f"{days} 个工作日"


def _clock_limits(
    kernel: Kernel, result: Evaluation, grade: str
) -> list[tuple[str, int | None, int | None]]:
    """(clock id, limit now, limit for ``grade``) of the clocks whose limit would change."""
    deadlines = kernel.ruleset.deadlines
    if deadlines is None:
        return []
    changes = []
    for clock in deadlines.clocks:
        if clock.limit is None:
            continue
        now = clock.limit.days(result.grade.grade, result.category)
        then = clock.limit.days(grade, result.category)
        if result.grade.grade not in clock.grades:
            now = None
        if grade not in clock.grades:
            then = None
        if now != then:
            changes.append((clock.id, now, then))
    return changes


def _clock_changes(kernel: Kernel, result: Evaluation, grade: str) -> list[str]:
    """The clocks whose limit for ``grade`` differs from the rule grade's, in words."""
    return [
        f"时限 {cid} {_days(then)}（原为{_days(now)}）"
        for cid, now, then in _clock_limits(kernel, result, grade)
    ]


def _step_text(step: StepRule, grade: str | None) -> str:
    parts: list[str] = []
    if step.actors:
        parts.append("由" + "、".join(ACTOR_WORDS.get(a, a) for a in step.actors))
    if step.states:
        parts.append("在「" + "、".join(TICKET_STATE_WORDS.get(s, s) for s in step.states) + "」时")
    if step.within_workdays is not None:
        late = "逾期的不予接受" if step.late == "refuse" else "逾期计为本单位延误"
        parts.append(f"交办后 {step.within_workdays} 个工作日内（{late}）")
    if step.before_due:
        parts.append("到期前")
    if step.per_round is not None:
        parts.append(f"每轮至多 {step.per_round} 次")
    most = step.max_for(grade)
    if most is not None:
        parts.append(f"{grade + ' 级' if grade else ''}每轮至多 {most} 个工作日")
    if step.reasons:
        parts.append("理由：" + "、".join(step.reasons))
    return "，".join(parts) if parts else "按台账的办理顺序"


def lifecycle_lines(lifecycle: LifecycleRules | None, grade: str | None) -> list[str]:
    """The steps of rules/lifecycle.yaml with the limits for ``grade`` (empty without the file)."""
    if lifecycle is None or not lifecycle.steps:
        return []
    which = f"，按本单 {grade} 级" if grade else ""
    files = sorted({step.path or lifecycle.path for step in lifecycle.steps})
    # one file: lines only; a county folder that replaced some steps: file and line of each
    one_file = len(files) == 1
    shown = files[0] if one_file else "各层级的 lifecycle.yaml"
    lines = ["", f"【办理步骤】{shown}（政策 §8{which}）"]
    for step in lifecycle.steps:
        label = EVENT_TYPE_WORDS.get(step.event, step.event)
        where = f"第 {step.line} 行" if one_file else f"{step.path or lifecycle.path}:{step.line}"
        lines.append(f"  {label} {step.id}（{where}）：{_step_text(step, grade)}")
    return lines


def _slot_values(route: RouteResult) -> dict[str, Any]:
    """The route slots as the ledger records them (unit ids, flags)."""
    return {
        "primary": route.primary.unit if route.primary else None,
        "co_handlers": [a.unit for a in route.co_handlers],
        "feedback_owner": route.feedback_owner.unit if route.feedback_owner else None,
        "coordinators": [a.unit for a in route.coordinators],
        "agenda": route.agenda,
        "report_upward": route.report_upward,
    }


def by_grade_json(kernel: Kernel, ticket: Ticket, result: Evaluation) -> dict[str, Any]:
    """For each other grade: the route slots and clock limits an override to it changes."""
    if result.grade.grade is None:
        return {}
    current = _slot_values(result.route)
    out: dict[str, Any] = {}
    for grade in GRADES:
        if grade == result.grade.grade:
            continue
        other = _slot_values(kernel.route_for(ticket, grade))
        out[grade] = {
            "route": {slot: value for slot, value in other.items() if value != current[slot]},
            "clocks": {cid: then for cid, _, then in _clock_limits(kernel, result, grade)},
        }
    return out


def lifecycle_json(lifecycle: LifecycleRules | None, grade: str | None) -> list[dict[str, Any]]:
    """The steps of lifecycle.yaml with the limits for ``grade`` (empty without the file)."""
    if lifecycle is None:
        return []
    return [
        {
            "id": step.id,
            "event": step.event,
            "file": step.path or lifecycle.path,
            "line": step.line,
            "states": list(step.states),
            "actors": list(step.actors),
            "reasons": list(step.reasons),
            "within_workdays": step.within_workdays,
            "late": step.late if step.within_workdays is not None else None,
            "before_due": step.before_due,
            "per_round": step.per_round,
            "max_workdays": step.max_for(grade),
        }
        for step in lifecycle.steps
    ]


def consequences_json(kernel: Kernel, ticket: Ticket, result: Evaluation) -> dict[str, Any]:
    """``by_grade`` and ``lifecycle``, added to ``huhang explain --format json``."""
    return {
        "by_grade": by_grade_json(kernel, ticket, result),
        "lifecycle": lifecycle_json(kernel.ruleset.lifecycle, result.grade.grade),
    }


def consequences_text(kernel: Kernel, ticket: Ticket, result: Evaluation) -> str:
    """The override and lifecycle parts of ``huhang explain`` ('' when there are none)."""
    lines = override_lines(kernel, ticket, result)
    lines += lifecycle_lines(kernel.ruleset.lifecycle, result.grade.grade)
    return "\n".join(lines)
