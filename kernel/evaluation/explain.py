"""Render an evaluation as Chinese text for policy staff (the JSON form is ``to_dict``)."""

from __future__ import annotations

from typing import Any

from kernel.evaluation.decisions import Assignment, ConditionResult, Decision, Evaluation
from kernel.rules.conditions import OP_WORDS


def show(value: Any) -> str:
    """A value as staff would read it."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(show(v) for v in value) if value else "（空）"
    if value is None:
        return "（未填写）"
    return str(value)


def condition_text(cond: ConditionResult) -> str:
    """One condition test in words, with the ticket's value."""
    subject = f"{cond.label}（{cond.field}）"
    if cond.count:
        test = f"{subject}的数量{OP_WORDS[cond.op]} {cond.expected}"
    elif cond.op == "exists":
        test = f"{subject}{'已填写' if cond.expected else '未填写'}"
    else:
        test = f"{subject}{OP_WORDS[cond.op]} {show(cond.expected)}"
    if cond.negated:
        test = f"并非「{test}」"
    actual = show(cond.actual) if cond.present else "（未填写）"
    mark = "✓" if cond.satisfied else "✗"
    return f"{mark} {test} —— 实际：{actual}"


def _rule_head(decision: Decision) -> str:
    rule = decision.rule
    level = f"（{rule.level}）" if rule.level else ""
    return f"{rule.id}「{rule.title}」 {rule.path}:{rule.line}{level}"


def _conditions(decision: Decision, indent: str) -> list[str]:
    if not decision.conditions:
        return [f"{indent}无条件适用（always）"]
    return [f"{indent}{condition_text(c)}" for c in decision.conditions]


def _assignment(item: Assignment | None) -> str:
    if item is None:
        return "（无）"
    name = f"（{item.name}）" if item.name != item.unit else ""
    return f"{item.unit}{name} ← {'、'.join(item.rules)}"


def _assignments(items: tuple[Assignment, ...]) -> str:
    return "；".join(_assignment(i) for i in items) if items else "（无）"


def _flag(value: bool, rules: tuple[str, ...]) -> str:
    return f"是 ← {'、'.join(rules)}" if value else "否"


def render_text(result: Evaluation) -> str:
    """The full Chinese explanation of one evaluation."""
    lines = [
        f"━━ 办理单 {result.ticket_id} ━━",
        f"企业：{result.enterprise}（{result.territory}）　类别：{result.category}",
        "规则版本："
        + "、".join(f"{k} v{v}" for k, v in result.rules["versions"].items())
        + f"（指纹 {result.rules['fingerprint']}）",
        "",
    ]
    grade = result.grade
    if grade.grade is None or grade.decision is None:
        lines.append("【分级】未命中任何分级规则 —— 请检查 grading.yaml 是否有遗漏")
    else:
        lines.append(f"【分级】{grade.grade} 级")
        lines.append(f"  规则 {_rule_head(grade.decision)}")
        lines.append(f"  依据：{grade.decision.rule.clause}")
        lines.append("  满足的条件：")
        lines.extend(_conditions(grade.decision, "    "))
    if grade.not_matched:
        title = "  先于它检查但未命中的规则：" if grade.grade else "  检查过的规则："
        lines.append(title)
        for decision in grade.not_matched:
            lines.append(f"    {_rule_head(decision)}")
            lines.extend(_conditions(decision, "      "))
    route = result.route
    lines += [
        "",
        "【路由】",
        f"  主办单位：{_assignment(route.primary)}",
        f"  协办单位：{_assignments(route.co_handlers)}",
        f"  反馈责任单位：{_assignment(route.feedback_owner)}",
        f"  协调单位：{_assignments(route.coordinators)}",
        f"  列入月度调度会议程：{_flag(route.agenda, route.flag_rules.get('agenda', ()))}",
        f"  报领导小组：{_flag(route.report_upward, route.flag_rules.get('report_upward', ()))}",
    ]
    if route.primary is None:
        lines.append("  ⚠ 没有规则确定主办单位 —— 请检查 routing.yaml")
    for item in route.overridden:
        slot = "主办单位" if item.slot == "primary" else "反馈责任单位"
        lines.append(
            f"  被覆盖：{item.rule} 提出的{slot} {item.unit}，被优先级更高的 {item.by_rule} 取代"
        )
    lines.append("  命中的路由规则：")
    for decision in route.matched:
        lines.append(f"    {_rule_head(decision)}")
        lines.append(f"      依据：{decision.rule.clause}")
        lines.extend(_conditions(decision, "      "))
    return "\n".join(lines)
