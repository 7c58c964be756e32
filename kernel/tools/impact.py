"""Impact analysis: replay the ledger under a baseline and a candidate rule set and compare.

Replaying means deciding again: every ``ticket.graded`` event is re-evaluated by the rule set
being replayed (the office's overrides still apply on top), the clocks run on its deadlines,
the sweep's escalation events are derived again from those clocks, and the assessment uses its
scoring. Events that stop being legal under the candidate (say, a resolution by a unit that is
no longer a handler, or a step that the candidate's lifecycle.yaml refuses: a return after its
window, an extension beyond its limit) are reported, and the rest of that ticket's history is set
aside.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from kernel.assessment.reports import Report, Section, render_report
from kernel.assessment.scoring import Assessment, FactCollector, score_period
from kernel.clocks.compute import (
    BREACHED,
    ClockEvaluator,
    TicketClocks,
    due_text,
    require_decided,
)
from kernel.clocks.steps import step_guard
from kernel.clocks.sweep import escalations, is_sweep_event
from kernel.clocks.view import clock_label
from kernel.errors import CalendarError
from kernel.evaluation.kernel import Kernel
from kernel.ledger.events import Event
from kernel.ledger.ledger import Projector, graded_payload, paused_gc
from kernel.ledger.projection import TicketState, TransitionRejected
from kernel.outputs.tables import LIST, Table, number_text
from kernel.rules.model import RuleSet
from kernel.tools.rulediff import RuleChange
from kernel.vocabulary import ROUTE_SLOT_WORDS, yes_no


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
    payload = graded_payload(kernel.evaluate(state.ticket), state.lead_unit, kernel, state.ticket)
    return replace(event, payload=payload)


def replay(events: list[Event], ruleset: RuleSet, as_of: dt.date) -> Replay:
    """Decide the ledger again under ``ruleset``, as of ``as_of``."""
    assert ruleset.deadlines and ruleset.calendar and ruleset.scoring
    out = Replay(ruleset, as_of)
    projector = Projector(ruleset.reference)
    kept: list[Event] = []
    guard = step_guard(ruleset)
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
                if guard is not None and current is not None:
                    guard(current, event)
                projector.feed(event)
            except CalendarError as exc:
                out.rejected[str(ticket_id)] = (
                    f"{event.event_id}（{event.label}，{event.date}）：{exc}"
                )
                continue
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

#: the fields of a ticket that a comparison looks at (``Change.field``), with their words
REJECTED = "rejected"
GRADE = "grade"
CLOCK_DUE = "clock.due"
CLOCK_BREACHED = "clock.breached"
UNIT_SCOPE = "unit.scope"
UNIT_SCORE = "unit.score"
UNIT_OUTCOME = "unit.outcome"
#: the route slots compared, in the order a reader looks for them
ROUTE_SLOTS = (
    "primary",
    "co_handlers",
    "feedback_owner",
    "coordinators",
    "agenda",
    "report_upward",
)
#: what "no grade" reads as in the report
NO_GRADE = "无等级"
#: how many ticket ids the headline names before "等 N 件"
NAMED = 20


@dataclass(frozen=True)
class Change:
    """One difference between the baseline and the candidate."""

    subject: str  # ticket id or unit id
    what: str  # the Chinese label
    baseline: Any
    candidate: Any
    rules: tuple[str, ...] = ()
    #: the field compared: grade, route.<slot>, clock.due, clock.breached, rejected, unit.*
    field: str = ""
    #: the clock instance key, for clock changes (``T-RESOLVE#1``)
    clock: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = {
            "subject": self.subject,
            "field": self.field,
            "what": self.what,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "rules": list(self.rules),
        }
        if self.clock is not None:
            out["clock"] = self.clock
        return out


@dataclass
class Headline:
    """What a reader of a proposal must see first, counted from the changes."""

    grades: dict[tuple[str | None, str | None], int] = field(default_factory=dict)
    ungraded: list[str] = field(default_factory=list)
    no_primary: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    routes: dict[str, int] = field(default_factory=dict)  # slot -> tickets
    due_moved: int = 0
    due_later: int = 0
    due_earlier: int = 0
    due_added: int = 0
    due_removed: int = 0
    due_tickets: int = 0
    breaches_gained: int = 0
    breaches_lost: int = 0
    scores_up: list[str] = field(default_factory=list)
    scores_down: list[str] = field(default_factory=list)
    outcomes: list[Change] = field(default_factory=list)
    scope: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "grades": [{"from": b, "to": c, "tickets": n} for (b, c), n in self.grades.items()],
            "ungraded": self.ungraded,
            "no_primary": self.no_primary,
            "rejected": self.rejected,
            "routes": self.routes,
            "due_dates": {
                "moved": self.due_moved,
                "later": self.due_later,
                "earlier": self.due_earlier,
                "added": self.due_added,
                "removed": self.due_removed,
                "tickets": self.due_tickets,
            },
            "breaches": {"gained": self.breaches_gained, "lost": self.breaches_lost},
            "scores": {"up": self.scores_up, "down": self.scores_down},
            "outcomes": [c.to_dict() for c in self.outcomes],
            "scope": [c.to_dict() for c in self.scope],
        }


@dataclass
class Impact:
    """Every ticket and unit whose result changes, and the rule changes behind them."""

    as_of: dt.date
    tickets: list[Change] = field(default_factory=list)
    units: list[Change] = field(default_factory=list)
    tickets_compared: int = 0
    units_compared: int = 0
    rule_changes: list[RuleChange] = field(default_factory=list)
    #: ticket id -> enterprise name, for the detail tables
    enterprises: dict[str, str] = field(default_factory=dict)

    def headline(self) -> Headline:
        """The counts a proposal is judged by."""
        out = Headline()
        grades: Counter[tuple[str | None, str | None]] = Counter()
        routes: Counter[str] = Counter()
        due_tickets: set[str] = set()
        for c in self.tickets:
            if c.field == GRADE:
                grades[(c.baseline, c.candidate)] += 1
                if c.baseline is not None and c.candidate is None:
                    out.ungraded.append(c.subject)
            elif c.field.startswith("route."):
                slot = c.field.split(".", 1)[1]
                routes[slot] += 1
                if slot == "primary" and c.baseline and not c.candidate:
                    out.no_primary.append(c.subject)
            elif c.field == CLOCK_DUE:
                out.due_moved += 1
                due_tickets.add(c.subject)
                if c.baseline is None:
                    out.due_added += 1
                elif c.candidate is None:
                    out.due_removed += 1
                elif c.candidate > c.baseline:
                    out.due_later += 1
                else:
                    out.due_earlier += 1
            elif c.field == CLOCK_BREACHED:
                if c.candidate:
                    out.breaches_gained += 1
                else:
                    out.breaches_lost += 1
            elif c.field == REJECTED:
                out.rejected.append(c.subject)
        out.grades = dict(sorted(grades.items(), key=lambda kv: (-kv[1], str(kv[0]))))
        out.routes = {slot: routes[slot] for slot in ROUTE_SLOTS if routes[slot]}
        out.due_tickets = len(due_tickets)
        for c in self.units:
            if c.field == UNIT_SCORE:
                (out.scores_up if c.candidate > c.baseline else out.scores_down).append(c.subject)
            elif c.field == UNIT_OUTCOME:
                out.outcomes.append(c)
            elif c.field == UNIT_SCOPE:
                out.scope.append(c)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "as_of": self.as_of.isoformat(),
            "tickets_compared": self.tickets_compared,
            "units_compared": self.units_compared,
            "headline": self.headline().to_dict(),
            "rule_changes": [r.to_dict() for r in self.rule_changes],
            "tickets": [c.to_dict() for c in self.tickets],
            "units": [c.to_dict() for c in self.units],
        }


def _route(state: TicketState) -> dict[str, Any]:
    route = state.route
    return {
        "primary": route.get("primary"),
        "co_handlers": list(route.get("co_handlers", [])),
        "feedback_owner": route.get("feedback_owner") or state.lead_unit,
        "coordinators": list(route.get("coordinators", [])),
        "agenda": bool(route.get("agenda")),
        "report_upward": bool(route.get("report_upward")),
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
        known = base.states.get(ticket_id) or cand.states.get(ticket_id)
        if known is not None:
            impact.enterprises[ticket_id] = str(known.ticket.data["enterprise"]["name"])
        if ticket_id in cand.rejected and ticket_id not in base.rejected:
            impact.tickets.append(
                Change(
                    ticket_id,
                    "历史在新规则下不成立",
                    None,
                    cand.rejected[ticket_id],
                    field=REJECTED,
                )
            )
            continue
        b, c = base.states.get(ticket_id), cand.states.get(ticket_id)
        if b is None or c is None:
            continue
        rules = tuple(sorted(r for r in set(_rule_ids(b)) ^ set(_rule_ids(c)) if r))
        if b.grade != c.grade:
            grade_rules = {ids[0] for ids in (_rule_ids(b), _rule_ids(c)) if ids and ids[0]}
            impact.tickets.append(
                Change(ticket_id, "等级", b.grade, c.grade, tuple(sorted(grade_rules)), GRADE)
            )
        before, after = _route(b), _route(c)
        for slot in ROUTE_SLOTS:
            if before[slot] != after[slot]:
                impact.tickets.append(
                    Change(
                        ticket_id,
                        ROUTE_SLOT_WORDS[slot],
                        before[slot],
                        after[slot],
                        rules,
                        f"route.{slot}",
                    )
                )
        bc = (
            {i.key: i for i in base.clocks[ticket_id].instances} if ticket_id in base.clocks else {}
        )
        cc = (
            {i.key: i for i in cand.clocks[ticket_id].instances} if ticket_id in cand.clocks else {}
        )
        for key in sorted(set(bc) | set(cc)):
            left, right = bc.get(key), cc.get(key)
            either = right or left
            assert either is not None
            label = clock_label(either)
            due_l = due_text(left) if left else None
            due_r = due_text(right) if right else None
            clock_rule = (either.clock.id,)
            if due_l != due_r:
                impact.tickets.append(
                    Change(ticket_id, f"{label}·到期日", due_l, due_r, clock_rule, CLOCK_DUE, key)
                )
            breach_l = bool(left and left.state == BREACHED)
            breach_r = bool(right and right.state == BREACHED)
            if breach_l != breach_r:
                impact.tickets.append(
                    Change(
                        ticket_id,
                        f"{label}·是否超期",
                        breach_l,
                        breach_r,
                        clock_rule,
                        CLOCK_BREACHED,
                        key,
                    )
                )
    assert base.assessment is not None and cand.assessment is not None
    before_units = {u.unit: u for u in base.assessment.units}
    after_units = {u.unit: u for u in cand.assessment.units}
    impact.units_compared = len(set(before_units) | set(after_units))
    for unit in sorted(set(before_units) | set(after_units)):
        was, now = before_units.get(unit), after_units.get(unit)
        if was is None or now is None:
            impact.units.append(
                Change(unit, "是否参加考核", was is not None, now is not None, field=UNIT_SCOPE)
            )
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
                Change(
                    unit,
                    "得分",
                    was.score,
                    now.score,
                    responsible + changed_indicators,
                    UNIT_SCORE,
                )
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
                    UNIT_OUTCOME,
                )
            )
    return impact


# --------------------------------------------------------------------------- the report


def _value(value: Any, what: str = "") -> str:
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, list):
        return "、".join(str(v) for v in value) or "（无）"
    if value is None:
        return NO_GRADE if what == "等级" else "（无）"
    return number_text(value) if isinstance(value, int | float) else str(value)


def _grade(value: str | None) -> str:
    return f"{value} 级" if value else NO_GRADE


def _named(ids: list[str]) -> str:
    shown = "、".join(ids[:NAMED])
    return shown + (f" 等 {len(ids)} 个" if len(ids) > NAMED else "")


def headline_lines(impact: Impact, *, baseline: str, candidate: str) -> list[str]:
    """The headline, most serious first: problems left without a grade or a primary handler
    and histories that break, then grades, routes, due dates, breaches and units."""
    h = impact.headline()
    lines: list[str] = []
    if h.ungraded:
        lost = [c for c in impact.tickets if c.field == GRADE and c.subject in set(h.ungraded)]
        was = Counter(c.baseline for c in lost)
        before = "、".join(f"{_grade(g)} {n} 个" for g, n in sorted(was.items()))
        by = "、".join(sorted({r for c in lost for r in c.rules}))
        lines.append(
            f"{len(h.ungraded)} 个问题在拟修改规则下没有等级（现行规则下为 {before}"
            + (f"，依据 {by}" if by else "")
            + f"）：{_named(h.ungraded)}。没有等级的问题不计办结时限"
            "（huhang lint 的 LINT-GAP 会指出这样的空档）。"
        )
    if h.no_primary:
        lines.append(
            f"{len(h.no_primary)} 个问题在拟修改规则下没有主办单位：{_named(h.no_primary)}。"
        )
    if h.rejected:
        lines.append(
            f"{len(h.rejected)} 个问题已记录的办理过程在拟修改规则下不成立：{_named(h.rejected)}。"
        )
    if h.grades:
        lines.append(
            f"等级改变 {sum(h.grades.values())} 个问题："
            + "、".join(f"{_grade(b)} → {_grade(c)} {n} 个" for (b, c), n in h.grades.items())
            + "。"
        )
    if h.routes:
        lines.append(
            "路由改变："
            + "、".join(f"{ROUTE_SLOT_WORDS[slot]} {n} 个问题" for slot, n in h.routes.items())
            + "。"
        )
    if h.due_moved:
        parts = [
            f"{word} {n} 个"
            for word, n in (
                ("推迟", h.due_later),
                ("提前", h.due_earlier),
                ("新增", h.due_added),
                ("不再计时", h.due_removed),
            )
            if n
        ]
        lines.append(
            f"时限到期日改变：{h.due_tickets} 个问题的 {h.due_moved} 个时限（{'，'.join(parts)}）。"
        )
    if h.breaches_gained or h.breaches_lost:
        lines.append(f"超期：新增 {h.breaches_gained} 个，不再超期 {h.breaches_lost} 个。")
    if h.scores_up or h.scores_down:
        lines.append(
            f"得分改变的单位 {len(h.scores_up) + len(h.scores_down)} 个"
            f"（上升 {len(h.scores_up)} 个，下降 {len(h.scores_down)} 个）。"
        )
    if h.outcomes:
        lines.append(
            f"考核结果改变的单位 {len(h.outcomes)} 个："
            + "、".join(f"{c.subject} {c.baseline} → {c.candidate}" for c in h.outcomes)
            + "。"
        )
    if h.scope:
        lines.append(
            "参加考核的单位改变："
            + "、".join(f"{c.subject}（{'加入' if c.candidate else '退出'}）" for c in h.scope)
            + "。"
        )
    if not impact.tickets and not impact.units:
        lines.append("办理单和考核结果都没有变化。")
    changes = Counter(r.change_word for r in impact.rule_changes)
    rules_line = "、".join(f"{word} {n} 处" for word, n in changes.items()) if changes else "无改动"
    lines.append(
        f"比较范围：现行规则 {baseline} → 拟修改规则 {candidate}（规则文件{rules_line}）；"
        f"截至 {impact.as_of}，办理单 {impact.tickets_compared:,} 个，"
        f"其中 {len({c.subject for c in impact.tickets}):,} 个结果改变；考核单位 "
        f"{impact.units_compared} 个，其中 {len({c.subject for c in impact.units})} 个得分或结果改变。"
    )
    return lines


def impact_report(impact: Impact, *, baseline: str, candidate: str) -> Report:
    """The impact as a report: the headline, the rule changes, then the detail."""
    rule_table = Table.of(
        "规则文件的改动",
        (
            ("file", "文件"),
            ("rule", "规则"),
            ("change", "改动"),
            ("title", "名称"),
            ("fields", "改动的内容", LIST),
        ),
        [
            (r.file, r.rule or "—", r.change_word, r.title, list(r.fields))
            for r in impact.rule_changes
        ],
        name="规则改动",
    )
    ticket_table = Table.of(
        "办理单的变化",
        (
            ("ticket_id", "办理单"),
            ("enterprise", "企业"),
            ("what", "变化"),
            ("baseline", "现行规则"),
            ("candidate", "拟修改规则"),
            ("rules", "相关规则", LIST),
        ),
        [
            (
                c.subject,
                impact.enterprises.get(c.subject, ""),
                c.what,
                _value(c.baseline, c.what),
                _value(c.candidate, c.what),
                list(c.rules),
            )
            for c in impact.tickets
        ],
        name="办理单",
    )
    unit_table = Table.of(
        "考核单位的变化",
        (
            ("unit", "单位"),
            ("what", "变化"),
            ("baseline", "现行规则"),
            ("candidate", "拟修改规则"),
            ("rules", "相关规则", LIST),
        ),
        [
            (c.subject, c.what, _value(c.baseline), _value(c.candidate), list(c.rules))
            for c in impact.units
        ],
        name="考核单位",
    )
    report = Report(
        "规则修改影响分析",
        [
            Section(
                "要点",
                headline_lines(impact, baseline=baseline, candidate=candidate),
                key="headline",
                bullets=True,
            ),
            Section("规则文件的改动", [], rule_table, key="rules"),
            Section("办理单", [], ticket_table, key="tickets"),
            Section("考核单位", [], unit_table, key="units"),
        ],
    )
    report.data = {"baseline": baseline, "candidate": candidate, **impact.to_dict()}
    return report


def render_impact(impact: Impact, fmt: str, *, baseline: str, candidate: str) -> str:
    """Text, Markdown or JSON (ready to attach to a rule-change proposal)."""
    return render_report(impact_report(impact, baseline=baseline, candidate=candidate), fmt)
