"""The deadline sweep: warnings, 督办, 通报 and 约谈 as of one day.

For every ticket the sweep evaluates the clocks as of ``as_of`` and, for each warning or
escalation step due by then, queues a notice in the outbox and records the escalation in the
ledger (``supervision.issued``, ``notice.published``, ``interview.recommended``); an overdue
clock still open on the first working day of a later month is listed in that month's 通报 too.
Each step is judged as of its own day; a sweep run late records the steps of the days it missed
but sends no notice about a clock that stopped before it ran. Notice and
event ids are derived from the ticket, the clock instance and the step, so running the sweep
again -- the same day, the next day, or on several workers at once -- issues each one exactly
once.

A clock that needs a year without calendar data blocks only itself: everything else of the
ticket, and every other ticket, is swept, and the tickets left undecided are named once in the
summary (:attr:`SweepResult.undecided`; ``huhang sweep`` then exits with status 3). Dates
computed through a provisional year are marked 暂定 in the notices and ``provisional`` in the
ledger events.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kernel.clocks.compute import (
    BREACHED,
    WARNING,
    ClockEvaluator,
    ClockInstance,
    EscalationDue,
    TicketClocks,
    marked,
)
from kernel.errors import CalendarError, InputError
from kernel.ledger.events import OFFICE, Event
from kernel.ledger.ledger import Ledger
from kernel.ledger.projection import TicketState
from kernel.storage.contract import Notice
from kernel.storage.readmodel_sql import QuietMark
from kernel.vocabulary import ESCALATION_WORDS, NOTICE_KIND_WORDS, PROVISIONAL_MARK

KIND_WORDS = NOTICE_KIND_WORDS
ESCALATION_PREFIXES = frozenset(NOTICE_KIND_WORDS[k] for k in ESCALATION_WORDS)
EVENT_OF_ACTION = {
    "supervision": "supervision.issued",
    "notice": "notice.published",
    "interview": "interview.recommended",
}
#: How many ticket ids the summary names for one missing year.
NAMED = 20


@dataclass
class SweepResult:
    """What one sweep issued."""

    as_of: dt.date
    tickets: int = 0
    notices: int = 0
    events: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: missing year -> the tickets with a clock left undecided for lack of that year's data
    undecided: dict[int, list[str]] = field(default_factory=dict)
    provisional: int = 0  # new notices with a date computed through a provisional year
    #: claims other (dead or slow) workers still held when a claimed sweep stopped waiting
    pending: list[str] = field(default_factory=list)

    @property
    def incomplete(self) -> bool:
        """Whether some tickets of the day were not swept (see ``pending``)."""
        return bool(self.pending)

    def summary(self) -> str:
        """The Chinese summary: one line, plus one line per missing year."""
        kinds = (
            "、".join(f"{KIND_WORDS.get(k, k)} {n}" for k, n in sorted(self.by_kind.items()))
            or "无"
        )
        lines = [
            f"{self.as_of} 巡查 {self.tickets} 件：新发通知 {self.notices} 条（{kinds}），"
            f"记录督办事件 {self.events} 条"
            + (f"；其中 {self.provisional} 条按暂定日历计算" if self.provisional else "")
        ]
        for year, ids in sorted(self.undecided.items()):
            named = ", ".join(sorted(ids)[:NAMED]) + (
                f" 等 {len(ids)} 件" if len(ids) > NAMED else ""
            )
            lines.append(
                f"{len(ids)} 件因缺少 {year} 年日历未能计算：{named}"
                f"（导入 {year} 年放假安排通知后重新巡查：huhang calendar import）"
            )
        if self.pending:
            lines[0] += "；巡查未完成：其他进程占用的办理单尚未巡查，请稍后重新运行 huhang sweep"
        return "\n".join(lines)

    def merge(self, other: SweepResult) -> None:
        """Add another part's counts (several batches of one sweep)."""
        self.tickets += other.tickets
        self.notices += other.notices
        self.events += other.events
        self.provisional += other.provisional
        for kind, count in other.by_kind.items():
            self.by_kind[kind] = self.by_kind.get(kind, 0) + count
        self.errors.extend(other.errors)
        for year, ids in other.undecided.items():
            self.undecided.setdefault(year, []).extend(ids)


def in_shard(ticket_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether worker ``shard = (k, n)`` owns a ticket (stable hash; None owns all)."""
    if shard is None:
        return True
    k, n = shard
    return zlib.crc32(ticket_id.encode("utf-8")) % n == k


def _warning(state: TicketState, item: ClockInstance) -> Notice:
    assert item.due is not None  # a warning is only due for a known due date
    due = marked(item.due, item.due_provisional)
    data: dict[str, Any] = {"clock": item.clock.id, "key": item.key, "due": item.due.isoformat()}
    if item.provisional:
        data["provisional"] = True
    return Notice(
        notice_id=f"预警:{state.ticket_id}:{item.key}",
        kind="warning",
        unit="、".join(item.owners),
        title=f"办理单 {state.ticket_id}「{item.clock.title}」将于 {due} 到期",
        body=(
            f"{state.ticket.data['enterprise']['name']}：{state.ticket.data['summary']}\n"
            f"时限：{item.clock.title}（{item.clock.clause}），到期日 {due}。请按时办理。"
            + _provisional_line(item.provisional)
        ),
        day=item.warning_on or item.due,
        ticket_id=state.ticket_id,
        data=data,
    )


def _provisional_line(provisional: bool) -> str:
    if not provisional:
        return ""
    return "\n注：日期按暂定日历计算（当年放假安排尚未公布，未计调休），正式通知公布后可能变化。"


def _escalation(state: TicketState, item: ClockInstance, esc: EscalationDue, unit: str) -> Notice:
    assert item.due is not None  # escalation follows a known due date
    word = NOTICE_KIND_WORDS.get(esc.step.action, esc.step.action)
    month = f"（列入 {esc.month} 通报）" if esc.month and esc.step.action != "supervision" else ""
    provisional = esc.provisional or item.due_provisional
    data: dict[str, Any] = {
        "clock": item.clock.id,
        "key": item.key,
        "step": esc.step.id,
        "month": esc.month,
    }
    if provisional:
        data["provisional"] = True
    # a 通报 repeated in a later month is a notice of its own (the first keeps its old id)
    again = f":{esc.month}" if esc.repeat else ""
    return Notice(
        notice_id=f"{word}:{state.ticket_id}:{item.key}:{unit}{again}",
        kind=esc.step.action,
        unit=unit,
        title=f"办理单 {state.ticket_id}「{item.clock.title}」超期{month}"
        + (PROVISIONAL_MARK if provisional else ""),
        body=(
            f"{state.ticket.data['enterprise']['name']}：{state.ticket.data['summary']}\n"
            f"{item.clock.title}，到期日 {marked(item.due, item.due_provisional)}，"
            f"截至 {marked(esc.day, esc.provisional)} 已超期。"
            f"依据：{esc.step.title}（{esc.step.clause}）。" + _provisional_line(provisional)
        ),
        day=esc.day,
        ticket_id=state.ticket_id,
        data=data,
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
                        # a step dated through a provisional year stays on record as such
                        **({"provisional": True} if notice.data.get("provisional") else {}),
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
    """Issue every warning and escalation due by ``as_of``; safe to repeat.

    Without ``states``, on a backend whose read model is current, only the tickets the sweep's
    index (:mod:`kernel.clocks.index`) does not mark quiet are read and evaluated.
    """
    if states is None and ledger.storage.has_read_model and ledger.storage.read_model_current():
        return _sweep_indexed(ledger, evaluator, as_of, shard)
    tickets = states if states is not None else ledger.project(until=as_of).tickets.values()
    return _sweep(ledger, evaluator, as_of, tickets, shard, None)


#: tickets evaluated (and their notices stored) per round of an indexed sweep
SWEEP_BATCH = 1000


def _sweep_indexed(
    ledger: Ledger, evaluator: ClockEvaluator, as_of: dt.date, shard: tuple[int, int] | None
) -> SweepResult:
    """The sweep over the tickets not marked quiet; marks those it finds quiet."""
    from kernel.clocks.index import evaluator_key
    from kernel.ledger.readmodel import ReadModel

    key = evaluator_key(evaluator)
    ids = [t for t in ledger.storage.sweep_candidates(as_of, key) if in_shard(t, shard)]
    model = ReadModel(ledger)
    total = SweepResult(as_of)
    for start in range(0, len(ids), SWEEP_BATCH):
        marks: list[QuietMark] = []
        states = list(model.states(ids[start : start + SWEEP_BATCH], until=as_of))
        total.merge(_sweep(ledger, evaluator, as_of, states, None, marks))
        ledger.storage.mark_quiet(marks, key)
    return total


def _sweep(
    ledger: Ledger,
    evaluator: ClockEvaluator,
    as_of: dt.date,
    tickets: Iterable[TicketState],
    shard: tuple[int, int] | None,
    marks: list[QuietMark] | None,
) -> SweepResult:
    from kernel.clocks.index import next_check

    result = SweepResult(as_of)
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
        for year in clocks.missing_years:
            result.undecided.setdefault(year, []).append(state.ticket_id)
        until = next_check(state, clocks, evaluator) if marks is not None else None
        if marks is not None and until is not None:
            marks.append(quiet_mark(state, clocks, until))
        for item in clocks.instances:
            if item.state == WARNING and item.warning_on is not None and item.warning_on <= as_of:
                notices.append(_warning(state, item))
        done = {i.key for i in clocks.instances if i.stop is not None and i.stop <= as_of}
        for notice, event in escalations(state, clocks):
            # A catch-up sweep records what was due on each day it catches up on, but notifies
            # no one about work that was finished before it ran.
            if notice.data.get("key") not in done:
                notices.append(notice)
            events.append(event)
    new = ledger.add_notices(notices)
    result.notices = len(new)
    for notice in new:
        result.by_kind[notice.kind] = result.by_kind.get(notice.kind, 0) + 1
        result.provisional += int(bool(notice.data.get("provisional")))
    if events and marks is not None:  # indexed: leave out what is on record already
        on_record = ledger.storage.stored_events([str(e["event_id"]) for e in events])
        events = [e for e in events if not _recorded(e, on_record)]
    outcomes = ledger.submit_many([(e, None, ()) for e in events]) if events else []
    for outcome in outcomes:
        if isinstance(outcome, InputError):
            result.errors.append(str(outcome))
        elif outcome.accepted:
            result.events += 1
    return result


def quiet_mark(state: TicketState, clocks: TicketClocks, until: dt.date) -> QuietMark:
    """What the read model keeps of a sweep's look at a ticket quiet until ``until``: whether
    a clock is overdue and each clock instance's due date, stop, state and owners."""
    rows = tuple(
        (
            item.key,
            item.clock.id,
            None if item.due is None else item.due.isoformat(),
            None if item.stop is None else item.stop.isoformat(),
            item.state,
            json.dumps(list(item.owners), ensure_ascii=False),
        )
        for item in clocks.instances
    )
    return QuietMark(
        state.ticket_id,
        int(state.events[-1].seq or 0),
        clocks.as_of,
        until,
        any(item.state == BREACHED for item in clocks.instances),
        rows,
    )


def _recorded(event: dict[str, Any], on_record: dict[str, Event]) -> bool:
    """Whether ``event`` is stored already, with the same content (a resubmission)."""
    stored = on_record.get(str(event["event_id"]))
    return stored is not None and stored.content_json() == Event.from_dict(event).content_json()


def sweep_claimed(
    ledger: Ledger,
    evaluator: ClockEvaluator,
    as_of: dt.date,
    worker: str,
    *,
    lease: dt.timedelta | None = None,
    wait: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SweepResult:
    """Sweep with work claimed from a shared store (PostgreSQL: ``FOR UPDATE SKIP LOCKED``).

    Several processes may run this for the same day at once: each claims batches of tickets
    until none are left -- the tickets the sweep's index does not mark quiet, as in one
    process, and it marks those it finds quiet -- so every ticket is swept by one worker, and
    the notice and event ids keep every escalation single even if a lease runs out and a batch
    is swept twice.

    When nothing is left to claim but other workers still hold claims, this waits -- at most
    ``wait`` seconds, one lease by default -- for them to finish, and sweeps the tickets of a
    worker that died once its lease runs out. Claims still held after that are listed in the
    result's ``pending``: the sweep is incomplete, and running it again finishes them.
    """
    from kernel.clocks.index import evaluator_key
    from kernel.ledger.ledger import Projector
    from kernel.storage.postgres import SWEEP_LEASE

    storage: Any = ledger.storage
    key = evaluator_key(evaluator)
    options: dict[str, Any] = {} if lease is None else {"lease": lease}
    patience = (lease or SWEEP_LEASE).total_seconds() + 1 if wait is None else wait
    total = SweepResult(as_of)
    give_up: float | None = None
    while True:
        ids = storage.claim_tickets(as_of, worker, key=key, **options)
        if not ids:
            held = storage.held_claims(as_of, worker, **options)
            if not held:
                return total
            give_up = clock() + patience if give_up is None else give_up
            if clock() >= give_up:
                total.pending = [
                    f"{count} 件办理单由 {who} 占用（租约到 {until:%H:%M:%S} UTC）"
                    for who, count, until in held
                ]
                return total
            sleep(min(1.0, max(give_up - clock(), 0.0)))
            continue
        give_up = None
        projector = Projector(ledger.reference).feed_all(
            storage.ticket_batch_events(ids, until=as_of)
        )
        marks: list[QuietMark] = []
        states = [projector.tickets[t] for t in ids if t in projector.tickets]
        total.merge(_sweep(ledger, evaluator, as_of, states, None, marks))
        storage.mark_quiet(marks, key)
