"""The reports the office publishes: the monthly summary and notice, the annual assessment,
and one unit's deductions. Chinese throughout; text, Markdown, CSV, JSON or Excel."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from kernel.assessment.scoring import Assessment, UnitResult
from kernel.clocks.compute import (
    BREACHED,
    ClockEvaluator,
    marked,
    require_decided,
)
from kernel.clocks.monthly import missed_contacts, month_bounds, month_label
from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.ledger.ledger import Projector
from kernel.outputs.tables import Table, cell, render, text_or_file, write_xlsx
from kernel.rules.model import RuleSet
from kernel.vocabulary import GRADES, TICKET_STATE_WORDS

PROVISIONAL_NOTE = (
    "注：标注“暂定”的日期按暂定日历计算（该年放假安排尚未公布，未计调休），"
    "正式通知公布后可能变化（huhang calendar diff 可列出变化）。"
)


@dataclass
class Section:
    """A heading, some sentences, and optionally a table."""

    title: str
    lines: list[str] = field(default_factory=list)
    table: Table | None = None
    #: the section's name in document templates (``notice``, ``agenda`` …; see kernel.rules.templates)
    key: str = ""


@dataclass
class Report:
    """A titled list of sections."""

    title: str
    sections: list[Section]
    data: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> list[Table]:
        """Every table, in order."""
        return [s.table for s in self.sections if s.table is not None]


def render_report(report: Report, fmt: str) -> str:
    """The report as text, Markdown, CSV or JSON."""
    if fmt == "json":
        return json.dumps(report.data, ensure_ascii=False, indent=2, default=str)
    if fmt == "csv":
        parts = []
        for table in report.tables():
            parts.append(render(table, "csv").lstrip("\ufeff"))
        return "\ufeff" + "\r\n".join(parts)
    out: list[str] = []
    if fmt == "md":
        out.append(f"# {report.title}\n")
        for section in report.sections:
            out.append(f"## {section.title}\n")
            out.extend(f"{line}\n" for line in section.lines)
            if section.table is not None:
                if section.table.rows:
                    rows = [[cell(v) for v in row] for row in section.table.rows]
                    out.append(
                        tabulate(rows, headers=section.table.headers, tablefmt="github") + "\n"
                    )
                else:
                    out.append("（无）\n")
        return "\n".join(out)
    out.append(report.title)
    out.append("=" * 40)
    for section in report.sections:
        out.append("")
        out.append(f"【{section.title}】")
        out.extend(section.lines)
        if section.table is not None:
            out.append(render(section.table, "text").split("\n", 1)[1])
    return "\n".join(out)


def emit_report(report: Report, fmt: str, output: Path | None) -> str | None:
    """Write to ``output`` (required for xlsx) or return the text to print."""
    if fmt == "xlsx":
        if output is None:
            raise InputError("xlsx 格式需要用 --output 指定文件")
        write_xlsx(report.tables(), output)
        return None
    return text_or_file(render_report(report, fmt), output)


# --------------------------------------------------------------------------- monthly


def monthly_report(
    month: str,
    ruleset: RuleSet,
    projector: Projector,
    events: list[Event],
    evaluator: ClockEvaluator,
) -> Report:
    """服务动态, the 通报 list and the 调度会 agenda for one month."""
    first, last = month_bounds(month)
    in_month = [e for e in events if first <= e.date <= last]
    contacts = [e for e in in_month if e.type == "contact.recorded"]
    registered = [e for e in projector.enterprises.values() if e.registered_on <= last]
    contacted = {e.enterprise for e in contacts}
    collected = [s for s in projector.tickets.values() if first <= s.collected_on <= last]
    by_category = Counter(str(s.ticket.data["category"]) for s in collected)
    by_grade = Counter(s.grade or "未分级" for s in collected)
    category_rows = []
    for category in ruleset.reference.categories:
        if by_category.get(category):
            grades = Counter(
                s.grade or "未分级" for s in collected if s.ticket.data["category"] == category
            )
            category_rows.append(
                (category, by_category[category], *[grades.get(g, 0) for g in GRADES])
            )
    status: Counter[str] = Counter()
    overdue_rows: list[tuple[Any, ...]] = []
    notice_rows: list[tuple[Any, ...]] = []
    agenda_rows: list[tuple[Any, ...]] = []
    provisional = False
    for state in sorted(projector.tickets.values(), key=lambda s: s.ticket_id):
        if state.collected_on > last:
            continue
        seen = [e for e in state.events if e.date <= last]
        if not seen:
            continue
        current = _state_at(state, last)
        status[current] += 1
        evaluated = evaluator.evaluate(state, last)
        require_decided(evaluated, f"{month} 月度通报")
        provisional = provisional or evaluated.provisional
        data = state.ticket.data
        for item in evaluated.instances:
            if item.due is None:
                continue  # due after the last day with data: not overdue this month
            due = marked(item.due, item.due_provisional)
            if item.state == BREACHED and item.stop is None:
                overdue_rows.append(
                    (
                        state.ticket_id,
                        data["enterprise"]["name"],
                        item.clock.title,
                        due,
                        item.overdue_workdays,
                        "、".join(item.owners),
                    )
                )
            for esc in item.escalations:
                if esc.step.action == "notice" and esc.month == month:
                    notice_rows.append(
                        (
                            state.ticket_id,
                            data["enterprise"]["name"],
                            data["category"],
                            state.grade,
                            item.clock.title,
                            due,
                            item.overdue_workdays,
                            "、".join(esc.units),
                            esc.step.id,
                        )
                    )
        open_now = current not in ("已关闭",)
        if open_now and (state.grade == "C" or state.route.get("agenda")):
            agenda_rows.append(
                (
                    state.ticket_id,
                    data["enterprise"]["name"],
                    data["enterprise"]["territory"],
                    data["category"],
                    state.grade,
                    data["summary"],
                    state.route.get("primary"),
                    "、".join(state.route.get("co_handlers", [])),
                    current,
                )
            )
    duty = (
        next((d for d in ruleset.deadlines.monthly if d.per == "enterprise"), None)
        if ruleset.deadlines
        else None
    )
    missed = (
        missed_contacts(duty, projector.enterprises.values(), contacts, [month], last)
        if duty is not None
        else []
    )
    sections = [
        Section(
            "服务动态",
            [
                f"本月走访联系企业 {len(contacts)} 次，覆盖 {len(contacted)} 户（在册企业 {len(registered)} 户）。",
                f"本月收集企业问题 {len(collected)} 个："
                + (
                    "、".join(
                        f"{g} 级 {by_grade[g]} 个" for g in (*GRADES, "未分级") if by_grade.get(g)
                    )
                    or "无"
                )
                + "。",
                "截至月末办理情况："
                + ("、".join(f"{k} {v} 个" for k, v in sorted(status.items())) or "无")
                + "。",
            ],
            Table(
                "问题分类",
                ("category", "count", "A", "B", "C", "D"),
                ("问题类别", "数量", "A 级", "B 级", "C 级", "D 级"),
                category_rows,
            ),
            key="categories",
        ),
        Section(
            "问题办理通报",
            [f"督办后仍超期、列入 {month} 通报的问题 {len(notice_rows)} 个。"],
            Table(
                "通报名单",
                (
                    "ticket_id",
                    "enterprise",
                    "category",
                    "grade",
                    "clock",
                    "due",
                    "overdue_workdays",
                    "units",
                    "step",
                ),
                (
                    "办理单编号",
                    "企业",
                    "类别",
                    "等级",
                    "时限",
                    "到期日",
                    "超期工作日",
                    "责任单位",
                    "依据",
                ),
                notice_rows,
            ),
            key="notice",
        ),
        Section(
            "月末超期问题",
            [f"截至 {last} 仍超期未完成的事项 {len(overdue_rows)} 项。"],
            Table(
                "超期问题",
                ("ticket_id", "enterprise", "clock", "due", "overdue_workdays", "units"),
                ("办理单编号", "企业", "时限", "到期日", "超期工作日", "责任单位"),
                overdue_rows,
            ),
            key="overdue",
        ),
        Section(
            "调度会议程",
            [f"需市级部门协调研究的问题（C 级及列入调度会的问题）{len(agenda_rows)} 个。"],
            Table(
                "调度会议程",
                (
                    "ticket_id",
                    "enterprise",
                    "territory",
                    "category",
                    "grade",
                    "summary",
                    "primary",
                    "co_handlers",
                    "status",
                ),
                (
                    "办理单编号",
                    "企业",
                    "县区",
                    "类别",
                    "等级",
                    "问题",
                    "主办单位",
                    "协办单位",
                    "状态",
                ),
                agenda_rows,
            ),
            key="agenda",
        ),
        Section(
            "未按月联系的企业",
            [f"本月未由包抓领导或对口服务干部联系的企业 {len(missed)} 户。"],
            Table(
                "未联系企业",
                ("enterprise", "name", "lead_unit", "lead_leader", "liaison_cadre"),
                ("统一社会信用代码", "企业", "包抓单位", "包抓领导", "对口服务干部"),
                [
                    (m.enterprise, m.name, m.lead_unit, m.lead_leader, m.liaison_cadre)
                    for m in missed
                ],
            ),
            key="missed",
        ),
    ]
    if provisional:
        sections[0].lines.append(PROVISIONAL_NOTE)
    report = Report(
        f"助商稳企·护航发展 {first.year} 年 {first.month} 月服务动态与问题办理通报", sections
    )
    report.data = {
        "month": month,
        "provisional": provisional,
        "contacts": len(contacts),
        "enterprises_contacted": len(contacted),
        "enterprises": len(registered),
        "collected": len(collected),
        "by_grade": dict(by_grade),
        "status": dict(status),
        **{s.table.title: s.table.records() for s in sections if s.table is not None},
    }
    return report


def _state_at(state: Any, day: dt.date) -> str:
    """The ticket's state label as of ``day`` (replaying only its events up to then)."""
    label = "已收集"
    words = {
        "ticket.reported": "已上报",
        "ticket.graded": "已分级",
        "ticket.dispatched": "办理中",
        "ticket.resolved": "已办结",
        "ticket.feedback_given": "已反馈",
        "ticket.reopened": "办理中",
    }
    for event in state.events:
        if event.date > day:
            break
        if event.type == "ticket.rated":
            label = (
                "已评价"
                if event.payload.get("rating") == "不满意"
                else TICKET_STATE_WORDS["closed"]
            )
        elif event.type in words:
            label = words[event.type]
    return label


# --------------------------------------------------------------------------- assessment


def _indicator_text(result: UnitResult, index: int) -> str:
    item = result.indicators[index]
    return f"{item.points:g}（{item.note}）" if item.note else f"{item.points:g}"


def assessment_report(assessment: Assessment) -> Report:
    """The ranking of every unit in scope, with indicators, deductions, score and outcome."""
    headers = ["排名", "单位", "类别"]
    keys = ["rank", "unit", "kind"]
    first = assessment.units[0] if assessment.units else None
    if first is not None:
        for item in first.indicators:
            headers.append(f"{item.title}（{item.full:g}）")
            keys.append(item.id)
    headers += ["扣分", "总分", "折算分", "考核结果"]
    keys += ["deduction_points", "score", "converted", "outcome"]
    kinds = {
        "territories": "县区",
        "departments": "市级部门",
        "offices": "协调机构",
        "others": "其他",
    }
    rows = [
        (
            u.rank,
            u.unit,
            kinds.get(u.kind, u.kind),
            *[_indicator_text(u, i) for i in range(len(u.indicators))],
            u.deduction_points,
            u.score,
            f"{u.converted:g}（权重 {u.weight:g}）",
            "、".join(t for _, t in u.outcomes) or "—",
        )
        for u in assessment.units
    ]
    outcome_counts = Counter(t for u in assessment.units for _, t in u.outcomes)
    lines = [
        f"考核期间：{assessment.start} 至 {assessment.end}；计分办法第 {assessment.version} 版；"
        f"参加考核单位 {len(assessment.units)} 个。",
        "考核结果：" + ("、".join(f"{k} {v} 个" for k, v in outcome_counts.items()) or "无"),
        "折算分 = 得分 ÷ 满分 × 权重，计入年度目标责任综合考核总分。",
    ]
    provisional = any(d.provisional for u in assessment.units for d in u.deductions)
    if provisional:
        lines.append(PROVISIONAL_NOTE)
    table = Table(f"{assessment.label}考核排名", tuple(keys), tuple(headers), rows)
    report = Report(
        f"助商稳企·护航发展 {assessment.label}考核结果", [Section("考核排名", lines, table)]
    )
    report.data = {**assessment.to_dict(), "provisional": provisional}
    return report


def unit_report(assessment: Assessment, unit: str) -> Report:
    """Every deduction of one unit, with its events and clause, so the unit can check it."""
    try:
        result = assessment.unit(unit)
    except KeyError:
        known = [u.unit for u in assessment.units]
        from kernel.inputs.suggest import did_you_mean

        raise InputError(f"单位 '{unit}' 不在考核范围内{did_you_mean(unit, known)}") from None
    lines = [
        f"{result.name}（{result.unit}）{assessment.label}：总分 {result.score:g}，排名第 {result.rank} 位，"
        f"折算分 {result.converted:g}（权重 {result.weight:g}），考核结果："
        + ("、".join(t for _, t in result.outcomes) or "—")
        + "。"
    ]
    for item in result.indicators:
        lines.append(f"{item.title}：{item.points:g} / {item.full:g}（{item.note}）——{item.clause}")
    if any(d.provisional for d in result.deductions):
        lines.append(PROVISIONAL_NOTE)
    rows = [
        (
            marked(d.day, d.provisional),
            d.rule,
            d.title,
            d.points,
            d.ticket_id or "",
            d.source,
            "、".join(d.events),
            d.clause,
            d.version,
        )
        for d in result.deductions
    ]
    table = Table(
        "扣分明细",
        ("date", "rule", "title", "points", "ticket_id", "source", "events", "clause", "version"),
        ("日期", "扣分项", "名称", "扣分", "办理单", "来源", "事件", "依据条款", "计分办法版本"),
        rows,
    )
    report = Report(
        f"{result.name}{assessment.label}考核扣分明细",
        [
            Section("得分情况", lines),
            Section(f"扣分明细（共 {len(rows)} 项，{result.deduction_points:g} 分）", [], table),
        ],
    )
    report.data = {
        "period": assessment.label,
        **result.to_dict(),
        "provisional": any(d.provisional for d in result.deductions),
    }
    return report


def months_of(period_end: dt.date) -> str:
    """``YYYY-MM`` of a date (re-exported for the CLI)."""
    return month_label(period_end)


def agenda_report(monthly: Report) -> Report:
    """The 调度会 agenda of a month: the agenda section of its monthly report, on its own."""
    section = next(s for s in monthly.sections if s.key == "agenda")
    year, month = str(monthly.data["month"]).split("-")
    report = Report(f"{year} 年 {int(month)} 月助商稳企·护航发展调度会议程", [section])
    report.data = {"month": monthly.data["month"], "agenda": monthly.data.get("调度会议程", [])}
    return report
