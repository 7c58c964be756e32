"""``huhang calendar diff YYYY``: what moves when the official year replaces the provisional one.

The ledger is evaluated twice as of the same day: once with YYYY built provisionally from the
law (as ``calendar.missing_year: provisional`` did before the notice was imported) and once
with the official file. Every clock whose due date, state or overdue count differs is listed,
and every unit whose assessment score, rank or outcome differs. Nothing in the ledger is
rewritten: escalations that were recorded on a provisional date stay on record with that mark,
and are listed with what the official calendar says of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kernel.assessment.scoring import Assessment, FactCollector, assess
from kernel.calendar.provisional import with_provisional
from kernel.calendar.workdays import WorkCalendar
from kernel.clocks.compute import ClockEvaluator, TicketClocks, due_text
from kernel.clocks.sweep import escalations
from kernel.errors import CalendarError, InputError
from kernel.ledger.events import Event
from kernel.ledger.ledger import Projector
from kernel.rules.model import RuleSet
from kernel.vocabulary import CLOCK_STATE_WORDS, PROVISIONAL_MARK

__all__ = ["CalendarDiff", "ClockChange", "UnitChange", "calendar_diff", "provisional_calendar"]


@dataclass(frozen=True)
class ClockChange:
    """One clock whose due date, state or overdue count moves."""

    ticket_id: str
    clock: str
    title: str
    field: str
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class UnitChange:
    """One unit whose assessment moves."""

    unit: str
    field: str
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class CalendarDiff:
    """Everything that moves between the provisional and the official year."""

    year: int
    as_of: dt.date
    period: str
    clocks: list[ClockChange] = field(default_factory=list)
    units: list[UnitChange] = field(default_factory=list)
    recorded: list[tuple[str, str, str]] = field(default_factory=list)  # event, date, official
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "year": self.year,
            "as_of": self.as_of.isoformat(),
            "period": self.period,
            "clocks": [c.to_dict() for c in self.clocks],
            "units": [u.to_dict() for u in self.units],
            "recorded_provisional": [
                {"event_id": e, "date": d, "official": o} for e, d, o in self.recorded
            ],
            "notes": self.notes,
        }


def provisional_calendar(official: WorkCalendar, year: int) -> WorkCalendar:
    """``official`` with ``year`` (and later) replaced by provisional years."""
    earlier = [item for item in official.year_files() if item.year < year]
    if not earlier:
        raise InputError(f"日历中没有 {year} 年以前的年份，无法推算 {year} 年的暂定日历")
    built = with_provisional(WorkCalendar(earlier), horizon=year - max(i.year for i in earlier) + 1)
    if year not in built.provisional_years:
        raise InputError(f"无法推算 {year} 年的暂定日历")
    return built


def _evaluate(
    evaluator: ClockEvaluator, projector: Projector, as_of: dt.date
) -> dict[str, TicketClocks]:
    return {tid: evaluator.evaluate(state, as_of) for tid, state in projector.tickets.items()}


def _assess(
    ruleset: RuleSet,
    calendar: WorkCalendar,
    projector: Projector,
    events: list[Event],
    period: str,
) -> Assessment | str:
    assert ruleset.deadlines is not None and ruleset.scoring is not None
    collector = FactCollector(ruleset.scoring, ruleset.deadlines, calendar, ruleset.reference)
    try:
        return assess(collector, projector, events, period)
    except CalendarError as exc:
        return str(exc)


def calendar_diff(
    ruleset: RuleSet,
    official: WorkCalendar,
    projector: Projector,
    events: list[Event],
    year: int,
    as_of: dt.date,
    period: str | None = None,
) -> CalendarDiff:
    """Compare the ledger under the provisional and the official ``year``."""
    if year not in official.official_years:
        raise InputError(
            f"还没有 {year} 年的正式日历文件：先用 huhang calendar import 导入 {year} 年的放假安排通知"
        )
    assert ruleset.deadlines is not None
    before_cal = provisional_calendar(official, year)
    after_cal = official
    if year + 1 not in official.years:
        # later years stay as they were on both sides (provisional, if the policy said so)
        after_cal = with_provisional(official, horizon=1)
    out = CalendarDiff(year, as_of, period or str(as_of.year))
    before = _evaluate(ClockEvaluator(ruleset.deadlines, before_cal), projector, as_of)
    after = _evaluate(ClockEvaluator(ruleset.deadlines, after_cal), projector, as_of)
    for ticket_id in sorted(before):
        left = {i.key: i for i in before[ticket_id].instances}
        right = {i.key: i for i in after[ticket_id].instances}
        for key in sorted(set(left) | set(right)):
            a, b = left.get(key), right.get(key)
            either = a or b
            title = either.clock.title if either is not None else key
            pairs = [
                ("到期日", due_text(a) if a else "—", due_text(b) if b else "—"),
                (
                    "状态",
                    CLOCK_STATE_WORDS.get(a.state, a.state) if a else "—",
                    CLOCK_STATE_WORDS.get(b.state, b.state) if b else "—",
                ),
                (
                    "超期工作日",
                    str(a.overdue_workdays) if a and a.overdue_workdays is not None else "—",
                    str(b.overdue_workdays) if b and b.overdue_workdays is not None else "—",
                ),
            ]
            for name, x, y in pairs:
                # the same date, now official, is no change
                if x.removesuffix(PROVISIONAL_MARK) != y.removesuffix(PROVISIONAL_MARK):
                    out.clocks.append(ClockChange(ticket_id, key, title, name, x, y))
    # escalations already on record with a provisional date: never rewritten, only compared
    official_steps: dict[str, str] = {}
    for ticket_id, clocks in after.items():
        for notice, step in escalations(projector.tickets[ticket_id], clocks):
            official_steps[notice.notice_id] = str(step["date"])
    for recorded in events:
        if recorded.payload.get("provisional") is True:
            date = official_steps.get(recorded.event_id, "按正式日历截至该日不应发出")
            out.recorded.append((recorded.event_id, recorded.date.isoformat(), date))
    scored_before = _assess(ruleset, before_cal, projector, events, out.period)
    scored_after = _assess(ruleset, after_cal, projector, events, out.period)
    if isinstance(scored_before, str) or isinstance(scored_after, str):
        out.notes.append(
            f"{out.period} 考核无法比较："
            + (scored_before if isinstance(scored_before, str) else str(scored_after))
        )
        return out
    units_after = {u.unit: u for u in scored_after.units}
    for unit in scored_before.units:
        other = units_after.get(unit.unit)
        if other is None:
            continue
        outcome_a = "、".join(t for _, t in unit.outcomes) or "—"
        outcome_b = "、".join(t for _, t in other.outcomes) or "—"
        for name, x, y in (
            ("得分", f"{unit.score:g}", f"{other.score:g}"),
            ("排名", str(unit.rank), str(other.rank)),
            ("考核结果", outcome_a, outcome_b),
        ):
            if x != y:
                out.units.append(UnitChange(unit.unit, name, x, y))
    return out


def render_diff(diff: CalendarDiff) -> str:
    """The Chinese text of a diff."""
    lines = [
        f"{diff.year} 年日历：暂定 → 正式，截至 {diff.as_of} 的变化",
        "",
        f"时限变化 {len(diff.clocks)} 项" + ("：" if diff.clocks else "（无）"),
    ]
    for c in diff.clocks:
        lines.append(f"  {c.ticket_id} {c.clock}「{c.title}」{c.field}：{c.before} → {c.after}")
    lines.append("")
    lines.append(
        f"{diff.period} 年考核得分变化的单位 {len({u.unit for u in diff.units})} 个"
        + ("：" if diff.units else "（无）")
    )
    for u in diff.units:
        lines.append(f"  {u.unit} {u.field}：{u.before} → {u.after}")
    if diff.recorded:
        lines.append("")
        lines.append(
            f"台账中按暂定日历记录的督办事件 {len(diff.recorded)} 条（保留原记录，不改写）："
        )
        for event_id, day, official in diff.recorded:
            shown = official if official != day else "相同"
            lines.append(f"  {event_id}：记录日期 {day}（暂定），正式日历：{shown}")
    lines.extend(diff.notes)
    return "\n".join(lines)
