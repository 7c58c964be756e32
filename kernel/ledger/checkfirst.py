"""Writers that check a batch before they take the ledger lock (PostgreSQL).

On a backend that :attr:`~kernel.storage.contract.Storage.checks_first`, the ledger validates,
checks and grades a batch against a read-only snapshot of one committed moment
(:meth:`~kernel.storage.contract.Storage.snapshot`), with no lock held. The batch records what
it read: the ``last_seq`` of every ticket and enterprise whose state it consulted, and the event
ids it looked up. Then, holding the ledger lock, one query
(:meth:`~kernel.storage.contract.CheckedFirstTransaction.versions`) reads the same things as
they are now:

* nothing it read has moved -- its checks hold now as they held then, so it is stored as is,
  its seqs moved up past the events other writers committed meanwhile (:func:`rebase`; still
  ``MAX(seq) + 1`` under the lock: seq order stays commit order, without gaps);
* something moved (another writer stepped one of its tickets, changed one of its enterprises or
  stored one of its event ids) -- it is checked again, under the lock, against the ledger as it
  is now (as every batch was before), with the gradings of the first attempt kept.

A batch that stores nothing (only duplicates and refusals) takes no lock: its answers hold at
its snapshot's moment. Either way each batch's outcome is the one it would have had alone at its
place in the ledger's order: the same refusals, each event id stored once, nothing half-written.

The functions here read and update a ``kernel.ledger.ledger._Batch``; the ledger calls them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.ledger.projection import TicketState
from kernel.storage.contract import CheckedFirstTransaction, WriteVersions

if TYPE_CHECKING:
    from kernel.ledger.ledger import SubmitResult, _Batch

    Outcomes = list[SubmitResult | InputError]
    Grades = list[tuple[str, SubmitResult | InputError]]


def last_seq(state: TicketState | None) -> int:
    """The seq of a ticket state's last event (0: no ticket)."""
    return 0 if state is None else int(state.events[-1].seq or 0)


def versions_if_unmoved(batch: _Batch, tx: CheckedFirstTransaction) -> WriteVersions | None:
    """What is stored now (``tx`` holds the ledger lock), or None if anything the batch read
    has moved since its snapshot (or the read model lags the events)."""
    now = tx.versions(
        sorted(batch.read_tickets), sorted(batch.read_enterprises), sorted(batch.asked)
    )
    if now.read_model_seq != now.last_seq:
        return None
    stored_then = {
        i for i, e in batch.known.items() if i in batch.asked and int(e.seq or 0) <= batch.base
    }
    unmoved = (
        all(now.tickets.get(t, 0) == seq for t, seq in batch.read_tickets.items())
        and all(now.enterprises.get(c, 0) == seq for c, seq in batch.read_enterprises.items())
        and now.stored == stored_then
    )
    return now if unmoved else None


def rebase(batch: _Batch, top: int) -> dict[str, Event]:
    """Move the batch's new events up to follow seq ``top``, in its queue and in the states it
    will store; the moved events by id (empty when nobody wrote meanwhile)."""
    delta = top - batch.base
    if delta == 0:
        return {}
    moved = {e.event_id: replace(e, seq=int(e.seq or 0) + delta) for e in batch.pending}
    batch.pending = [moved[e.event_id] for e in batch.pending]
    batch.known.update(moved)
    for ticket_id in batch.touched_tickets:
        state = batch.tickets[ticket_id]
        if state is not None:
            batch.tickets[ticket_id] = replace(
                state,
                events=tuple(moved.get(e.event_id, e) for e in state.events),
                overrides=tuple(moved.get(e.event_id, e) for e in state.overrides),
            )
    for code in batch.touched_enterprises:
        batch.enterprise_seq[code] += delta
    batch.seq += delta
    batch.base = top
    return moved


def renumbered(
    outcomes: Outcomes, grades: Grades, moved: dict[str, Event]
) -> tuple[Outcomes, Grades]:
    """The outcomes and gradings with the moved events in place of the checked ones."""

    def one(outcome: Any) -> Any:
        if isinstance(outcome, InputError) or outcome.event.event_id not in moved:
            return outcome
        return replace(outcome, event=moved[outcome.event.event_id])

    return [one(o) for o in outcomes], [(t, one(o)) for t, o in grades]
