"""The 台账: one row per problem, with its handlers, status, key dates and overdue flags.

Dates are dates, counts are numbers, flags are 是/否 and overdue clocks are named by their titles
(:func:`kernel.clocks.view.clock_label`), so the workbook sorts, filters and sums as an office
expects. A due date computed through a provisional calendar year stays text (``…（暂定）``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from kernel.clocks.compute import BREACHED, ClockEvaluator, ClockInstance, due_text
from kernel.clocks.view import clock_label
from kernel.errors import CalendarError
from kernel.ledger.ledger import Projector
from kernel.ledger.projection import TicketState
from kernel.outputs.tables import DATE, LIST, NUMBER, TEXT, YES_NO, Table

COLUMNS = (
    ("ticket_id", "办理单编号", TEXT),
    ("enterprise", "企业名称", TEXT),
    ("credit_code", "统一社会信用代码", TEXT),
    ("territory", "所在县区", TEXT),
    ("lead_unit", "包抓单位", TEXT),
    ("category", "问题类别", TEXT),
    ("summary", "问题描述", TEXT),
    ("grade", "等级", TEXT),
    ("overridden", "是否改判", YES_NO),
    ("primary", "主办单位", TEXT),
    ("co_handlers", "协办单位", LIST),
    ("status", "办理状态", TEXT),
    ("collected_on", "收集日期", DATE),
    ("reported_on", "上报日期", DATE),
    ("dispatched_on", "交办日期", DATE),
    ("resolve_due", "办结期限", DATE),  # text when 暂定 or not yet computable
    ("resolved_on", "办结日期", DATE),
    ("feedback_on", "反馈日期", DATE),
    ("rating", "满意度", TEXT),
    ("reopened", "重新办理次数", NUMBER),
    ("returned", "退回次数", NUMBER),
    ("extended", "批准延期工作日", NUMBER),
    ("merged_into", "并入办理单", TEXT),
    ("overdue", "是否超期", YES_NO),
    ("overdue_clocks", "超期事项", LIST),
    ("overdue_workdays", "超期工作日", NUMBER),
    ("provisional", "暂定", YES_NO),  # a date or count computed through a provisional year
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


def ledger_table(
    source: Projector | Iterable[TicketState],
    evaluator: ClockEvaluator,
    as_of: dt.date,
    *,
    part: str = "",
) -> Table:
    """The 台账 as of a date (overdue flags are computed on the working-day calendar).

    ``source`` is every ticket (a projector: sorted by collection date, then id) or the
    tickets of one page, already in that order (:class:`kernel.ledger.readmodel.ReadModel`);
    ``part`` then says which part of the 台账 they are, in the title.
    """
    rows = []
    one = _sharer()
    states = (
        sorted(source.tickets.values(), key=lambda s: (s.collected_on, s.ticket_id))
        if isinstance(source, Projector)
        else source
    )
    for state in states:
        data = state.ticket.data
        unknown: str | None = None  # why the clocks cannot be computed (a missing year)
        try:
            evaluated = evaluator.evaluate(state, as_of)
            clocks, provisional = evaluated.instances, evaluated.provisional
        except CalendarError as exc:
            clocks, provisional = (), False
            unknown = f"无法计算：{str(exc).splitlines()[0]}"
        breached = [c for c in clocks if c.state == BREACHED]
        resolve = [c for c in clocks if c.clock.id.startswith("T-RESOLVE")]
        route = state.route
        primary = route.get("primary")
        rows.append(
            (
                state.ticket_id,
                one(data["enterprise"]["name"]),
                one(state.enterprise),
                one(data["enterprise"]["territory"]),
                one(state.lead_unit),
                one(data["category"]),
                data["summary"],
                one(state.grade),
                bool(state.overrides),
                one(primary),
                [one(u) for u in route.get("co_handlers", []) if u != primary],
                state.state_label,
                one(state.collected_on),
                one(state.reported_on),
                one(state.dispatched_on),
                one(_due(resolve[-1]) if resolve else unknown),
                one(state.resolved_on),
                one(state.feedback_on),
                one(state.rating),
                sum(1 for r in state.rounds if r.opened_by == "ticket.reopened"),
                len(state.returns),
                sum(days for _, days, _ in state.extensions),
                state.merged_into,
                bool(breached) if unknown is None else "未知",
                [one(clock_label(c)) for c in breached] if unknown is None else unknown,
                max((c.overdue_workdays or 0 for c in breached), default=0),
                provisional,
            )
        )
    title = f"企业问题台账（截至 {as_of}{'，' + part if part else ''}）"
    return Table.of(title, COLUMNS, rows, brief=BRIEF, name="台账")


def _sharer() -> Callable[[Any], Any]:
    """A function returning one object per distinct value it is given: units, categories,
    names and days repeat from row to row, and each batch of states parses its own copies
    (a row of the whole 台账 at 10⁶ events: about 0.7 kB instead of 1.4)."""
    shared: dict[Any, Any] = {}

    def one(value: Any) -> Any:
        return shared.setdefault(value, value)

    return one


def _due(item: ClockInstance) -> dt.date | str:
    """A due date as a date, or as text when it is 暂定 or cannot be computed yet."""
    if item.due is not None and not item.due_provisional:
        return item.due
    return due_text(item)
