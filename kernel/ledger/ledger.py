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
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError
from kernel.inputs.sourcefile import PathKey, SourceDoc
from kernel.ledger.events import ENTERPRISE_EVENTS, OFFICE, TICKET_EVENTS, Event, validate_event
from kernel.ledger.projection import (
    Enterprise,
    TicketState,
    TransitionRejected,
    apply_enterprise,
    apply_ticket,
)
from kernel.rules.reference import Reference
from kernel.storage.contract import Notice, Storage, Transaction
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
        # Validate first, outside the transaction: a shared store's write lock is held briefly.
        checked: list[Event | InputError] = []
        for data, doc, prefix in items:
            try:
                checked.append(self._validated(data, doc, prefix))
            except InputError as exc:
                checked.append(exc)
        outcomes: list[SubmitResult | InputError] = []
        grades: list[tuple[str, SubmitResult | InputError]] = []
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
        for outcome in outcomes:
            if isinstance(outcome, SubmitResult) and outcome.accepted:
                self._committed(outcome.event)
        for ticket_id, grade in grades:
            if isinstance(grade, SubmitResult) and grade.accepted:
                self._committed(grade.event)
            if on_graded is not None:
                on_graded(ticket_id, grade)
        return outcomes

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
        if event.type in ENTERPRISE_EVENTS:
            current = replay_enterprise(tx.enterprise_events(str(event.enterprise)))
            apply_enterprise(current, event)
            return
        if event.type in TICKET_EVENTS:
            history = [e for e in tx.ticket_events(str(event.ticket_id)) if e.type in TICKET_EVENTS]
            code = history[0].enterprise if history else event.enterprise
            enterprise = replay_enterprise(
                _before(tx.enterprise_events(str(code)), history[0] if history else None)
            )
            state: TicketState | None = None
            for past in history:  # stored events passed these checks once: trusted
                state = apply_ticket(
                    state, past, enterprise=enterprise, reference=self.reference, trusted=True
                )
            apply_ticket(state, event, enterprise=enterprise, reference=self.reference)
            if event.type == "ticket.merged":
                into = str(event.payload["into"])
                target = [e for e in tx.ticket_events(into) if e.type in TICKET_EVENTS]
                if not target:
                    raise TransitionRejected(event, f"要并入的办理单 {into} 不存在")
                if target[-1].type == "ticket.merged":
                    further = target[-1].payload["into"]
                    raise TransitionRejected(
                        event, f"办理单 {into} 已合并到 {further}，请合并到 {further}"
                    )
            if self.guard is not None and state is not None:
                self.guard(state, event)
            return
        if event.type == "contact.recorded":
            if replay_enterprise(tx.enterprise_events(str(event.enterprise))) is None:
                raise TransitionRejected(event, f"企业 {event.enterprise} 尚未登记")
            return
        if event.ticket_id is not None and not tx.ticket_events(event.ticket_id):
            raise TransitionRejected(event, f"办理单 {event.ticket_id} 不存在")
        if event.type in ("supervision.issued", "notice.published", "interview.recommended") and (
            event.actor != OFFICE
        ):
            raise TransitionRejected(event, f"{event.label}只能由{OFFICE}发出")

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

    def project(self, *, until: dt.date | None = None) -> Projector:
        """Every enterprise and ticket, replayed from the ledger (optionally up to a date)."""
        projector = Projector(self.reference)
        with paused_gc():
            for event in self.storage.events():
                if until is None or event.date <= until:
                    projector.feed(event)
        return projector
