"""Ingesting events the way ``huhang ingest`` does: batched, each report graded with it.

The command line and ``huhang demo`` both go through :func:`ingest_events`, so the demo's
ledger is built exactly as an office's would be.
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(frozen=True)
class DateWindow:
    """Which business dates are plausible for new events, relative to an as-of date.

    An event dated years ahead (a dispatch "on 2030-03-02") or before the programme could have
    existed is a typing error far more often than the truth; it is refused with a reason.
    """

    as_of: dt.date
    #: days after ``as_of`` an event may be dated (clock skew, events entered for tomorrow)
    future_days: int = 31
    #: days before ``as_of`` an event may be dated (None: no limit but ``earliest``)
    past_days: int | None = None
    earliest: dt.date = dt.date(2000, 1, 1)

    def problem(self, data: dict[str, Any]) -> str | None:
        """Why the event's ``date`` is implausible, or None (a malformed date is left to the
        event's schema)."""
        try:
            day = dt.date.fromisoformat(str(data.get("date")))
        except ValueError:
            return None
        latest = self.as_of + dt.timedelta(days=self.future_days)
        if day > latest:
            return (
                f"日期 {day} 晚于 {self.as_of} 之后 {self.future_days} 天，不合常理"
                "（确需导入时用 --as-of 指定日期，或在配置文件 date_window.future_days 中放宽）"
            )
        first = self.earliest
        if self.past_days is not None:
            first = max(first, self.as_of - dt.timedelta(days=self.past_days))
        if day < first:
            return (
                f"日期 {day} 早于 {first}，不合常理"
                "（确需导入时在配置文件 date_window 中放宽 past_days 或 earliest）"
            )
        return None


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
    dates: DateWindow | None = None,
    report: IngestReport | None = None,
) -> IngestReport:
    """Store events the way ``huhang ingest [--grade]`` does.

    Batches of :data:`BATCH` events, one transaction each. With a ``kernel``, every reported
    ticket is graded in the transaction that stores its report (``ticket.graded``, event id
    ``<ticket>:graded``, dated the report), and a ticket the input meets that an earlier run
    left reported but ungraded is graded too. ``label(index, event)`` names a rejected event in
    the report (default: its id); ``on_batch(n)`` is told how many items each batch held (for a
    progress bar). With ``dates``, an event dated outside the window is refused. The counts go
    into ``report`` (a new one by default) as each batch commits, so a caller that is stopped
    by an error can still say how many events were stored.
    """
    report = report if report is not None else IngestReport()
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
        implausible = dates.problem(item[0]) if dates is not None else None
        if implausible is not None:
            report.rejected.append(f"{name(index, item[0])}：{implausible}")
            continue
        batch.append((index, item))
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    return report
