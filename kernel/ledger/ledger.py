"""The append-only ledger: validate, check the transition, store, then tell the plugins.

The ledger is the truth: ticket and enterprise states are projections of its events
(:mod:`kernel.ledger.projection`), rebuilt by replaying them.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, cast

from kernel.errors import InputError
from kernel.inputs.sourcefile import PathKey, SourceDoc
from kernel.ledger import checkfirst
from kernel.ledger.events import (
    ENTERPRISE_EVENTS,
    OFFICE,
    TICKET_EVENTS,
    Event,
    decode_stored,
    validate_event,
)
from kernel.ledger.projection import (
    Enterprise,
    TicketState,
    TransitionRejected,
    apply_enterprise,
    apply_ticket,
)
from kernel.ledger.rows import (
    ModelRows,
    enterprise_row,
    enterprise_unit_rows,
    ticket_row,
    unit_rows,
)
from kernel.rules.reference import Reference
from kernel.storage.contract import (
    CheckedFirstTransaction,
    Notice,
    ReadModelTransaction,
    Storage,
    Transaction,
)
from kernel.vocabulary import GRADES

if TYPE_CHECKING:
    from kernel.evaluation.decisions import Evaluation, RouteResult
    from kernel.evaluation.kernel import Kernel
    from kernel.evaluation.ticket import Ticket
    from kernel.plugins import PluginHost

log = logging.getLogger("huhang.ledger")

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
#: event types after which a ticket that is still only reported is graded first (ingest --grade)
_NOT_BEFORE_GRADING = frozenset({"ticket.collected", "ticket.reported", "ticket.graded"})
#: ticket states a ledger keeps between batches (then it starts afresh)
STATE_CACHE = 100_000


#: A check of a step against the rules in force (rules/lifecycle.yaml): given the ticket before
#: the event and the event, it raises :class:`TransitionRejected` to refuse the step. The
#: ledger consults it for new events only, after the projection has found the step legal.
StepCheck = Callable[[TicketState, Event], None]


class EventConflict(InputError):
    """An event id that is already stored with different content."""


@dataclass(frozen=True)
class SubmitResult:
    """What became of one submitted event."""

    status: str  # accepted | duplicate
    event: Event

    @property
    def accepted(self) -> bool:
        """True when the event was stored by this submission."""
        return self.status == ACCEPTED


def replay_enterprise(events: Iterable[Event]) -> Enterprise | None:
    """The enterprise state after its events."""
    state: Enterprise | None = None
    for event in events:
        state = apply_enterprise(state, event)
    return state


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a replay builds millions of objects.

    Replays create no reference cycles worth collecting, and the collector's full passes over a
    growing heap made a 10⁶-event replay 1.8× slower (docs/internals/benchmarks.md, R3).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _route_slots(route: RouteResult, lead_unit: str) -> dict[str, Any]:
    return {
        "primary": route.primary.unit if route.primary else None,
        "co_handlers": [a.unit for a in route.co_handlers],
        "feedback_owner": route.feedback_owner.unit if route.feedback_owner else lead_unit,
        "coordinators": [a.unit for a in route.coordinators],
        "agenda": route.agenda,
        "report_upward": route.report_upward,
    }


def graded_payload(
    evaluation: Evaluation,
    lead_unit: str,
    kernel: Kernel | None = None,
    ticket: Ticket | None = None,
) -> dict[str, Any]:
    """The payload of a ``ticket.graded`` event recording what the rules decided.

    With the ``kernel`` and the ``ticket``, it also records under ``by_grade`` the slots of the
    route that the rules would give for each other grade, so that an override of the grade
    carries the grade's consequences (coordinators, agenda, report upward) from the ledger
    alone (docs/policy.md §2.4).
    """
    route = _route_slots(evaluation.route, lead_unit)
    payload: dict[str, Any] = {
        "grade": evaluation.grade.grade,
        "grade_rule": evaluation.grade.decision.rule.id if evaluation.grade.decision else "",
        "route": route,
        "route_rules": [d.rule.id for d in evaluation.route.matched],
        "rules": evaluation.rules,
    }
    if kernel is not None and ticket is not None:
        by_grade: dict[str, dict[str, Any]] = {}
        for grade in GRADES:
            if grade == evaluation.grade.grade:
                continue
            other = _route_slots(kernel.route_for(ticket, grade), lead_unit)
            changed = {slot: value for slot, value in other.items() if value != route[slot]}
            if changed:
                by_grade[grade] = changed
        if by_grade:
            payload["by_grade"] = by_grade
    return payload


def _before(events: Iterable[Event], first: Event | None) -> Iterator[Event]:
    """The enterprise's events stored before a ticket was collected (its context then)."""
    limit = first.seq if first is not None and first.seq is not None else None
    for event in events:
        if limit is None or (event.seq or 0) < limit:
            yield event


class Projector:
    """Replays events in ledger order into enterprise and ticket states."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        self.enterprises: dict[str, Enterprise] = {}
        self.tickets: dict[str, TicketState] = {}

    def feed(self, event: Event) -> None:
        """Apply one stored event (events are trusted: they passed these checks once)."""
        if event.type in ENTERPRISE_EVENTS:
            code = str(event.enterprise)
            self.enterprises[code] = apply_enterprise(self.enterprises.get(code), event)
        elif event.type in TICKET_EVENTS:
            ticket_id = str(event.ticket_id)
            current = self.tickets.get(ticket_id)
            enterprise = self.enterprises.get(str(event.enterprise)) if current is None else None
            self.tickets[ticket_id] = apply_ticket(
                current, event, enterprise=enterprise, reference=self.reference, trusted=True
            )

    def feed_all(self, events: Iterable[Event]) -> Projector:
        """Apply many events; returns self."""
        for event in events:
            self.feed(event)
        return self


class StateView(Protocol):
    """Where a check finds the current states: the stored events (one at a time) or a batch's
    states in memory."""

    def ticket(self, ticket_id: str) -> TicketState | None:
        """The ticket's state, None if it does not exist."""

    def enterprise(self, code: str) -> Enterprise | None:
        """The enterprise's current state, None if it is not registered."""


class _StoredView:
    """States replayed from the stored events inside a transaction (backends without a read
    model)."""

    def __init__(self, tx: Transaction, reference: Reference) -> None:
        self.tx = tx
        self.reference = reference

    def ticket(self, ticket_id: str) -> TicketState | None:
        history = [e for e in self.tx.ticket_events(ticket_id) if e.type in TICKET_EVENTS]
        if not history:
            return None
        enterprise = replay_enterprise(
            _before(self.tx.enterprise_events(str(history[0].enterprise)), history[0])
        )
        state: TicketState | None = None
        for past in history:  # stored events passed these checks once: trusted
            state = apply_ticket(
                state, past, enterprise=enterprise, reference=self.reference, trusted=True
            )
        return state

    def enterprise(self, code: str) -> Enterprise | None:
        return replay_enterprise(self.tx.enterprise_events(code))


def _with_seq(event: Event, seq: int) -> Event:
    """``replace(event, seq=seq)`` without its per-call field walk (Event has no
    ``__post_init__``, so copying the attributes is equivalent)."""
    new = object.__new__(Event)
    values = dict(event.__dict__)
    values["seq"] = seq
    object.__setattr__(new, "__dict__", values)
    return new


class _Batch:
    """One write transaction on a backend with a read model: checks against states in memory.

    Tickets and enterprises the batch touches are loaded once (their own events only), checked
    and advanced in memory; at the end the new events and the changed read-model rows are
    stored with a few batched statements, in the same transaction.
    """

    def __init__(
        self,
        ledger: Ledger,
        tx: ReadModelTransaction,
        graded: dict[str, tuple[tuple[str, Ticket], dict[str, Any] | InputError]] | None = None,
    ) -> None:
        self.ledger = ledger
        self.tx = tx
        #: per ticket, (its report's id, the ticket) graded and the ticket.graded data (or the
        #: refusal): a batch checked again after a check-first attempt does not grade the same
        #: report of the same ticket twice
        self.graded = {} if graded is None else graded
        self.tickets: dict[str, TicketState | None] = {}
        self.enterprises: dict[str, Enterprise | None] = {}
        self.enterprise_seq: dict[str, int] = {}
        self.enterprise_history: dict[str, list[Event]] = {}
        self.known: dict[str, Event] = {}  # stored events of the batch's ids, and its new ones
        self.pending: list[Event] = []
        self.touched_tickets: set[str] = set()
        self.touched_enterprises: set[str] = set()
        if tx.read_model_seq() != tx.last_seq():
            ledger.rebuild_read_model(tx)
        self.seq = tx.last_seq()
        #: what the checks read (kernel.ledger.checkfirst compares it under the ledger lock):
        #: the last seq of each ticket and enterprise state consulted (0: none), the ids asked
        self.base = self.seq
        self.read_tickets: dict[str, int] = {}
        self.read_enterprises: dict[str, int] = {}
        self.asked: set[str] = set()

    def prefetch(self, events: list[Event]) -> None:
        """Load what checking ``events`` needs in a few queries: the stored events of their ids,
        the states of their tickets (kept from earlier batches while the stored row is still at
        their seq, else replayed from the ticket's events) and their enterprises' events."""
        self.known.update(self.tx.get_many([e.event_id for e in events]))
        wanted = {e.ticket_id for e in events if e.ticket_id is not None} - set(self.tickets)
        cache = self.ledger._states
        if cache and wanted:
            for ticket_id, seq in self.tx.ticket_seqs(sorted(wanted & set(cache))).items():
                state = cache[ticket_id]
                if state.events[-1].seq == seq:
                    self.tickets[ticket_id] = state
                    wanted.discard(ticket_id)
        found = self.tx.ticket_events_many(sorted(wanted)) if wanted else {}
        codes = {str(e.enterprise) for e in events if e.enterprise is not None}
        codes |= {str(h[0].enterprise) for h in found.values() if h and h[0].enterprise}
        codes -= set(self.enterprise_history)
        if codes:
            self.enterprise_history.update(self.tx.enterprise_events_many(sorted(codes)))
        for ticket_id in wanted:
            self.tickets[ticket_id] = self._replay(found.get(ticket_id, []))
        for ticket_id, loaded in self.tickets.items():
            self.read_tickets.setdefault(ticket_id, checkfirst.last_seq(loaded))

    def _replay(self, events: list[Event]) -> TicketState | None:
        history = [e for e in events if e.type in TICKET_EVENTS]
        if not history:
            return None
        code = str(history[0].enterprise)
        if code not in self.enterprise_history:
            self.enterprise_history[code] = self.tx.enterprise_events(code)
        enterprise = replay_enterprise(_before(self.enterprise_history[code], history[0]))
        state: TicketState | None = None
        for past in history:
            state = apply_ticket(
                state, past, enterprise=enterprise, reference=self.ledger.reference, trusted=True
            )
        return state

    def ticket(self, ticket_id: str) -> TicketState | None:
        if ticket_id not in self.tickets:
            state = self.tickets[ticket_id] = self._replay(self.tx.ticket_events(ticket_id))
            self.read_tickets[ticket_id] = checkfirst.last_seq(state)
        return self.tickets[ticket_id]

    def enterprise(self, code: str) -> Enterprise | None:
        if code not in self.enterprises:
            history = self.enterprise_history.get(code)
            if history is None:
                history = self.enterprise_history[code] = self.tx.enterprise_events(code)
            self.enterprises[code] = replay_enterprise(history)
            self.read_enterprises[code] = int(history[-1].seq or 0) if history else 0
            if history:
                self.enterprise_seq[code] = int(history[-1].seq or 0)
        return self.enterprises[code]

    def store(self, event: Event) -> SubmitResult:
        """Check and queue one validated event (or find it already stored)."""
        self.asked.add(event.event_id)
        existing = self.known.get(event.event_id)
        if existing is not None:
            if existing.content_json() != event.content_json():
                raise EventConflict(
                    f"事件编号 {event.event_id} 已存在（{existing.label}，{existing.date}），内容不同；"
                    "台账只能追加，不能修改已有事件"
                )
            return SubmitResult(DUPLICATE, existing)
        stored = _with_seq(event, self.seq + 1)
        self._check(stored)
        self.seq += 1
        self.known[event.event_id] = stored
        self.pending.append(stored)
        return SubmitResult(ACCEPTED, stored)

    def _check(self, event: Event) -> None:
        after = self.ledger.check_event(self, event)
        if isinstance(after, Enterprise):
            code = str(event.enterprise)
            self.enterprises[code] = after
            self.enterprise_seq[code] = int(event.seq or 0)
            self.touched_enterprises.add(code)
        elif isinstance(after, TicketState):
            self.tickets[after.ticket_id] = after
            self.touched_tickets.add(after.ticket_id)

    def grade_if_reported(
        self, ticket_id: str | None, kernel: Kernel, recorded_by: str | None = None
    ) -> list[tuple[str, SubmitResult | InputError]]:
        """Grade ``ticket_id`` in this batch if it is reported but not yet graded."""
        if ticket_id is None:
            return []
        state = self.ticket(ticket_id)
        if state is None or state.state != "reported" or state.events[-1].type != "ticket.reported":
            return []
        ledger = self.ledger
        graded = (state.events[-1].event_id, state.ticket)
        earlier = self.graded.get(ticket_id)
        if earlier is not None and earlier[0] == graded:
            found = earlier[1]
        else:
            try:
                found = ledger._graded_event(
                    state, kernel, state.events[-1].date, f"{ticket_id}:graded"
                )
            except InputError as exc:
                found = exc
            self.graded[ticket_id] = (graded, found)
        if isinstance(found, InputError):
            return [(ticket_id, found)]
        try:
            data = dict(found)
            if recorded_by is not None:
                data["recorded_by"] = recorded_by
            return [(ticket_id, self.store(ledger._validated(data, None, ())))]
        except InputError as exc:
            return [(ticket_id, exc)]

    def run(
        self, checked: list[Event | InputError], kernel: Kernel | None, recorded_by: str | None
    ) -> tuple[list[SubmitResult | InputError], list[tuple[str, SubmitResult | InputError]]]:
        """Check and queue validated events in order (grading reported tickets with a
        ``kernel``): each item's outcome, and the gradings."""
        outcomes: list[SubmitResult | InputError] = []
        grades: list[tuple[str, SubmitResult | InputError]] = []
        for item in checked:
            if isinstance(item, InputError):
                outcomes.append(item)
                continue
            try:
                if kernel is not None and item.type not in _NOT_BEFORE_GRADING:
                    grades += self.grade_if_reported(item.ticket_id, kernel, recorded_by)
                outcomes.append(self.store(item))
                if kernel is not None and item.type == "ticket.reported":
                    grades += self.grade_if_reported(item.ticket_id, kernel, recorded_by)
            except InputError as exc:
                outcomes.append(exc)
        return outcomes, grades

    def finish(self) -> None:
        """Store the queued events and the changed rows (still inside the transaction)."""
        if not self.pending:
            return
        self.tx.insert_many(self.pending)
        tickets = []
        units: list[tuple[Any, ...]] = []
        for ticket_id in sorted(self.touched_tickets):
            state = self.tickets[ticket_id]
            if state is not None:
                tickets.append(ticket_row(state))
                units.extend(unit_rows(state))
        enterprises = []
        enterprise_units: list[tuple[Any, ...]] = []
        for code in sorted(self.touched_enterprises):
            company = self.as_stored(code)
            if company is not None:
                enterprises.append(enterprise_row(company, self.enterprise_seq[code]))
                enterprise_units.extend(enterprise_unit_rows(company))
        self.tx.put_read_model(tickets, enterprises, self.seq, units, enterprise_units)

    def as_stored(self, code: str) -> Enterprise | None:
        """The enterprise as a replay of the stored events gives it, its row's "四个一" in the
        same field order: its stored history, then the batch's own events as they will read
        back (a stored body's fields are sorted; the submitted payloads need not be)."""
        own = [
            decode_stored(e.to_json(), int(e.seq or 0))
            for e in self.pending
            if e.type in ENTERPRISE_EVENTS and e.enterprise == code
        ]
        if not own:
            return self.enterprises[code]
        return replay_enterprise([*self.enterprise_history.get(code, []), *own])

    def committed(self) -> None:
        """Keep the batch's ticket states for the next batches (only after the commit)."""
        cache = self.ledger._states
        if len(cache) > STATE_CACHE:
            cache.clear()
        for ticket_id in self.touched_tickets:
            state = self.tickets[ticket_id]
            if state is not None:
                cache[ticket_id] = state


class Ledger:
    """Submitting and reading events on one storage backend."""

    def __init__(
        self,
        storage: Storage,
        reference: Reference,
        *,
        plugins: PluginHost | None = None,
        notifiers: Iterable[str] = (),
        guard: StepCheck | None = None,
    ) -> None:
        self.storage = storage
        self.reference = reference
        self.plugins = plugins
        self.notifiers = list(notifiers)
        self.guard = guard
        #: ticket states written by this ledger (checked against the stored row before use)
        self._states: dict[str, TicketState] = {}

    # ------------------------------------------------------------------ writing

    def submit(
        self, data: dict[str, Any] | Event, *, doc: SourceDoc | None = None, prefix: PathKey = ()
    ) -> SubmitResult:
        """Validate and store one event; a resubmitted identical event is a no-op.

        Raises :class:`kernel.ledger.events.EventInvalid` for a malformed event,
        :class:`TransitionRejected` for an illegal step and :class:`EventConflict` for a reused
        id -- in each case nothing is stored.
        """
        event = self._validated(data, doc, prefix)
        if self.storage.has_read_model:
            (outcome,), _ = self._write_batch([event], None, None)
            if isinstance(outcome, InputError):
                raise outcome
            result = outcome
        else:
            with self.storage.transaction() as tx:
                result = self._store(tx, event)
        if result.accepted:
            self._committed(result.event)
        return result

    def submit_many(
        self,
        items: Iterable[tuple[dict[str, Any] | Event, SourceDoc | None, PathKey]],
        *,
        kernel: Kernel | None = None,
        on_graded: Callable[[str, SubmitResult | InputError], None] | None = None,
        recorded_by: str | None = None,
    ) -> list[SubmitResult | InputError]:
        """Store a batch in one transaction: one commit (one fsync) for many events.

        Each event is checked against the ledger *including the batch's earlier events*; a bad
        one is skipped and its error returned in its place, the others are stored. The batch is
        acknowledged (and the plugins told) only once the transaction has committed.

        With a ``kernel``, every ticket the batch meets that is reported but not graded (its
        report, new or a duplicate, or a later event of it) is graded in the same transaction
        (``ticket.graded``, id ``<ticket>:graded``, dated the report), so no crash can leave a
        report without its grade. ``on_graded(ticket_id, outcome)`` is told of each grading
        after the commit. ``recorded_by`` (the API's principal) is recorded on those gradings.
        """
        with paused_gc():  # a batch makes ~100 objects per event and no cycles worth a pass
            return self._submit_many(items, kernel, on_graded, recorded_by)

    def _submit_many(
        self,
        items: Iterable[tuple[dict[str, Any] | Event, SourceDoc | None, PathKey]],
        kernel: Kernel | None,
        on_graded: Callable[[str, SubmitResult | InputError], None] | None,
        recorded_by: str | None,
    ) -> list[SubmitResult | InputError]:
        # Validate first, outside the transaction: a shared store's write lock is held briefly.
        checked: list[Event | InputError] = []
        for data, doc, prefix in items:
            try:
                checked.append(self._validated(data, doc, prefix))
            except InputError as exc:
                checked.append(exc)
        outcomes: list[SubmitResult | InputError] = []
        grades: list[tuple[str, SubmitResult | InputError]] = []
        if self.storage.has_read_model:
            outcomes, grades = self._write_batch(checked, kernel, recorded_by)
        else:
            self._store_each(checked, kernel, outcomes, grades, recorded_by)
        for outcome in outcomes:
            if isinstance(outcome, SubmitResult) and outcome.accepted:
                self._committed(outcome.event)
        for ticket_id, grade in grades:
            if isinstance(grade, SubmitResult) and grade.accepted:
                self._committed(grade.event)
            if on_graded is not None:
                on_graded(ticket_id, grade)
        return outcomes

    def _write_batch(
        self, checked: list[Event | InputError], kernel: Kernel | None, recorded_by: str | None
    ) -> tuple[list[SubmitResult | InputError], list[tuple[str, SubmitResult | InputError]]]:
        """``submit_many`` on a backend with a read model: one batch, one transaction (checked
        before it on a backend that :attr:`~Storage.checks_first`)."""
        if self.storage.checks_first:
            batch, outcomes, grades = self._write_checked_first(checked, kernel, recorded_by)
        else:
            with self.storage.transaction() as tx:
                batch = _Batch(self, tx)  # type: ignore[arg-type]
                batch.prefetch([e for e in checked if isinstance(e, Event)])
                outcomes, grades = batch.run(checked, kernel, recorded_by)
                batch.finish()
        batch.committed()
        return outcomes, grades

    def _write_checked_first(
        self, checked: list[Event | InputError], kernel: Kernel | None, recorded_by: str | None
    ) -> tuple[
        _Batch, list[SubmitResult | InputError], list[tuple[str, SubmitResult | InputError]]
    ]:
        """Check a batch on a snapshot, then store it under the ledger lock if nothing it read
        has moved, else check it again there (:mod:`kernel.ledger.checkfirst`)."""
        events = [e for e in checked if isinstance(e, Event)]
        graded: dict[str, tuple[tuple[str, Ticket], dict[str, Any] | InputError]] = {}
        first: _Batch | None = None
        with self.storage.snapshot() as snap:
            if snap.read_model_seq() == snap.last_seq():  # else: caught up under the lock
                first = _Batch(self, snap, graded)
                first.prefetch(events)
                outcomes, grades = first.run(checked, kernel, recorded_by)
        if first is not None and not first.pending:
            return first, outcomes, grades  # nothing to store: true at the snapshot's moment
        with self.storage.transaction() as tx:
            locked = cast("CheckedFirstTransaction", tx)
            now = None if first is None else checkfirst.versions_if_unmoved(first, locked)
            if first is not None and now is not None:
                moved = checkfirst.rebase(first, now.last_seq)
                first.tx = locked
                first.finish()
                return first, *checkfirst.renumbered(outcomes, grades, moved)
            batch = _Batch(self, locked, graded)
            batch.prefetch(events)
            outcomes, grades = batch.run(checked, kernel, recorded_by)
            batch.finish()
        return batch, outcomes, grades

    def _store_each(
        self,
        checked: list[Event | InputError],
        kernel: Kernel | None,
        outcomes: list[SubmitResult | InputError],
        grades: list[tuple[str, SubmitResult | InputError]],
        recorded_by: str | None,
    ) -> None:
        """``submit_many`` on a backend without a read model: one event at a time."""
        with self.storage.transaction() as tx:
            for item in checked:
                if isinstance(item, InputError):
                    outcomes.append(item)
                    continue
                try:
                    if kernel is not None and item.type not in _NOT_BEFORE_GRADING:
                        grades += self._grade_if_reported(tx, item.ticket_id, kernel, recorded_by)
                    outcomes.append(self._store(tx, item))
                    if kernel is not None and item.type == "ticket.reported":
                        grades += self._grade_if_reported(tx, item.ticket_id, kernel, recorded_by)
                except InputError as exc:
                    outcomes.append(exc)

    def _grade_if_reported(
        self,
        tx: Transaction,
        ticket_id: str | None,
        kernel: Kernel,
        recorded_by: str | None = None,
    ) -> list[tuple[str, SubmitResult | InputError]]:
        """Grade ``ticket_id`` inside ``tx`` if it is reported but not yet graded."""
        if ticket_id is None:
            return []
        history = [e for e in tx.ticket_events(ticket_id) if e.type in TICKET_EVENTS]
        if not history or history[-1].type != "ticket.reported":
            return []  # the only event that leaves a ticket in the reported state
        enterprise = replay_enterprise(
            _before(tx.enterprise_events(str(history[0].enterprise)), history[0])
        )
        state: TicketState | None = None
        for past in history:
            state = apply_ticket(
                state, past, enterprise=enterprise, reference=self.reference, trusted=True
            )
        if state is None or state.state != "reported":
            return []
        try:
            data = self._graded_event(state, kernel, history[-1].date, f"{ticket_id}:graded")
            if recorded_by is not None:
                data["recorded_by"] = recorded_by
            event = self._validated(data, None, ())
            return [(ticket_id, self._store(tx, event))]
        except InputError as exc:
            return [(ticket_id, exc)]

    def _graded_event(
        self, state: TicketState, kernel: Kernel, day: dt.date, event_id: str
    ) -> dict[str, Any]:
        """The ``ticket.graded`` event recording what the rules decide for ``state``."""
        evaluation = kernel.evaluate(state.ticket)
        if self.plugins is not None:
            self.plugins.decision_made(state.ticket_id, evaluation)
        if evaluation.grade.grade is None or evaluation.route.primary is None:
            raise InputError(
                f"规则未能确定办理单 {state.ticket_id} 的等级或主办单位，请用 huhang explain 查看"
            )
        return {
            "event_id": event_id,
            "type": "ticket.graded",
            "date": day.isoformat(),
            "actor": OFFICE,
            "ticket_id": state.ticket_id,
            "payload": graded_payload(evaluation, state.lead_unit, kernel, state.ticket),
        }

    def grade_reported(
        self, ticket_ids: Iterable[str], kernel: Kernel
    ) -> list[tuple[str, SubmitResult | InputError]]:
        """Grade each ticket that is still reported but ungraded (``huhang ledger check``)."""
        outcomes: list[tuple[str, SubmitResult | InputError]] = []
        for ticket_id in ticket_ids:
            with self.storage.transaction() as tx:
                if self.storage.has_read_model:
                    batch = _Batch(self, tx)  # type: ignore[arg-type]
                    found = batch.grade_if_reported(ticket_id, kernel)
                    batch.finish()
                else:
                    found = self._grade_if_reported(tx, ticket_id, kernel)
            for _, grade in found:
                if isinstance(grade, SubmitResult) and grade.accepted:
                    self._committed(grade.event)
            outcomes += found
        return outcomes

    def _validated(
        self, data: dict[str, Any] | Event, doc: SourceDoc | None, prefix: PathKey
    ) -> Event:
        # An Event object is checked like a mapping: nothing enters the ledger unvalidated.
        raw = data.to_dict() if isinstance(data, Event) else data
        return validate_event(raw, self.reference, doc=doc, prefix=prefix)

    def _store(self, tx: Transaction, event: Event) -> SubmitResult:
        existing = tx.get(event.event_id)
        if existing is not None:
            if existing.content_json() != event.content_json():
                raise EventConflict(
                    f"事件编号 {event.event_id} 已存在（{existing.label}，{existing.date}），内容不同；"
                    "台账只能追加，不能修改已有事件"
                )
            return SubmitResult(DUPLICATE, existing)
        self._check(tx, event)
        seq = tx.insert(event)
        return SubmitResult(ACCEPTED, replace(event, seq=seq))

    def _committed(self, event: Event) -> None:
        if self.plugins is None:
            return
        try:
            self.plugins.event_committed(event)
        except Exception:  # a plugin must not undo a committed event
            log.exception("plugin failed in huhang_event_committed for %s", event.event_id)

    def _check(self, tx: Transaction, event: Event) -> None:
        self.check_event(_StoredView(tx, self.reference), event)

    def check_event(self, view: StateView, event: Event) -> TicketState | Enterprise | None:
        """Whether ``event`` is a legal next step given the states ``view`` gives; raises
        :class:`TransitionRejected` if not. Returns the ticket or enterprise state after it
        (None for events that change neither). The one check of every write path."""
        if event.type in ENTERPRISE_EVENTS:
            return apply_enterprise(view.enterprise(str(event.enterprise)), event)
        if event.type in TICKET_EVENTS:
            state = view.ticket(str(event.ticket_id))
            enterprise = view.enterprise(str(event.enterprise)) if state is None else None
            after = apply_ticket(state, event, enterprise=enterprise, reference=self.reference)
            if event.type == "ticket.merged":
                into = str(event.payload["into"])
                target = view.ticket(into)
                if target is None:
                    raise TransitionRejected(event, f"要并入的办理单 {into} 不存在")
                if target.events[-1].type == "ticket.merged":
                    further = target.events[-1].payload["into"]
                    raise TransitionRejected(
                        event, f"办理单 {into} 已合并到 {further}，请合并到 {further}"
                    )
            if self.guard is not None and state is not None:
                self.guard(state, event)
            return after
        if event.type == "contact.recorded":
            if view.enterprise(str(event.enterprise)) is None:
                raise TransitionRejected(event, f"企业 {event.enterprise} 尚未登记")
            return None
        if event.ticket_id is not None and view.ticket(event.ticket_id) is None:
            raise TransitionRejected(event, f"办理单 {event.ticket_id} 不存在")
        if event.type in ("supervision.issued", "notice.published", "interview.recommended") and (
            event.actor != OFFICE
        ):
            raise TransitionRejected(event, f"{event.label}只能由{OFFICE}发出")
        return None

    def add_notices(self, notices: Iterable[Notice]) -> list[Notice]:
        """Queue notices in the outbox for every configured notifier; returns the new ones."""
        new = []
        with self.storage.transaction() as tx:
            for notice in notices:
                if tx.add_notice(notice, self.notifiers):
                    new.append(notice)
        return new

    def grade(
        self, ticket_id: str, kernel: Kernel, day: dt.date, *, event_id: str | None = None
    ) -> SubmitResult:
        """Evaluate a reported ticket with the rules and record the result as ``ticket.graded``."""
        state = self.ticket(ticket_id)
        if state is None:
            raise InputError(f"办理单 {ticket_id} 不存在")
        return self.submit(
            self._graded_event(
                state, kernel, day, event_id or f"{ticket_id}:graded:{day.isoformat()}"
            )
        )

    # ------------------------------------------------------------------ reading

    def events(self, **filters: Any) -> Iterator[Event]:
        """Stored events in ledger order (filters as :meth:`Storage.events`)."""
        return self.storage.events(**filters)

    def ticket(self, ticket_id: str) -> TicketState | None:
        """One ticket's state, from its events."""
        history = [e for e in self.storage.events(ticket_id=ticket_id) if e.type in TICKET_EVENTS]
        if not history:
            return None
        code = str(history[0].enterprise)
        enterprise = replay_enterprise(
            _before(
                self.storage.events(enterprise=code, types=tuple(ENTERPRISE_EVENTS)), history[0]
            )
        )
        state: TicketState | None = None
        for event in history:
            state = apply_ticket(
                state, event, enterprise=enterprise, reference=self.reference, trusted=True
            )
        return state

    def replayed_rows(self, *, streaming: bool = True) -> ModelRows:
        """Every read-model row, computed from a full replay of the ledger (the truth).

        Streaming (the default), each ticket's row is made at its last stored event
        (``Storage.ticket_last_seqs``) and the state let go, so memory does not grow with the
        ledger; should a ticket get an event after that (a write since the seqs were read), the
        replay starts again holding every state.
        """
        projector = Projector(self.reference)
        last_seq: dict[str, int] = {}
        rows: list[tuple[Any, ...]] = []
        units: list[tuple[Any, ...]] = []
        last = self.storage.ticket_last_seqs()[1] if streaming else {}
        finished: set[str] = set()
        with paused_gc():
            for event in self.storage.events():
                ticket_id = event.ticket_id
                if ticket_id is not None and ticket_id in finished:
                    return self.replayed_rows(streaming=False)
                projector.feed(event)
                if event.type in ENTERPRISE_EVENTS:
                    last_seq[str(event.enterprise)] = int(event.seq or 0)
                elif streaming and ticket_id is not None and event.seq == last.get(ticket_id):
                    finished.add(ticket_id)
                    state = projector.tickets.pop(ticket_id, None)
                    if state is not None:
                        rows.append(ticket_row(state))
                        units.extend(unit_rows(state))
        for state in projector.tickets.values():
            rows.append(ticket_row(state))
            units.extend(unit_rows(state))
        tickets = sorted(rows)
        enterprises = sorted(
            enterprise_row(e, last_seq[code]) for code, e in projector.enterprises.items()
        )
        enterprise_units = sorted(
            row for e in projector.enterprises.values() for row in enterprise_unit_rows(e)
        )
        return ModelRows(tickets, enterprises, sorted(units), enterprise_units)

    def rebuild_read_model(self, tx: ReadModelTransaction | None = None) -> tuple[int, int]:
        """Recompute the stored read model from a full replay; (tickets, enterprises) rows.

        Runs in ``tx`` when given (a writer catching an old ledger up), else in a transaction
        of its own. Backends without a read model store nothing.
        """
        if not self.storage.has_read_model:
            return 0, 0
        if tx is None:
            with self.storage.transaction() as own:
                return self.rebuild_read_model(own)  # type: ignore[arg-type]
        log.info("rebuilding the read model of %s", self.storage.url)
        rows = self.replayed_rows()
        tx.clear_read_model()
        tx.put_read_model(
            rows.tickets, rows.enterprises, tx.last_seq(), rows.units, rows.enterprise_units
        )
        return len(rows.tickets), len(rows.enterprises)

    def project_with_events(self) -> tuple[Projector, list[Event]]:
        """Every enterprise and ticket, and every event, from one pass over the ledger (what
        the reports need: the events are read and parsed once, not twice)."""
        projector = Projector(self.reference)
        events: list[Event] = []
        with paused_gc():
            for event in self.storage.events():
                projector.feed(event)
                events.append(event)
        return projector, events

    def project(self, *, until: dt.date | None = None) -> Projector:
        """Every enterprise and ticket, replayed from the ledger (optionally up to a date)."""
        projector = Projector(self.reference)
        with paused_gc():
            for event in self.storage.events():
                if until is None or event.date <= until:
                    projector.feed(event)
        return projector
