"""The deadline sweep: warnings, 督办, 通报 and 约谈 as of one day.

For every ticket the sweep evaluates the clocks as of ``as_of`` and, for each warning or
escalation step due by then, queues a notice in the outbox and records the escalation in the
ledger (``supervision.issued``, ``notice.published``, ``interview.recommended``). Notice and
event ids are derived from the ticket, the clock instance and the step, so running the sweep
again -- the same day, the next day, or on several workers at once -- issues each one exactly
once.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kernel.clocks.compute import (
    WARNING,
    ClockEvaluator,
    ClockInstance,
    EscalationDue,
    TicketClocks,
)
from kernel.errors import CalendarError, InputError
from kernel.ledger.events import OFFICE
from kernel.ledger.ledger import Ledger
from kernel.ledger.projection import TicketState
from kernel.storage.contract import Notice
from kernel.vocabulary import ESCALATION_WORDS, NOTICE_KIND_WORDS

KIND_WORDS = NOTICE_KIND_WORDS
ESCALATION_PREFIXES = frozenset(NOTICE_KIND_WORDS[k] for k in ESCALATION_WORDS)
EVENT_OF_ACTION = {
    "supervision": "supervision.issued",
    "notice": "notice.published",
    "interview": "interview.recommended",
}


@dataclass
class SweepResult:
    """What one sweep issued."""

    as_of: dt.date
    tickets: int = 0
    notices: int = 0
    events: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One Chinese line."""
        kinds = (
            "、".join(f"{KIND_WORDS.get(k, k)} {n}" for k, n in sorted(self.by_kind.items()))
            or "无"
        )
        return f"{self.as_of} 巡查 {self.tickets} 件：新发通知 {self.notices} 条（{kinds}），记录督办事件 {self.events} 条"


def in_shard(ticket_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether worker ``shard = (k, n)`` owns a ticket (stable hash; None owns all)."""
    if shard is None:
        return True
    k, n = shard
    return zlib.crc32(ticket_id.encode("utf-8")) % n == k


def _warning(state: TicketState, item: ClockInstance) -> Notice:
    return Notice(
        notice_id=f"预警:{state.ticket_id}:{item.key}",
        kind="warning",
        unit="、".join(item.owners),
        title=f"【预警】办理单 {state.ticket_id}「{item.clock.title}」将于 {item.due} 到期",
        body=(
            f"{state.ticket.data['enterprise']['name']}：{state.ticket.data['summary']}\n"
            f"时限：{item.clock.title}（{item.clock.clause}），到期日 {item.due}。请按时办理。"
        ),
        day=item.warning_on or item.due,
        ticket_id=state.ticket_id,
        data={"clock": item.clock.id, "key": item.key, "due": item.due.isoformat()},
    )


def _escalation(state: TicketState, item: ClockInstance, esc: EscalationDue, unit: str) -> Notice:
    word = NOTICE_KIND_WORDS.get(esc.step.action, esc.step.action)
    month = f"（列入 {esc.month} 通报）" if esc.month and esc.step.action != "supervision" else ""
    return Notice(
        notice_id=f"{word}:{state.ticket_id}:{item.key}:{unit}",
        kind=esc.step.action,
        unit=unit,
        title=f"【{word}】办理单 {state.ticket_id}「{item.clock.title}」超期{month}",
        body=(
            f"{state.ticket.data['enterprise']['name']}：{state.ticket.data['summary']}\n"
            f"{item.clock.title}，到期日 {item.due}，截至 {esc.day} 已超期。"
            f"依据：{esc.step.title}（{esc.step.clause}）。"
        ),
        day=esc.day,
        ticket_id=state.ticket_id,
        data={"clock": item.clock.id, "key": item.key, "step": esc.step.id, "month": esc.month},
    )


def escalations(state: TicketState, clocks: TicketClocks) -> list[tuple[Notice, dict[str, Any]]]:
    """The notice and the ledger event of every escalation step due in ``clocks``."""
    out = []
    for item in clocks.instances:
        for esc in item.escalations:
            for unit in esc.units:
                notice = _escalation(state, item, esc, unit)
                event = {
                    "event_id": notice.notice_id,
                    "type": EVENT_OF_ACTION[esc.step.action],
                    "date": esc.day.isoformat(),
                    "actor": OFFICE,
                    "ticket_id": state.ticket_id,
                    "payload": {
                        "unit": unit,
                        "clock": item.key,
                        **({"month": esc.month} if esc.month else {}),
                        "reason": esc.step.title,
                    },
                }
                out.append((notice, event))
    return out


def is_sweep_event(event_id: str) -> bool:
    """Whether a ledger event was recorded by the sweep (its id is a notice id)."""
    return event_id.split(":", 1)[0] in ESCALATION_PREFIXES


def sweep(
    ledger: Ledger,
    evaluator: ClockEvaluator,
    as_of: dt.date,
    *,
    states: Iterable[TicketState] | None = None,
    shard: tuple[int, int] | None = None,
) -> SweepResult:
    """Issue every warning and escalation due by ``as_of``; safe to repeat."""
    result = SweepResult(as_of)
    tickets = states if states is not None else ledger.project(until=as_of).tickets.values()
    notices: list[Notice] = []
    events: list[dict[str, Any]] = []
    for state in tickets:
        if not in_shard(state.ticket_id, shard):
            continue
        result.tickets += 1
        try:
            clocks = evaluator.evaluate(state, as_of)
        except CalendarError as exc:
            result.errors.append(f"{state.ticket_id}：{exc}")
            continue
        for item in clocks.instances:
            if item.state == WARNING and item.warning_on is not None and item.warning_on <= as_of:
                notices.append(_warning(state, item))
        for notice, event in escalations(state, clocks):
            notices.append(notice)
            events.append(event)
    new = ledger.add_notices(notices)
    result.notices = len(new)
    for notice in new:
        result.by_kind[notice.kind] = result.by_kind.get(notice.kind, 0) + 1
    outcomes = ledger.submit_many([(e, None, ()) for e in events]) if events else []
    for outcome in outcomes:
        if isinstance(outcome, InputError):
            result.errors.append(str(outcome))
        elif outcome.accepted:
            result.events += 1
    return result


def sweep_claimed(
    ledger: Ledger, evaluator: ClockEvaluator, as_of: dt.date, worker: str
) -> SweepResult:
    """Sweep with work claimed from a shared store (PostgreSQL: ``FOR UPDATE SKIP LOCKED``).

    Several processes may run this for the same day at once: each claims batches of tickets
    until none are left, so every ticket is swept by one worker, and the notice and event ids
    keep every escalation single even if a lease runs out and a batch is swept twice.
    """
    from kernel.ledger.ledger import Projector

    storage: Any = ledger.storage
    total = SweepResult(as_of)
    while True:
        ids = storage.claim_tickets(as_of, worker)
        if not ids:
            return total
        projector = Projector(ledger.reference).feed_all(
            storage.ticket_batch_events(ids, until=as_of)
        )
        part = sweep(ledger, evaluator, as_of, states=projector.tickets.values())
        total.tickets += part.tickets
        total.notices += part.notices
        total.events += part.events
        for kind, count in part.by_kind.items():
            total.by_kind[kind] = total.by_kind.get(kind, 0) + count
        total.errors.extend(part.errors)
