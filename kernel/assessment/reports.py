"""The reports the office publishes: the monthly summary and notice, the annual assessment,
and one unit's deductions. Chinese throughout; text, Markdown, CSV, JSON or Excel."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.assessment.monthly_parts import TicketMonth, ticket_month
from kernel.assessment.scoring import Assessment, UnitResult
from kernel.clocks.compute import (
    ClockEvaluator,
    marked,
)
from kernel.clocks.monthly import missed_contacts, month_bounds, month_label
from kernel.clocks.view import key_label
from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.ledger.ledger import Projector
from kernel.ledger.projection import Enterprise
from kernel.outputs.tables import (
    DATE,
    LIST,
    NUMBER,
    PERCENT,
    TEXT,
    YES_NO,
    Table,
    render,
    text_or_file,
    text_table,
    write_csv_files,
    write_xlsx,
)
from kernel.rules.model import RuleSet
from kernel.vocabulary import (
    EVENT_TYPE_WORDS,
    GRADES,
    LOWER_UNIT_KIND_WORDS,
    UNIT_KIND_WORDS,
)

PROVISIONAL_NOTE = (
    "注：标注“暂定”的日期按暂定日历计算（该年放假安排尚未公布，未计调休），"
    "正式通知公布后可能变化（huhang calendar diff 可列出变化）。"
)


def dated(day: dt.date, provisional: bool) -> dt.date | str:
    """A date for a DATE column: the date itself, or its text marked 暂定 (a date computed
    through a provisional calendar year is not firm, so it is not given as a date cell)."""
    return marked(day, True) if provisional else day


@dataclass
class Section:
    """A heading, some sentences, and optionally a table."""

    title: str
    lines: list[str] = field(default_factory=list)
    table: Table | None = None
    #: the section's name in document templates (``notice``, ``agenda`` …; see kernel.rules.templates)
    key: str = ""
    #: a long table for files only: text and Markdown print one line about it instead
    detail: bool = False
    #: the lines are items of a list (Markdown ``- ``)
    bullets: bool = False


@dataclass
class Report:
    """A titled list of sections."""

    title: str
    sections: list[Section]
    data: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> list[Table]:
        """Every table, in order."""
        return [s.table for s in self.sections if s.table is not None]

    def summary_table(self) -> Table:
        """The report's title and the sentences of every section, one per row (概要)."""
        rows: list[tuple[Any, ...]] = [("标题", self.title)]
        rows += [(s.title, line) for s in self.sections for line in s.lines]
        return Table.of(self.title, (("section", "栏目"), ("text", "内容")), rows, name="概要")

    def workbook_tables(self) -> list[Table]:
        """What a workbook or a set of CSV files holds: the 概要 first, then every table."""
        return [self.summary_table(), *self.tables()]


def _detail_line(table: Table) -> str:
    return f"（{table.title}共 {len(table.rows)} 行，见 Excel 或 CSV 输出：--format xlsx 或 csv）"


def render_report(report: Report, fmt: str) -> str:
    """The report as text, Markdown or JSON (CSV and xlsx are files: :func:`emit_report`)."""
    if fmt == "json":
        return json.dumps(report.data, ensure_ascii=False, indent=2, default=str)
    out: list[str] = []
    if fmt == "md":
        out.append(f"# {report.title}\n")
        for section in report.sections:
            out.append(f"## {section.title}\n")
            if section.bullets:
                out.append("".join(f"- {line}\n" for line in section.lines))
            else:
                out.extend(f"{line}\n" for line in section.lines)
            table = section.table
            if table is None:
                continue
            if section.detail:
                out.append(_detail_line(table) + "\n")
            elif table.rows:
                out.append(text_table(table, tablefmt="github") + "\n")
            else:
                out.append("（无）\n")
        return "\n".join(out)
    out.append(report.title)
    out.append("=" * 40)
    for section in report.sections:
        out.append("")
        out.append(f"【{section.title}】")
        out.extend(f"· {line}" if section.bullets else line for line in section.lines)
        if section.table is not None:
            if section.detail:
                out.append(_detail_line(section.table))
            else:
                out.append(render(section.table, "text").split("\n", 1)[1])
    return "\n".join(out)


def emit_report(report: Report, fmt: str, output: Path | None) -> str | None:
    """Write to ``output`` (required for xlsx and csv) or return the text to print.

    xlsx is one workbook (a 概要 sheet, then a sheet per table); csv is one file per table, in
    the folder ``output`` or in a .zip when ``output`` ends in ``.zip``.
    """
    if fmt == "xlsx":
        if output is None:
            raise InputError("xlsx 格式需要用 --output 指定文件")
        write_xlsx(report.workbook_tables(), output)
        return None
    if fmt == "csv":
        tables = report.workbook_tables()
        if output is None:
            raise InputError(
                f"CSV 格式的报告有 {len(tables)} 张表，每张表一个文件："
                "请用 --output 指定文件夹或 .zip 文件"
            )
        if output.suffix.lower() == ".csv":
            raise InputError(
                f"CSV 格式的报告有 {len(tables)} 张表，每张表一个文件：--output 应是文件夹或 .zip 文件，"
                f"而不是 {output.name}"
            )
        write_csv_files(tables, output)
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
    """服务动态, the 通报 list and the 调度会 agenda for one month, from a projection of the
    whole ledger and its events (:func:`kernel.assessment.monthly_cache.cached_monthly_report`
    reads the same report from the read model and the facts cache)."""
    first, last = month_bounds(month)
    in_month = [e for e in events if first <= e.date <= last]
    states = sorted(enumerate(projector.tickets.values()), key=lambda item: item[1].ticket_id)
    return assemble_monthly(
        month,
        ruleset,
        (ticket_month(state, month, first, last, evaluator, n) for n, state in states),
        contacts=[e for e in in_month if e.type == "contact.recorded"],
        steps=[e for e in in_month if e.type in LIFECYCLE_STEPS],
        enterprises=projector.enterprises.values(),
    )


def assemble_monthly(
    month: str,
    ruleset: RuleSet,
    parts: Iterable[TicketMonth],
    *,
    contacts: list[Event],
    steps: list[Event],
    enterprises: Iterable[Enterprise],
) -> Report:
    """The monthly report from every ticket's part (in ticket number order), the month's
    contacts and lifecycle steps (in ledger order) and every enterprise as it stands."""
    first, last = month_bounds(month)
    companies = list(enterprises)
    registered = [e for e in companies if e.registered_on <= last]
    contacted = {e.enterprise for e in contacts}
    by_category: Counter[str] = Counter()
    graded: list[tuple[int, str]] = []
    grades_of: dict[str, Counter[str]] = {}
    status: Counter[str] = Counter()
    overdue_rows: list[tuple[Any, ...]] = []
    notice_rows: list[tuple[Any, ...]] = []
    agenda_rows: list[tuple[Any, ...]] = []
    names: dict[str, str] = {}
    provisional = False
    collected = 0
    for part in parts:
        names[part.ticket_id] = part.name
        if part.collected:
            collected += 1
            grade = part.grade or "未分级"
            by_category[part.category] += 1
            graded.append((part.order, grade))
            grades_of.setdefault(part.category, Counter())[grade] += 1
        if part.status is None:
            continue
        status[part.status] += 1
        provisional = provisional or part.provisional
        for o in part.overdue:
            overdue_rows.append(
                (
                    part.ticket_id,
                    part.name,
                    o.clock,
                    dated(*o.due),
                    o.overdue_workdays,
                    list(o.owners),
                )
            )
        for n in part.notices:
            notice_rows.append(
                (
                    part.ticket_id,
                    part.name,
                    part.category,
                    part.grade,
                    n.clock,
                    dated(*n.due),
                    n.overdue_workdays,
                    list(n.units),
                    n.step,
                )
            )
        if part.agenda is not None:
            a = part.agenda
            agenda_rows.append(
                (
                    part.ticket_id,
                    part.name,
                    a.territory,
                    part.category,
                    part.grade,
                    a.summary,
                    a.primary,
                    list(a.co_handlers),
                    a.status,
                )
            )
    # counted in the order the tickets came into the ledger, as the JSON form lists them
    by_grade = Counter(grade for _, grade in sorted(graded))
    category_rows = []
    for category in ruleset.reference.categories:
        if by_category.get(category):
            grades = grades_of[category]
            category_rows.append(
                (category, by_category[category], *[grades.get(g, 0) for g in GRADES])
            )
    step_counts = Counter(e.type for e in steps)
    disputed = sum(1 for e in steps if e.payload.get("resolution") == "有异议")
    step_rows = [
        (
            e.ticket_id,
            names.get(str(e.ticket_id), ""),
            e.label,
            e.date,
            e.actor,
            e.payload.get("reason") or e.payload.get("resolution") or e.payload.get("into") or "",
        )
        for e in sorted(steps, key=lambda e: (e.date, str(e.ticket_id)))
    ]
    duty = (
        next((d for d in ruleset.deadlines.monthly if d.per == "enterprise"), None)
        if ruleset.deadlines
        else None
    )
    missed = missed_contacts(duty, companies, contacts, [month], last) if duty is not None else []
    sections = [
        Section(
            "服务动态",
            [
                f"本月走访联系企业 {len(contacts)} 次，覆盖 {len(contacted)} 户（在册企业 {len(registered)} 户）。",
                f"本月收集企业问题 {collected} 个："
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
            Table.of(
                "问题分类",
                (
                    ("category", "问题类别"),
                    ("count", "数量", NUMBER),
                    *((g, f"{g} 级", NUMBER) for g in GRADES),
                ),
                category_rows,
            ),
            key="categories",
        ),
        Section(
            "问题办理通报",
            [f"督办后仍超期、列入 {month} 通报的问题 {len(notice_rows)} 个。"],
            Table.of(
                "通报名单",
                (
                    ("ticket_id", "办理单编号"),
                    ("enterprise", "企业"),
                    ("category", "类别"),
                    ("grade", "等级"),
                    ("clock", "时限"),
                    ("due", "到期日", DATE),
                    ("overdue_workdays", "超期工作日", NUMBER),
                    ("units", "责任单位", LIST),
                    ("step", "依据"),
                ),
                notice_rows,
            ),
            key="notice",
        ),
        Section(
            "月末超期问题",
            [f"截至 {last} 仍超期未完成的事项 {len(overdue_rows)} 项。"],
            Table.of(
                "超期问题",
                (
                    ("ticket_id", "办理单编号"),
                    ("enterprise", "企业"),
                    ("clock", "时限"),
                    ("due", "到期日", DATE),
                    ("overdue_workdays", "超期工作日", NUMBER),
                    ("units", "责任单位", LIST),
                ),
                overdue_rows,
            ),
            key="overdue",
        ),
        Section(
            "调度会议程",
            [f"需市级部门协调研究的问题（C 级及列入调度会的问题）{len(agenda_rows)} 个。"],
            Table.of(
                "调度会议程",
                (
                    ("ticket_id", "办理单编号"),
                    ("enterprise", "企业"),
                    ("territory", "县区"),
                    ("category", "类别"),
                    ("grade", "等级"),
                    ("summary", "问题"),
                    ("primary", "主办单位"),
                    ("co_handlers", "协办单位", LIST),
                    ("status", "状态"),
                ),
                agenda_rows,
            ),
            key="agenda",
        ),
        Section(
            "未按月联系的企业",
            [f"本月未由包抓领导或对口服务干部联系的企业 {len(missed)} 户。"],
            Table.of(
                "未联系企业",
                (
                    ("enterprise", "统一社会信用代码"),
                    ("name", "企业"),
                    ("lead_unit", "包抓单位"),
                    ("lead_leader", "包抓领导"),
                    ("liaison_cadre", "对口服务干部"),
                ),
                [
                    (m.enterprise, m.name, m.lead_unit, m.lead_leader, m.liaison_cadre)
                    for m in missed
                ],
            ),
            key="missed",
        ),
        Section(
            "退回、延期、挂起与回访",
            [
                "本月"
                + (
                    "、".join(
                        f"{EVENT_TYPE_WORDS[k]} {step_counts[k]} 次"
                        for k in LIFECYCLE_STEPS
                        if step_counts.get(k)
                    )
                    or "没有退回、延期、挂起、撤回、合并或回访"
                )
                + (f"（回访有异议 {disputed} 次）" if disputed else "")
                + "。"
            ],
            Table.of(
                "办理过程记录",
                (
                    ("ticket_id", "办理单编号"),
                    ("enterprise", "企业"),
                    ("step", "事项"),
                    ("date", "日期", DATE),
                    ("actor", "经办单位"),
                    ("detail", "理由或结果"),
                ),
                step_rows,
            ),
            key="steps",
            detail=True,
        ),
    ]
    if provisional:
        sections[0].lines.append(PROVISIONAL_NOTE)
    level = ruleset.reference.own_level  # 汉台区 in a county folder, '' at the top level
    report = Report(
        f"{level}助商稳企·护航发展 {first.year} 年 {first.month} 月服务动态与问题办理通报",
        sections,
    )
    report.data = {
        "month": month,
        "level": level,
        "provisional": provisional,
        "contacts": len(contacts),
        "enterprises_contacted": len(contacted),
        "enterprises": len(registered),
        "collected": collected,
        "by_grade": dict(by_grade),
        "status": dict(status),
        **{s.table.title: s.table.records() for s in sections if s.table is not None},
    }
    return report


#: the steps of §8 the monthly report counts, in the order it lists them
LIFECYCLE_STEPS = (
    "ticket.returned",
    "ticket.rerouted",
    "ticket.extension_granted",
    "ticket.extension_refused",
    "ticket.suspended",
    "ticket.withdrawn",
    "ticket.rejected",
    "ticket.merged",
    "ticket.callback_recorded",
)


# --------------------------------------------------------------------------- assessment


def _outcome_text(result: UnitResult) -> str:
    return "、".join(t for _, t in result.outcomes) or "—"


def _source_text(source: str, titles: Mapping[str, str]) -> str:
    """Where a deduction comes from: a clock by its title, an event by its id, an enterprise
    and month (a missed contact) as ``统一社会信用代码（2026-03）``."""
    label = key_label(source, titles)
    if label != source:
        return label
    code, sep, month = source.partition("@")
    return f"{code}（{month}）" if sep and len(month) == 7 else source


def deductions_table(
    units: Iterable[UnitResult], titles: Mapping[str, str], name: str = "扣分明细"
) -> Table:
    """One row per deduction: unit, rule, clause, points, date and the facts behind it."""
    rows = [
        (
            u.unit,
            dated(d.day, d.provisional),
            d.rule,
            d.title,
            d.points,
            d.ticket_id,
            _source_text(d.source, titles),
            list(d.events),
            d.clause,
            d.version,
        )
        for u in units
        for d in u.deductions
    ]
    return Table.of(
        name,
        (
            ("unit", "单位"),
            ("date", "日期", DATE),
            ("rule", "扣分项"),
            ("title", "名称"),
            ("points", "扣分", NUMBER),
            ("ticket_id", "办理单"),
            ("source", "来源"),
            ("events", "事件", LIST),
            ("clause", "依据条款"),
            ("version", "计分办法版本", NUMBER),
        ),
        rows,
        name=name,
    )


def indicators_table(units: Iterable[UnitResult]) -> Table:
    """One row per unit and indicator: points, full marks, numerator and denominator, rate."""
    rows = [
        (
            u.unit,
            i.id,
            i.title,
            i.full,
            i.points,
            i.numerator,
            i.denominator,
            (i.numerator or 0) / i.denominator if i.denominator else None,
            i.applicable,
            i.note,
            i.clause,
        )
        for u in units
        for i in u.indicators
    ]
    return Table.of(
        "指标明细",
        (
            ("unit", "单位"),
            ("indicator", "指标"),
            ("title", "指标名称"),
            ("full", "满分", NUMBER),
            ("points", "得分", NUMBER),
            ("numerator", "分子", NUMBER),
            ("denominator", "分母", NUMBER),
            ("rate", "比率", PERCENT),
            ("applicable", "是否计算", YES_NO),
            ("note", "说明"),
            ("clause", "依据条款"),
        ),
        rows,
        name="指标明细",
    )


def assessment_report(
    assessment: Assessment, clock_titles: Mapping[str, str] | None = None, *, data: bool = True
) -> Report:
    """The ranking of every unit in scope (总表), every deduction (扣分明细) and every
    indicator's numerator and denominator (指标明细).

    ``clock_titles`` (clock id -> title) names the clocks behind deductions by their titles.
    ``data=False`` leaves out the JSON form (``report.data``, a dict per deduction): a caller
    that prints text, Markdown, CSV or a workbook does not read it.
    """
    titles = clock_titles or {}
    kinds = LOWER_UNIT_KIND_WORDS if assessment.level else UNIT_KIND_WORDS
    columns: list[tuple[str, str, str]] = [
        ("rank", "排名", NUMBER),
        ("unit", "单位", TEXT),
        ("kind", "类别", TEXT),
    ]
    first = assessment.units[0] if assessment.units else None
    if first is not None:
        for item in first.indicators:
            columns.append((item.id, f"{item.title}（{item.full:g}）", NUMBER))
    columns += [
        ("deduction_points", "扣分", NUMBER),
        ("score", "总分", NUMBER),
        ("weight", "权重", NUMBER),
        ("converted", "折算分", NUMBER),
        ("outcome", "考核结果", TEXT),
    ]
    rows = [
        (
            u.rank,
            u.unit,
            kinds.get(u.kind, u.kind),
            *[i.points for i in u.indicators],
            u.deduction_points,
            u.score,
            u.weight,
            u.converted,
            _outcome_text(u),
        )
        for u in assessment.units
    ]
    outcome_counts = Counter(t for u in assessment.units for _, t in u.outcomes)
    empty = Counter(i.title for u in assessment.units for i in u.indicators if not i.applicable)
    lines = [
        f"考核期间：{assessment.start} 至 {assessment.end}；计分办法第 {assessment.version} 版；"
        f"参加考核单位 {len(assessment.units)} 个。",
        "考核结果：" + ("、".join(f"{k} {v} 个" for k, v in outcome_counts.items()) or "无"),
        "折算分 = 得分 ÷ 满分 × 权重，计入年度目标责任综合考核总分。",
    ]
    provisional = any(d.provisional for u in assessment.units for d in u.deductions)
    if provisional:
        lines.append(PROVISIONAL_NOTE)
    if empty:
        lines.append(
            "无应计事项、未按比率计算的指标（按计分办法计分，见指标明细）："
            + "、".join(f"{title} {n} 个单位" for title, n in empty.items())
            + "。"
        )
    ranking = Table.of(f"{assessment.label}考核排名", columns, rows, name="总表")
    deductions = deductions_table(assessment.units, titles)
    indicators = indicators_table(assessment.units)
    report = Report(
        f"{assessment.level}助商稳企·护航发展 {assessment.label}考核结果",
        [
            Section("考核排名", lines, ranking, key="ranking"),
            Section(
                "扣分明细",
                [f"扣分 {len(deductions.rows)} 项（各单位明细：huhang report unit 单位）。"],
                deductions,
                key="deductions",
                detail=True,
            ),
            Section(
                "指标明细",
                ["各单位每项指标的分子、分母与得分。"],
                indicators,
                key="indicators",
                detail=True,
            ),
        ],
    )
    if data:
        report.data = {**assessment.to_dict(), "provisional": provisional}
    return report


def unit_report(
    assessment: Assessment, unit: str, clock_titles: Mapping[str, str] | None = None
) -> Report:
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
        + _outcome_text(result)
        + "。"
    ]
    for item in result.indicators:
        lines.append(f"{item.title}：{item.points:g} / {item.full:g}（{item.note}）——{item.clause}")
    if any(d.provisional for d in result.deductions):
        lines.append(PROVISIONAL_NOTE)
    table = deductions_table([result], clock_titles or {})
    report = Report(
        f"{result.name}{assessment.label}考核扣分明细",
        [
            Section("得分情况", lines),
            Section(
                f"扣分明细（共 {len(table.rows)} 项，{result.deduction_points:g} 分）",
                [],
                table,
                key="deductions",
            ),
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
    level = str(monthly.data.get("level") or "")
    report = Report(
        f"{level}{' ' if level else ''}{year} 年 {int(month)} 月助商稳企·护航发展调度会议程",
        [section],
    )
    report.data = {
        "month": monthly.data["month"],
        "level": level,
        "agenda": monthly.data.get("调度会议程", []),
    }
    return report
