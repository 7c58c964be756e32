"""What the console holds while it serves: the ledger, the rules, the clock and the sessions.

The projection of the ledger and the 台账 are computed once per ledger size and date: the
ledger is append-only, so the same number of events is the same ledger. Every page reads these
shared results; a write makes the next page recompute them.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kernel.web.sessions import SessionStore

if TYPE_CHECKING:
    from kernel.calendar.workdays import WorkCalendar
    from kernel.clocks.compute import ClockEvaluator
    from kernel.evaluation.kernel import Kernel
    from kernel.ledger.ledger import Ledger, Projector
    from kernel.outputs.tables import Table
    from kernel.rules.model import RuleSet


class ConsoleSource(Protocol):
    """Where the console's ledger and rules come from (the CLI's or the service's context)."""

    ruleset: RuleSet
    ledger: Ledger

    def calendar(self) -> WorkCalendar:
        """The working-day calendar."""
        ...


def utc_now() -> dt.datetime:
    """The wall clock in UTC (the serving command passes it in; tests pass their own)."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Console:
    """The console's shared state for one served ledger."""

    source: ConsoleSource
    #: the business date of new events and the 台账's "as of" (the CLI's today)
    today: Callable[[], dt.date]
    now: Callable[[], dt.datetime] = utc_now
    #: cookies only over HTTPS (turn off only for a plain-HTTP test on one machine)
    secure_cookies: bool = True
    sessions: SessionStore = field(default_factory=SessionStore)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _kernel: Kernel | None = None
    _evaluator: ClockEvaluator | None = None
    _projection: tuple[int, Projector] | None = None
    _tables: dict[tuple[int, dt.date], Table] = field(default_factory=dict)
    #: rule-change previews kept for their download (token -> Markdown)
    previews: dict[str, str] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger:
        """The served ledger."""
        return self.source.ledger

    @property
    def ruleset(self) -> RuleSet:
        """The rules in force."""
        return self.source.ruleset

    def kernel(self) -> Kernel:
        """The compiled rules (built on first use)."""
        from kernel.evaluation.kernel import Kernel

        with self._lock:
            if self._kernel is None:
                self._kernel = Kernel(self.ruleset)
            return self._kernel

    def evaluate(self, ticket: Any) -> Any:
        """Grade and route a ticket (the engine is used by one request at a time)."""
        kernel = self.kernel()
        with self._lock:
            return kernel.evaluate(ticket)

    def evaluator(self) -> ClockEvaluator:
        """The deadline clocks on the working-day calendar."""
        from kernel.clocks.compute import ClockEvaluator

        with self._lock:
            if self._evaluator is None:
                assert self.ruleset.deadlines is not None
                self._evaluator = ClockEvaluator(self.ruleset.deadlines, self.source.calendar())
            return self._evaluator

    def projector(self) -> Projector:
        """Every enterprise and problem, as the ledger now says."""
        count = self.ledger.storage.count()
        with self._lock:
            if self._projection is None or self._projection[0] != count:
                self._projection = (count, self.ledger.project())
                self._tables.clear()
            return self._projection[1]

    def ledger_table(self, as_of: dt.date) -> Table:
        """The 台账 as of a date (shared by the 台账 page, its export and the 工作台)."""
        from kernel.assessment.ledger_table import ledger_table

        projector = self.projector()
        with self._lock:
            count = self._projection[0] if self._projection else 0
            key = (count, as_of)
            if key not in self._tables:
                self._tables[key] = ledger_table(projector, self.evaluator(), as_of)
            return self._tables[key]
