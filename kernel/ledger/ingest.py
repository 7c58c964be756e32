"""Ingesting events the way ``huhang ingest`` does: batched, each report graded with it.

The command line and ``huhang demo`` both go through :func:`ingest_events`, so the demo's
ledger is built exactly as an office's would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError
from kernel.inputs.sourcefile import PathKey, SourceDoc
from kernel.ledger.events import EventInvalid
from kernel.ledger.ledger import Ledger, SubmitResult
from kernel.ledger.projection import TransitionRejected

if TYPE_CHECKING:
    from kernel.evaluation.kernel import Kernel

#: events per transaction (one commit, one fsync)
BATCH = 500


@dataclass
class IngestReport:
    """What one ingestion did (the same counts ``huhang ingest`` prints)."""

    accepted: int = 0
    duplicates: int = 0
    graded: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def add(self, other: IngestReport) -> None:
        """Add another report's counts into this one."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.graded += other.graded
        self.rejected += other.rejected


def reason(exc: InputError) -> str:
    if isinstance(exc, EventInvalid):
        return "；".join(f"{p.code} {p.message}" for p in exc.problems)
    if isinstance(exc, TransitionRejected):
        return exc.reason
    return str(exc)


def ingest_events(
    ledger: Ledger,
    items: Iterable[tuple[dict[str, Any], SourceDoc | None, PathKey]],
    *,
    kernel: Kernel | None = None,
    label: Callable[[int, dict[str, Any]], str] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> IngestReport:
    """Store events the way ``huhang ingest [--grade]`` does.

    Batches of :data:`BATCH` events, one transaction each. With a ``kernel``, every reported
    ticket is graded in the transaction that stores its report (``ticket.graded``, event id
    ``<ticket>:graded``, dated the report), and a ticket the input meets that an earlier run
    left reported but ungraded is graded too. ``label(index, event)`` names a rejected event in
    the report (default: its id); ``on_batch(n)`` is told how many items each batch held (for a
    progress bar).
    """
    report = IngestReport()
    batch: list[tuple[int, tuple[dict[str, Any], SourceDoc | None, PathKey]]] = []

    def name(index: int, data: dict[str, Any]) -> str:
        return label(index, data) if label is not None else str(data.get("event_id", ""))

    def graded(ticket_id: str, outcome: SubmitResult | InputError) -> None:
        if isinstance(outcome, InputError):
            report.rejected.append(f"分级 {ticket_id}：{reason(outcome)}")
        elif outcome.accepted:
            report.graded.append(ticket_id)

    def flush() -> None:
        outcomes = ledger.submit_many([item for _, item in batch], kernel=kernel, on_graded=graded)
        for (index, (data, _, _)), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, InputError):
                report.rejected.append(f"{name(index, data)}：{reason(outcome)}")
            elif outcome.accepted:
                report.accepted += 1
            else:
                report.duplicates += 1
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()

    for index, item in enumerate(items):
        batch.append((index, item))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return report
