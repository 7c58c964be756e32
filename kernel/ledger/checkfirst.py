"""Writers that check a batch before they take the ledger lock (PostgreSQL).

A batch is validated, checked and graded against a read-only snapshot of one committed moment
(:meth:`Storage.snapshot`), with no lock held; the batch records what it read: the ``last_seq``
of every ticket and enterprise whose state it consulted, and which of the event ids it looked
up were stored. Then, holding the ledger lock, one query (:meth:`versions`) reads the same
things as they are now:

* nothing it read has moved -- its checks hold now as they held then, so it is stored as is,
  its seqs moved up past the events other writers committed meanwhile (``MAX(seq) + 1``
  under the lock, as before: seq order stays commit order, without gaps);
* something moved (another writer changed one of its tickets or enterprises, or stored one of
  its event ids) -- it is checked again, under the lock, against the ledger as it is now (as
  every batch was before), with the gradings of the first attempt kept.

A batch that stores nothing (only duplicates and refusals) takes no lock at all: its answers
hold at its snapshot's moment. Either way each batch's outcome is the one it would have had run
alone at its place in the ledger's order: the same refusals, each event id stored once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.ledger.ledger import SubmitResult, _Batch, _with_seq
from kernel.ledger.projection import Enterprise, TicketState

if TYPE_CHECKING:
    from kernel.evaluation.kernel import Kernel
    from kernel.ledger.ledger import Ledger
    from kernel.storage.contract import CheckedFirstTransaction

Outcomes = list[SubmitResult | InputError]
Grades = list[tuple[str, SubmitResult | InputError]]


class _CheckedBatch(_Batch):
    """A batch checked on a snapshot: it records what it read, to be compared under the lock."""

    def __init__(self, ledger: Ledger, tx: Any, graded: dict[Any, Any]) -> None:
        super().__init__(ledger, tx, graded)
        self.base = self.seq
        #: the last seq of each ticket and enterprise state consulted (0: none), as read
        self.read_tickets: dict[str, int] = {}
        self.read_enterprises: dict[str, int] = {}
        self.asked: set[str] = set()
        self.now_last = self.base

    def prefetch(self, events: list[Event]) -> None:
        super().prefetch(events)
        for ticket_id, state in self.tickets.items():  # nothing is advanced yet
            self.read_tickets.setdefault(ticket_id, _last_seq(state))

    def ticket(self, ticket_id: str) -> TicketState | None:
        if ticket_id not in self.tickets:
            self.read_tickets[ticket_id] = _last_seq(super().ticket(ticket_id))
        return super().ticket(ticket_id)

    def enterprise(self, code: str) -> Enterprise | None:
        if code not in self.enterprises:
            state = super().enterprise(code)
            history = self.enterprise_history.get(code) or []
            self.read_enterprises[code] = int(history[-1].seq or 0) if history else 0
            return state
        return super().enterprise(code)

    def store(self, event: Event) -> SubmitResult:
        self.asked.add(event.event_id)
        return super().store(event)

    def holds(self, tx: CheckedFirstTransaction) -> bool:
        """Whether everything the batch read is as it was (``tx`` holds the ledger lock)."""
        now = tx.versions(
            sorted(self.read_tickets), sorted(self.read_enterprises), sorted(self.asked)
        )
        self.now_last = now.last_seq
        if now.read_model_seq != now.last_seq:
            return False
        stored_then = {
            i for i, e in self.known.items() if i in self.asked and int(e.seq or 0) <= self.base
        }
        return (
            all(now.tickets.get(t, 0) == seq for t, seq in self.read_tickets.items())
            and all(now.enterprises.get(c, 0) == seq for c, seq in self.read_enterprises.items())
            and now.stored == stored_then
        )

    def rebase(self, last_seq: int) -> dict[str, Event]:
        """Move the new events' seqs up to follow ``last_seq``; the moved events by id."""
        delta = last_seq - self.base
        if delta == 0:
            return {}
        moved = {e.event_id: _with_seq(e, int(e.seq or 0) + delta) for e in self.pending}
        self.pending = [moved[e.event_id] for e in self.pending]
        self.known.update(moved)
        for ticket_id in self.touched_tickets:
            state = self.tickets[ticket_id]
            if state is not None:
                self.tickets[ticket_id] = replace(
                    state,
                    events=tuple(moved.get(e.event_id, e) for e in state.events),
                    overrides=tuple(moved.get(e.event_id, e) for e in state.overrides),
                )
        for code in self.touched_enterprises:
            self.enterprise_seq[code] += delta
        self.seq += delta
        self.base = last_seq
        return moved


def _last_seq(state: TicketState | None) -> int:
    return 0 if state is None else int(state.events[-1].seq or 0)


def _moved(outcome: Any, moved: dict[str, Event]) -> Any:
    if isinstance(outcome, SubmitResult) and outcome.event.event_id in moved:
        return SubmitResult(outcome.status, moved[outcome.event.event_id])
    return outcome


def write_checked_first(
    ledger: Ledger,
    checked: list[Event | InputError],
    kernel: Kernel | None,
    recorded_by: str | None,
) -> tuple[_Batch, Outcomes, Grades]:
    """Check ``checked`` on a snapshot, then store it under the ledger lock (checking it
    again there only if something it read has moved); the batch, outcomes and gradings."""
    storage = ledger.storage
    events = [e for e in checked if isinstance(e, Event)]
    graded: dict[Any, Any] = {}
    first: _CheckedBatch | None = None
    with storage.snapshot() as snap:
        if snap.read_model_seq() == snap.last_seq():  # else: caught up under the lock
            first = _CheckedBatch(ledger, snap, graded)
            first.prefetch(events)
            outcomes, grades = first.run(checked, kernel, recorded_by)
    if first is not None and not first.pending:
        return first, outcomes, grades  # nothing to store: true at the snapshot's moment
    with storage.transaction() as tx:
        locked = cast("CheckedFirstTransaction", tx)
        if first is not None and first.holds(locked):
            moved = first.rebase(first.now_last)
            first.tx = locked
            first.finish()
            outcomes = [_moved(o, moved) for o in outcomes]
            grades = [(t, _moved(o, moved)) for t, o in grades]
            return first, outcomes, grades
        batch = _Batch(ledger, locked, graded)
        batch.prefetch(events)
        outcomes, grades = batch.run(checked, kernel, recorded_by)
        batch.finish()
    return batch, outcomes, grades
