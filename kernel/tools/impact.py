"""Impact analysis: replay the ledger under a baseline and a candidate rule set and compare.

Replaying means deciding again: every ``ticket.graded`` event is re-evaluated by the rule set
being replayed (the office's overrides still apply on top), the clocks run on its deadlines,
the sweep's escalation events are derived again from those clocks, and the assessment uses its
scoring. Events that stop being legal under the candidate (say, a resolution by a unit that is
no longer a handler) are reported, and the rest of that ticket's history is set aside.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from kernel.assessment.scoring import Assessment, FactCollector, score_period
from kernel.clocks.compute import (
    BREACHED,
    ClockEvaluator,
    TicketClocks,
    due_text,
    require_decided,
)
from kernel.clocks.sweep import escalations, is_sweep_event
from kernel.errors import CalendarError
from kernel.evaluation.kernel import Kernel
from kernel.ledger.events import Event
from kernel.ledger.ledger import Projector, graded_payload, paused_gc
from kernel.ledger.projection import TicketState, TransitionRejected
from kernel.rules.model import RuleSet


@dataclass
class Replay:
    """Everything one rule set decides about a ledger."""

    ruleset: RuleSet
    as_of: dt.date
    states: dict[str, TicketState] = field(default_factory=dict)
    clocks: dict[str, TicketClocks] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    assessment: Assessment | None = None


def _graded(event: Event, state: TicketState, kernel: Kernel) -> Event:
    return replace(event, payload=graded_payload(kernel.evaluate(state.ticket), state.lead_unit))


def replay(events: list[Event], ruleset: RuleSet, as_of: dt.date) -> Replay:
    """Decide the ledger again under ``ruleset``, as of ``as_of``."""
    assert ruleset.deadlines and ruleset.calendar and ruleset.scoring
    out = Replay(ruleset, as_of)
    projector = Projector(ruleset.reference)
    kept: list[Event] = []
    with Kernel(ruleset) as kernel, paused_gc():
        for event in events:
            if event.date > as_of or is_sweep_event(event.event_id):
                continue
            ticket_id = str(event.ticket_id) if event.ticket_id else None
            if ticket_id in out.rejected:
                continue
            current = projector.tickets.get(ticket_id) if ticket_id else None
            if event.type == "ticket.graded" and current is not None:
                event = _graded(event, current, kernel)
            try:
                projector.feed(event)
            except TransitionRejected as exc:
                if ticket_id is None:
                    raise
                out.rejected[ticket_id] = (
                    f"{event.event_id}（{event.label}，{event.date}）：{exc.reason}"
                )
                continue
            kept.append(event)
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    derived: list[Event] = []
    for ticket_id, state in projector.tickets.items():
        if ticket_id in out.rejected:
            continue
        out.states[ticket_id] = state
        try:
            clocks = evaluator.evaluate(state, as_of)
            require_decided(clocks, f"截至 {as_of} 的重放")
        except CalendarError as exc:
            out.rejected[ticket_id] = str(exc)
            continue
        out.clocks[ticket_id] = clocks
        derived.extend(Event.from_dict(data) for _, data in escalations(state, clocks))
    all_events = sorted([*kept, *derived], key=lambda e: e.date)
    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    projector.tickets = {k: v for k, v in projector.tickets.items() if k in out.states}
    tallies = collector.tallies(projector, all_events, as_of, clocks=out.clocks)
    out.assessment = score_period(
        f"{as_of.year} 年（截至 {as_of}）",
        dt.date(as_of.year, 1, 1),
        as_of,
        tallies,
        ruleset.scoring,
        ruleset.reference,
    )
    return out


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Change:
    """One difference between the baseline and the candidate."""

    subject: str  # ticket id or unit id
    what: str
    baseline: Any
    candidate: Any
    rules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "subject": self.subject,
            "what": self.what,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "rules": list(self.rules),
        }


@dataclass
class Impact:
    """Every ticket and unit whose result changes."""

    as_of: dt.date
    tickets: list[Change] = field(default_factory=list)
    units: list[Change] = field(default_factory=list)
    tickets_compared: int = 0
    units_compared: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "as_of": self.as_of.isoformat(),
            "tickets_compared": self.tickets_compared,
            "units_compared": self.units_compared,
            "tickets": [c.to_dict() for c in self.tickets],
            "units": [c.to_dict() for c in self.units],
        }


def _route_text(state: TicketState) -> dict[str, Any]:
    route = state.route
    return {
        "primary": route.get("primary"),
        "co_handlers": list(route.get("co_handlers", [])),
        "coordinators": list(route.get("coordinators", [])),
    }


def _rule_ids(state: TicketState) -> tuple[str, ...]:
    graded = next((e for e in reversed(state.events) if e.type == "ticket.graded"), None)
    if graded is None:
        return ()
    return (str(graded.payload.get("grade_rule", "")), *graded.payload.get("route_rules", []))


def compare(base: Replay, cand: Replay) -> Impact:
    """The differences, each with the rule ids responsible."""
    impact = Impact(cand.as_of)
    ids = sorted(set(base.states) | set(cand.states) | set(base.rejected) | set(cand.rejected))
    impact.tickets_compared = len(ids)
    for ticket_id in ids:
        if ticket_id in cand.rejected and ticket_id not in base.rejected:
            impact.tickets.append(
                Change(ticket_id, "历史在新规则下不成立", None, cand.rejected[ticket_id])
            )
            continue
        b, c = base.states.get(ticket_id), cand.states.get(ticket_id)
        if b is None or c is None:
            continue
        rules = tuple(sorted(set(_rule_ids(b)) ^ set(_rule_ids(c))))
        if b.grade != c.grade:
            grade_rules = {ids[0] for ids in (_rule_ids(b), _rule_ids(c)) if ids and ids[0]}
            impact.tickets.append(
                Change(ticket_id, "等级", b.grade, c.grade, tuple(sorted(grade_rules)))
            )
        for key, value in _route_text(b).items():
            other = _route_text(c)[key]
            if value != other:
                impact.tickets.append(Change(ticket_id, f"路由 {key}", value, other, rules))
        bc = (
            {i.key: i for i in base.clocks[ticket_id].instances} if ticket_id in base.clocks else {}
        )
        cc = (
            {i.key: i for i in cand.clocks[ticket_id].instances} if ticket_id in cand.clocks else {}
        )
        for key in sorted(set(bc) | set(cc)):
            left, right = bc.get(key), cc.get(key)
            due_l = due_text(left) if left else None
            due_r = due_text(right) if right else None
            clock_rule = (key.split("#")[0].split("@")[0],)
            if due_l != due_r:
                impact.tickets.append(Change(ticket_id, f"{key} 到期日", due_l, due_r, clock_rule))
            breach_l = bool(left and left.state == BREACHED)
            breach_r = bool(right and right.state == BREACHED)
            if breach_l != breach_r:
                impact.tickets.append(
                    Change(ticket_id, f"{key} 是否超期", breach_l, breach_r, clock_rule)
                )
    assert base.assessment is not None and cand.assessment is not None
    before = {u.unit: u for u in base.assessment.units}
    after = {u.unit: u for u in cand.assessment.units}
    impact.units_compared = len(set(before) | set(after))
    for unit in sorted(set(before) | set(after)):
        was, now = before.get(unit), after.get(unit)
        if was is None or now is None:
            impact.units.append(Change(unit, "是否参加考核", was is not None, now is not None))
            continue
        counts_l = Counter(d.rule for d in was.deductions)
        counts_r = Counter(d.rule for d in now.deductions)
        responsible = tuple(
            sorted(r for r in set(counts_l) | set(counts_r) if counts_l[r] != counts_r[r])
        )
        changed_indicators = tuple(
            i.id
            for i, j in zip(was.indicators, now.indicators, strict=False)
            if i.points != j.points
        )
        if was.score != now.score:
            impact.units.append(
                Change(unit, "得分", was.score, now.score, responsible + changed_indicators)
            )
        outcomes_l = [t for _, t in was.outcomes]
        outcomes_r = [t for _, t in now.outcomes]
        if outcomes_l != outcomes_r:
            impact.units.append(
                Change(
                    unit,
                    "考核结果",
                    "、".join(outcomes_l) or "—",
                    "、".join(outcomes_r) or "—",
                    tuple(o for o, _ in now.outcomes),
                )
            )
    return impact


def render_impact(impact: Impact, fmt: str, *, baseline: str, candidate: str) -> str:
    """Text or Markdown (ready to attach to a rule-change proposal)."""
    from tabulate import tabulate

    def fmt_value(value: Any) -> str:
        if isinstance(value, list):
            return "、".join(str(v) for v in value) or "（无）"
        if isinstance(value, bool):
            return "是" if value else "否"
        return "（无）" if value is None else str(value)

    tickets = [
        (c.subject, c.what, fmt_value(c.baseline), fmt_value(c.candidate), "、".join(c.rules))
        for c in impact.tickets
    ]
    units = [
        (c.subject, c.what, fmt_value(c.baseline), fmt_value(c.candidate), "、".join(c.rules))
        for c in impact.units
    ]
    changed_tickets = len({c.subject for c in impact.tickets})
    changed_units = len({c.subject for c in impact.units})
    headers = ("办理单", "变化", "现行规则", "拟修改规则", "相关规则")
    unit_headers = ("单位", "变化", "现行规则", "拟修改规则", "相关规则")
    summary = (
        f"截至 {impact.as_of}：比较办理单 {impact.tickets_compared} 件，其中 {changed_tickets} 件结果改变；"
        f"考核单位 {impact.units_compared} 个，其中 {changed_units} 个得分或结果改变。"
    )
    if fmt == "md":
        parts = [
            "# 规则修改影响分析\n",
            f"- 现行规则：`{baseline}`\n- 拟修改规则：`{candidate}`\n- {summary}\n",
            "## 办理单\n",
            tabulate(tickets, headers=headers, tablefmt="github") if tickets else "无变化。",
            "\n## 考核单位\n",
            tabulate(units, headers=unit_headers, tablefmt="github") if units else "无变化。",
            "",
        ]
        return "\n".join(parts)
    lines = [f"规则修改影响分析：{baseline} → {candidate}", summary, "", "【办理单】"]
    lines.append(tabulate(tickets, headers=headers) if tickets else "无变化。")
    lines += ["", "【考核单位】", tabulate(units, headers=unit_headers) if units else "无变化。"]
    return "\n".join(lines)
