"""What the console holds while it serves: the service's context, the secret and a 台账 cache.

The console reads the ledger through the HTTP service's context (its projection, engine and
deadline evaluator, shared with the API) and records every step through the API's own
:func:`kernel.service.routes_events.submit`, so a form and an API call store the same event with
the same checks. The 台账 is computed once per ledger size and date -- with a read model, a row
per ticket, shared by every selection -- the ledger is append-only, so the same number of events
is the same ledger.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError
from kernel.web.access import Viewer
from kernel.web.sessions import SessionSigner, console_secret

if TYPE_CHECKING:
    from kernel.assessment.scoring import FactCollector
    from kernel.clocks.compute import ClockEvaluator
    from kernel.evaluation.decisions import Evaluation
    from kernel.ledger.ledger import Ledger, Projector
    from kernel.ledger.projection import TicketState
    from kernel.outputs.tables import Table
    from kernel.rules.model import RuleSet
    from kernel.service.context import ServiceContext


class StepRefused(InputError):
    """A step the ledger (or the API's checks) refused; the message says why in plain words."""


@dataclass
class Console:
    """The console's shared state for one served ledger."""

    context: ServiceContext
    metrics: Any
    #: cookies only over HTTPS (turn off only for a plain-HTTP test on one machine)
    secure_cookies: bool = True
    signer: SessionSigner = field(default_factory=lambda: SessionSigner(console_secret()))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _tables: dict[tuple[int, dt.date], Table] = field(default_factory=dict)
    #: the 台账 rows and states of the tickets computed so far, by ticket, for ``_rows_key``
    _rows: dict[str, tuple[tuple[Any, ...], TicketState]] = field(default_factory=dict)
    _rows_key: tuple[int, dt.date] | None = None
    _reports: dict[tuple[int, str], Any] = field(default_factory=dict)
    #: rule-change previews kept for their download (token -> Markdown)
    previews: dict[str, str] = field(default_factory=dict)

    @property
    def ledger(self) -> Ledger:
        """The served ledger."""
        return self.context.ledger

    @property
    def ruleset(self) -> RuleSet:
        """The rules in force."""
        return self.context.ruleset

    def today(self) -> dt.date:
        """The business date of new events and of "as of"."""
        return self.context.today()

    def now(self) -> dt.datetime:
        """The service's clock (sessions, lockout)."""
        return self.context.clock()

    def evaluate(self, ticket: Any) -> Evaluation:
        """Grade and route a ticket with the service's engine."""
        with self.context.kernel_lock:
            return self.context.kernel().evaluate(ticket)

    def evaluator(self) -> ClockEvaluator:
        """The deadline clocks on the working-day calendar."""
        return self.context.evaluator()

    def collector(self) -> FactCollector:
        """The assessment's facts of the rules on the working-day calendar."""
        from kernel.assessment.scoring import FactCollector

        rules = self.ruleset
        assert rules.scoring is not None and rules.deadlines is not None
        return FactCollector(
            rules.scoring, rules.deadlines, self.context.calendar(), rules.reference
        )

    def projector(self) -> Projector:
        """Every enterprise and problem, as the ledger now says (read only)."""
        return self.context.projection()

    def ledger_table(self, as_of: dt.date) -> Table:
        """The 台账 as of a date (shared by the 台账 page, its export and the 工作台)."""
        from kernel.assessment.ledger_table import ledger_table

        key = (self.ledger.storage.count(), as_of)
        with self._lock:
            if key not in self._tables:
                self._tables.clear()
                self._tables[key] = ledger_table(self.projector(), self.evaluator(), as_of)
            return self._tables[key]

    def subset_table(
        self,
        ticket_ids: list[str],
        as_of: dt.date,
        load: Callable[[list[str]], list[TicketState]],
    ) -> tuple[Table, list[TicketState]]:
        """The 台账 of some tickets (ids in 台账 order) and their states, those not yet known
        from ``load``. Each ticket's row and state are computed once per ledger size and day
        and shared by every selection: a person's tickets, a filter's, the whole 台账 hold
        one copy between them, never more than the whole 台账."""
        from kernel.assessment.ledger_table import ledger_table

        key = (self.ledger.storage.count(), as_of)
        with self._lock:
            if self._rows_key != key:
                self._rows, self._rows_key = {}, key
            known = self._rows
            missing = [t for t in ticket_ids if t not in known]
        states = load(missing) if missing else []
        table = ledger_table(states, self.evaluator(), as_of)
        fresh = {s.ticket_id: (row, s) for row, s in zip(table.rows, states, strict=True)}
        with self._lock:
            known.update(fresh)  # a later key replaced the dict: this one is dropped with it
            found = [known[t] for t in ticket_ids if t in known]
        rows = [row for row, _ in found]
        return dataclasses.replace(table, rows=rows), [state for _, state in found]

    def cached(self, name: str, compute: Callable[[], Any]) -> Any:
        """A report computed once per ledger size (the ledger only grows)."""
        key = (self.ledger.storage.count(), name)
        with self._lock:
            found = self._reports.get(key)
        if found is None:
            found = compute()
            with self._lock:
                if len(self._reports) > 32 or any(k[0] != key[0] for k in self._reports):
                    self._reports.clear()
                self._reports[key] = found
        return found

    def record(self, viewer: Viewer, events: list[dict[str, Any]]) -> list[int]:
        """Store events as the API does for this person; :class:`StepRefused` if any is refused.

        The events are one batch: either every one is stored or, when one is refused, the
        others of the batch may still be (as over the API); the refusal names the first.
        """
        from kernel.service.routes_events import submit

        result = submit(self.context, viewer.principal, events, self.metrics)
        refused = [o for o in result.outcomes if o.status == "rejected"]
        if refused:
            raise StepRefused(str(refused[0].reason or refused[0].code))
        for graded in result.graded:
            if graded.get("status") == "rejected":
                raise StepRefused(f"已保存，但未能分级：{graded.get('reason')}")
        return [o.seq or 0 for o in result.outcomes]

    def grade(self, ticket_id: str) -> None:
        """Grade a reported ticket that is still ungraded (as ``huhang ledger check``)."""
        with self.context.kernel_lock:
            self.ledger.grade(ticket_id, self.context.kernel(), self.today())
