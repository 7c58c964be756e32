"""Build a ticket's history through a real (in-memory) ledger, for clock and ledger tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from kernel.clocks.compute import ClockEvaluator, TicketClocks
from kernel.clocks.steps import step_guard
from kernel.ledger.events import OFFICE
from kernel.ledger.ledger import Ledger, SubmitResult
from kernel.ledger.projection import TicketState
from kernel.rules.model import RuleSet
from kernel.storage.contract import Storage
from kernel.storage.memory import MemoryStorage

CODE = "91610700MA6YT2A0X4"


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


class Timeline:
    """One enterprise and its tickets, event by event."""

    def __init__(
        self,
        ruleset: RuleSet,
        *,
        lead_unit: str = "商务局",
        territory: str = "汉台区",
        storage: Storage | None = None,
    ) -> None:
        self.ruleset = ruleset
        self.ledger = Ledger(
            storage or MemoryStorage(), ruleset.reference, guard=step_guard(ruleset)
        )
        self.ids = itertools.count(1)
        self.lead_unit = lead_unit
        self.territory = territory
        self.ticket_id = "T-1"
        assert ruleset.deadlines is not None and ruleset.calendar is not None
        self.evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)

    def submit(
        self, kind: str, day: str, actor: str, payload: dict[str, Any] | None = None, **extra: Any
    ) -> SubmitResult:
        event = {
            "event_id": f"E{next(self.ids)}",
            "type": kind,
            "date": day,
            "actor": actor,
            "payload": payload or {},
            **extra,
        }
        if kind.startswith("ticket.") and "ticket_id" not in extra:
            event["ticket_id"] = self.ticket_id
        return self.ledger.submit(event)

    def register(self, day: str = "2026-01-05", **assignment: Any) -> Timeline:
        payload = {
            "name": "汉运物流",
            "territory": self.territory,
            "lead_unit": self.lead_unit,
            "lead_leader": "张明",
        }
        payload.update(assignment)
        self.submit("enterprise.registered", day, OFFICE, payload, enterprise=CODE)
        return self

    def collect(
        self, day: str, category: str = "用工", ticket_id: str = "T-1", **assessment: Any
    ) -> Timeline:
        self.ticket_id = ticket_id
        body = {"authority_level": "本单位", **assessment}
        self.submit(
            "ticket.collected",
            day,
            self.lead_unit,
            {"category": category, "summary": "问题", "assessment": body},
            enterprise=CODE,
        )
        return self

    def report(self, day: str) -> Timeline:
        self.submit("ticket.reported", day, self.lead_unit)
        return self

    def grade(
        self, day: str, grade: str, primary: str | None = None, co: list[str] | None = None
    ) -> Timeline:
        route = {
            "primary": primary or self.territory,
            "co_handlers": co or [],
            "feedback_owner": self.lead_unit,
        }
        self.submit("ticket.graded", day, OFFICE, {"grade": grade, "route": route})
        return self

    def dispatch(self, day: str) -> Timeline:
        self.submit("ticket.dispatched", day, OFFICE)
        return self

    def resolve(self, day: str, actor: str | None = None) -> Timeline:
        self.submit("ticket.resolved", day, actor or self.territory)
        return self

    def progress(self, day: str, actor: str | None = None) -> Timeline:
        self.submit("ticket.progress_reported", day, actor or self.territory)
        return self

    def feedback(self, day: str) -> Timeline:
        self.submit("ticket.feedback_given", day, self.lead_unit)
        return self

    def rate(self, day: str, rating: str) -> Timeline:
        self.submit("ticket.rated", day, OFFICE, {"rating": rating})
        return self

    def reopen(self, day: str) -> Timeline:
        self.submit("ticket.reopened", day, OFFICE)
        return self

    def contact(self, day: str, by: str = "liaison_cadre") -> Timeline:
        self.submit("contact.recorded", day, self.lead_unit, {"by": by}, enterprise=CODE)
        return self

    def state(self, ticket_id: str | None = None) -> TicketState:
        found = self.ledger.ticket(ticket_id or self.ticket_id)
        assert found is not None
        return found

    def clocks(self, as_of: str, ticket_id: str | None = None) -> TicketClocks:
        return self.evaluator.evaluate(self.state(ticket_id), d(as_of))

    def clock(self, as_of: str, key: str) -> Any:
        for item in self.clocks(as_of).instances:
            if item.key == key:
                return item
        raise KeyError(key)
