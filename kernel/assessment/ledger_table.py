"""The 台账: one row per problem, with its handlers, status, key dates and overdue flags."""

from __future__ import annotations

import datetime as dt

from kernel.clocks.compute import BREACHED, ClockEvaluator, due_text
from kernel.errors import CalendarError
from kernel.ledger.ledger import Projector
from kernel.outputs.tables import Table

COLUMNS = (
    ("ticket_id", "办理单编号"),
    ("enterprise", "企业名称"),
    ("credit_code", "统一社会信用代码"),
    ("territory", "所在县区"),
    ("lead_unit", "包抓单位"),
    ("category", "问题类别"),
    ("summary", "问题描述"),
    ("grade", "等级"),
    ("overridden", "是否改判"),
    ("primary", "主办单位"),
    ("co_handlers", "协办单位"),
    ("status", "办理状态"),
    ("collected_on", "收集日期"),
    ("reported_on", "上报日期"),
    ("dispatched_on", "交办日期"),
    ("resolve_due", "办结期限"),
    ("resolved_on", "办结日期"),
    ("feedback_on", "反馈日期"),
    ("rating", "满意度"),
    ("reopened", "重新办理次数"),
    ("overdue", "是否超期"),
    ("overdue_clocks", "超期事项"),
    ("overdue_workdays", "超期工作日"),
    ("provisional", "暂定"),  # a date or count computed through a provisional calendar year
)

#: what the terminal shows; csv, json and xlsx carry every column
BRIEF = (
    "ticket_id",
    "enterprise",
    "category",
    "grade",
    "primary",
    "status",
    "collected_on",
    "resolve_due",
    "resolved_on",
    "overdue",
    "overdue_workdays",
)


def ledger_table(projector: Projector, evaluator: ClockEvaluator, as_of: dt.date) -> Table:
    """The 台账 as of a date (overdue flags are computed on the working-day calendar)."""
    rows = []
    for state in sorted(projector.tickets.values(), key=lambda s: (s.collected_on, s.ticket_id)):
        data = state.ticket.data
        try:
            evaluated = evaluator.evaluate(state, as_of)
            clocks, provisional = evaluated.instances, evaluated.provisional
        except CalendarError:
            clocks, provisional = (), False
        breached = [c for c in clocks if c.state == BREACHED]
        resolve = [c for c in clocks if c.clock.id.startswith("T-RESOLVE")]
        route = state.route
        rows.append(
            (
                state.ticket_id,
                data["enterprise"]["name"],
                state.enterprise,
                data["enterprise"]["territory"],
                state.lead_unit,
                data["category"],
                data["summary"],
                state.grade,
                bool(state.overrides),
                route.get("primary"),
                [u for u in route.get("co_handlers", []) if u != route.get("primary")],
                state.state_label,
                state.collected_on.isoformat(),
                state.reported_on.isoformat() if state.reported_on else None,
                state.dispatched_on.isoformat() if state.dispatched_on else None,
                due_text(resolve[-1]) if resolve else None,
                state.resolved_on.isoformat() if state.resolved_on else None,
                state.feedback_on.isoformat() if state.feedback_on else None,
                state.rating,
                max(len(state.rounds) - 1, 0),
                bool(breached),
                [c.key for c in breached],
                max((c.overdue_workdays or 0 for c in breached), default=0),
                provisional,
            )
        )
    return Table(
        title=f"企业问题台账（截至 {as_of}）",
        keys=tuple(k for k, _ in COLUMNS),
        headers=tuple(h for _, h in COLUMNS),
        rows=rows,
        brief=BRIEF,
    )
