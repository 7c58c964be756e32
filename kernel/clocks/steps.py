"""The step guard: rules/lifecycle.yaml applied to every new event before the ledger stores it.

The projection (:mod:`kernel.ledger.projection`) knows which order of steps is possible at all;
this guard narrows it by the rules in force: the states a step is allowed in, who may take it,
the reasons allowed, the return window, and the number, size and timing of extensions. A step
it refuses raises :class:`~kernel.ledger.projection.TransitionRejected` with a plain Chinese
reason naming the rule, and the ledger stores nothing.
"""

from __future__ import annotations

import datetime as dt

from kernel.calendar.workdays import CountingRule, WorkCalendar
from kernel.clocks.compute import CANCELLED, ClockEvaluator
from kernel.errors import CalendarYearMissing
from kernel.ledger.events import OFFICE, Event
from kernel.ledger.projection import TicketState, TransitionRejected
from kernel.rules.deadlines import DeadlineRules
from kernel.rules.lifecycle import LifecycleRules, StepRule
from kernel.rules.model import RuleSet
from kernel.vocabulary import ACTOR_WORDS, TICKET_STATE_WORDS

EXTENSION_STEPS = ("ticket.extension_requested", "ticket.extension_granted")


class StepGuard:
    """Checks a new ticket event against rules/lifecycle.yaml (``Ledger(guard=...)``)."""

    def __init__(
        self, rules: LifecycleRules, deadlines: DeadlineRules, calendar: WorkCalendar
    ) -> None:
        self.rules = rules
        self.deadlines = deadlines
        self.calendar = calendar
        self.evaluator = ClockEvaluator(deadlines, calendar)

    def __call__(self, state: TicketState, event: Event) -> None:
        rule = self.rules.step(event.type)
        if rule is None:
            return
        self._state(rule, state, event)
        self._actor(rule, state, event)
        self._reason(rule, event)
        if rule.within_workdays is not None:
            self._return_window(rule, state, event)
        if event.type in EXTENSION_STEPS:
            self._extension(rule, state, event)

    # ------------------------------------------------------------------ checks

    def _refuse(self, rule: StepRule, event: Event, why: str) -> TransitionRejected:
        return TransitionRejected(event, f"{why}（{rule.id}：{rule.clause}）")

    def _state(self, rule: StepRule, state: TicketState, event: Event) -> None:
        if rule.states and state.state not in rule.states:
            wanted = "、".join(TICKET_STATE_WORDS.get(s, s) for s in rule.states)
            raise self._refuse(
                rule,
                event,
                f"办理单 {state.ticket_id} 当前状态为「{state.state_label}」，"
                f"规则只允许在「{wanted}」时{event.label}",
            )

    def _actor(self, rule: StepRule, state: TicketState, event: Event) -> None:
        if not rule.actors:
            return
        allowed: set[str] = set()
        for role in rule.actors:
            if role == "office":
                allowed.add(OFFICE)
            elif role == "primary" and state.route.get("primary"):
                allowed.add(str(state.route["primary"]))
            elif role == "handler":
                allowed.update(state.handlers)
            elif role == "lead_unit":
                allowed.add(state.lead_unit)
            elif role == "feedback_owner":
                allowed.add(str(state.route.get("feedback_owner") or state.lead_unit))
        if event.actor not in allowed:
            who = "、".join(ACTOR_WORDS.get(r, r) for r in rule.actors)
            raise self._refuse(
                rule,
                event,
                f"{event.label}应由{who}进行（{'、'.join(sorted(allowed))}），{event.actor} 不能",
            )

    def _reason(self, rule: StepRule, event: Event) -> None:
        if not rule.reasons:
            return
        reason = event.payload.get("reason")
        if reason not in rule.reasons:
            raise self._refuse(
                rule,
                event,
                f"{event.label}的理由「{reason or '未填写'}」不在规则所列之中"
                f"（可选：{'、'.join(rule.reasons)}）",
            )

    def _return_window(self, rule: StepRule, state: TicketState, event: Event) -> None:
        assert rule.within_workdays is not None
        opened = state.rounds[-1].opened_on if state.rounds else event.date
        try:
            last = self.calendar.add_workdays(
                opened, rule.within_workdays, CountingRule(self.deadlines.counting)
            )
        except CalendarYearMissing:
            return  # the window ends beyond the calendar's data: the return is in time
        late = event.date > last
        marked = bool(event.payload.get("late"))
        window = f"交办（{opened}）后 {rule.within_workdays} 个工作日内（至 {last}）"
        if late and rule.late == "refuse":
            raise self._refuse(rule, event, f"只能在{window}退回，{event.date} 已超过")
        if late and not marked:
            raise self._refuse(
                rule,
                event,
                f"{event.date} 已超过{window}的退回期限：逾期退回计为本单位延误，须写明 late: true",
            )
        if marked and not late:
            raise self._refuse(
                rule, event, f"{event.date} 在{window}，不是逾期退回，不能写 late: true"
            )

    def _extension(self, rule: StepRule, state: TicketState, event: Event) -> None:
        days = int(event.payload.get("workdays", 0))
        this_round = [x for x in state.extensions if x[2] == state.round_number]
        if rule.per_round is not None and len(this_round) >= rule.per_round:
            raise self._refuse(
                rule,
                event,
                f"本轮办理已延期 {len(this_round)} 次，每轮至多 {rule.per_round} 次",
            )
        most = rule.max_for(state.grade)
        used = sum(x[1] for x in this_round)
        if most is not None and used + days > most:
            grade = f" {state.grade} 级" if state.grade else ""
            raise self._refuse(
                rule,
                event,
                f"延长 {days} 个工作日（本轮已延长 {used} 个）超过{grade}每轮至多 {most} 个工作日",
            )
        if rule.before_due:
            due = self._resolution_due(state, event.date)
            if due is not None and event.date > due:
                raise self._refuse(rule, event, f"办结时限已于 {due} 到期，到期后不能{event.label}")

    def _resolution_due(self, state: TicketState, day: dt.date) -> dt.date | None:
        """The due date of the current round's extendable clock, as of ``day``."""
        clocks = self.evaluator.evaluate(state, day)
        open_items = [
            i
            for i in clocks.instances
            if i.clock.extend and i.stop is None and i.state != CANCELLED and i.due is not None
        ]
        if not open_items:
            return None
        return open_items[-1].due


def step_guard(ruleset: RuleSet, calendar: WorkCalendar | None = None) -> StepGuard | None:
    """The guard for a rule set (None when it has no lifecycle.yaml)."""
    if ruleset.lifecycle is None or ruleset.deadlines is None:
        return None
    chosen = calendar or ruleset.calendar
    if chosen is None:
        return None
    return StepGuard(ruleset.lifecycle, ruleset.deadlines, chosen)
