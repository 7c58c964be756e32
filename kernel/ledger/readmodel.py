"""The read model: ticket and enterprise states stored beside the events, and the queries on them.

The SQLite and PostgreSQL backends keep one row per ticket and per enterprise
(:mod:`kernel.storage.readmodel_sql`), written by :class:`kernel.ledger.ledger.Ledger` in the
transaction of the events that change them. The rows are a function of the projected state
(:func:`ticket_row`, :func:`enterprise_row`), so any event kind -- including ones added later
-- updates them through :func:`kernel.ledger.projection.apply_ticket` alone; a new kind needs
code here only if it brings a new column. A ticket's timeline is its events (every event with
its ``ticket_id``, read through the events index), so it needs no projection at all; nor
does an enterprise's page (its own ``enterprise.*`` events give its changes), while the roster
reads each enterprise's stored "四个一" (:mod:`kernel.storage.enterprise_sql`).

:class:`ReadModel` is the query interface for the command line, the HTTP service and the web
console. It answers from the stored rows when they cover every committed event and from a
replay otherwise (the memory and JSON-lines backends, or a ledger upgraded from schema version
1 that no writer has touched yet): the answers are the same, only slower.
:meth:`ReadModel.rebuild` recomputes the rows from a full replay (``huhang ledger rebuild``)
and :meth:`ReadModel.differences` compares them (``--check``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kernel.ledger.events import ENTERPRISE_EVENTS, Event
from kernel.ledger.ledger import Ledger, Projector, replay_enterprise
from kernel.ledger.projection import Enterprise, TicketState
from kernel.ledger.rows import ModelRows, assignment_units, day_of, enterprise_row, ticket_row
from kernel.storage.enterprise_sql import ENTERPRISE_UNIT_COLUMNS, EnterpriseQuery, search_text
from kernel.storage.readmodel_sql import (
    CONTAINS_COLUMNS,
    ENTERPRISE_COLUMNS,
    TEXT_COLUMNS,
    TICKET_COLUMNS,
    UNIT_COLUMNS,
    TicketQuery,
    text_found,
)
from kernel.vocabulary import TICKET_STATE_WORDS

__all__ = [
    "EnterprisePage",
    "EnterpriseQuery",
    "EnterpriseSummary",
    "ModelRows",
    "ReadModel",
    "TicketDetail",
    "TicketPage",
    "TicketQuery",
    "TicketSummary",
    "enterprise_row",
    "ticket_row",
]

#: tickets loaded per query when states are read in bulk (sweep, 台账 pages)
STATE_BATCH = 500
#: the types of an enterprise's own events (its registration and changes)
ENTERPRISE_TYPES = tuple(sorted(ENTERPRISE_EVENTS))


@dataclass(frozen=True)
class TicketSummary:
    """One ticket as the read model stores it: what a list or a 台账 row shows."""

    ticket_id: str
    enterprise: str
    enterprise_name: str | None
    territory: str | None
    lead_unit: str | None
    category: str | None
    summary: str | None
    state: str
    grade: str | None
    overridden: bool
    primary_unit: str | None
    co_handlers: tuple[str, ...]
    collected_on: dt.date
    reported_on: dt.date | None
    graded_on: dt.date | None
    dispatched_on: dt.date | None
    resolved_on: dt.date | None
    feedback_on: dt.date | None
    rated_on: dt.date | None
    rating: str | None
    rounds: int
    last_seq: int
    last_on: dt.date
    last_type: str
    event_count: int

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> TicketSummary:
        """From a row in ``TICKET_COLUMNS`` order."""
        values = dict(zip(TICKET_COLUMNS, row, strict=True))
        for name in TICKET_COLUMNS:
            if name.endswith("_on"):
                values[name] = day_of(values[name])
        values["overridden"] = bool(values["overridden"])
        values["co_handlers"] = tuple(json.loads(values["co_handlers"]))
        for name in ("rounds", "last_seq", "event_count"):
            values[name] = int(values[name])
        return cls(**values)

    @property
    def state_label(self) -> str:
        """The state in Chinese."""
        return TICKET_STATE_WORDS.get(self.state, self.state)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (dates as ISO text)."""
        out: dict[str, Any] = {}
        for name in TICKET_COLUMNS:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, dt.date) else value
        out["co_handlers"] = list(self.co_handlers)
        out["state_label"] = self.state_label
        return out


@dataclass(frozen=True)
class TicketPage:
    """One page of a ticket list: the matching total and the rows of the page."""

    total: int
    offset: int
    limit: int | None
    items: tuple[TicketSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(frozen=True)
class TicketDetail:
    """One ticket: its summary, its full state and its timeline (every event naming it)."""

    summary: TicketSummary
    state: TicketState
    timeline: tuple[Event, ...]


@dataclass(frozen=True)
class EnterpriseSummary:
    """One enterprise as the read model stores it: its "四个一" as of its latest event.

    What the roster shows; the changes (and whether 上下联动 registered it) are in its own
    events (:meth:`ReadModel.enterprise`).
    """

    credit_code: str
    registered_on: dt.date
    last_seq: int
    assignment: dict[str, Any]

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> EnterpriseSummary:
        """From a row in ``ENTERPRISE_COLUMNS`` order."""
        values = dict(zip(ENTERPRISE_COLUMNS, row, strict=True))
        return cls(
            str(values["credit_code"]),
            dt.date.fromisoformat(str(values["registered_on"])),
            int(values["last_seq"]),
            json.loads(values["assignment"]),
        )

    @classmethod
    def of(cls, enterprise: Enterprise, last_seq: int = 0) -> EnterpriseSummary:
        """From a projected enterprise."""
        return cls(
            enterprise.credit_code, enterprise.registered_on, last_seq, enterprise.assignment
        )

    def get(self, name: str) -> Any:
        """One assignment field (None when not set)."""
        return self.assignment.get(name)


@dataclass(frozen=True)
class EnterprisePage:
    """One page of the roster: the matching total and the enterprises of the page."""

    total: int
    offset: int
    limit: int | None
    items: tuple[EnterpriseSummary, ...]


def enterprise_matches(enterprise: EnterpriseSummary, query: EnterpriseQuery) -> bool:
    """Whether an enterprise passes ``query``'s filters (what its SQL selects)."""
    code, assignment = enterprise.credit_code, enterprise.assignment
    return (
        (query.territory is None or assignment.get("territory") == query.territory)
        and (query.lead_unit is None or assignment.get("lead_unit") == query.lead_unit)
        and (query.unit is None or query.unit in assignment_units(assignment))
        and (not query.text or query.text in search_text(code, assignment))
        and (query.named is None or query.named in (code, assignment.get("name")))
        and (query.codes is None or code in query.codes)
    )


def _matches(row: tuple[Any, ...], query: TicketQuery, units: dict[str, set[str]]) -> bool:
    values = dict(zip(TICKET_COLUMNS, row, strict=True))
    if any(values[name] != wanted for name, wanted in query.filters.items()):
        return False
    if any(unit not in units.get(row[0], ()) for unit in query.units):
        return False
    if query.text and not text_found(query.text, (values[c] for c in TEXT_COLUMNS)):
        return False
    if query.contains and not any(query.contains in str(values[c]) for c in CONTAINS_COLUMNS):
        return False
    if not str(values["collected_on"]).startswith(query.collected_prefix):
        return False
    if query.ticket_ids is not None and row[0] not in query.ticket_ids:
        return False
    day = str(values["collected_on"])
    if query.collected_from is not None and day < query.collected_from.isoformat():
        return False
    return not (query.collected_to is not None and day > query.collected_to.isoformat())


def _grouped(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        out.setdefault(str(row[0]), []).append(tuple(row[1:]))
    return out


class ReadModel:
    """Queries on the ledger's current state that never replay the whole ledger.

    Every method answers the same whether the backend stores a read model or not; with one
    (SQLite, PostgreSQL, kept current by the ledger) they read a few indexed rows.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.storage = ledger.storage

    @property
    def stored(self) -> bool:
        """Whether answers come from stored rows (else from a replay)."""
        return self.storage.has_read_model and self.storage.read_model_current()

    # ------------------------------------------------------------------ tickets

    def tickets(self, query: TicketQuery | None = None) -> TicketPage:
        """A page of tickets in 台账 order (collection date, ticket id), filtered by ``query``."""
        query = query or TicketQuery()
        if self.stored:
            total, rows = self.storage.ticket_rows(query)
        else:
            replayed = self.ledger.replayed_rows()
            units: dict[str, set[str]] = {}
            for ticket_id, _, _, unit in replayed.units:
                units.setdefault(ticket_id, set()).add(unit)
            order = (lambda r: r[0]) if query.by_id else (lambda r: (r[12], r[0]))
            matching = [r for r in sorted(replayed.tickets, key=order) if _matches(r, query, units)]
            total = len(matching)
            end = None if query.limit is None else query.offset + query.limit
            rows = matching[query.offset : end]
        return TicketPage(
            total, query.offset, query.limit, tuple(TicketSummary.from_row(r) for r in rows)
        )

    def ticket(self, ticket_id: str) -> TicketDetail | None:
        """One ticket with its state and timeline (its own events only are read); None for an
        id with NUL, which no stored id holds (the events' schema) and PostgreSQL refuses."""
        if "\x00" in ticket_id:
            return None
        state = self.ledger.ticket(ticket_id)
        if state is None:
            return None
        timeline = tuple(self.storage.events(ticket_id=ticket_id))
        row = self.storage.ticket_row(ticket_id) if self.stored else None
        summary = TicketSummary.from_row(row if row is not None else ticket_row(state))
        return TicketDetail(summary, state, timeline)

    def unit_counts(self) -> dict[str, dict[str, int]]:
        """Tickets per primary unit and state: ``{unit: {state: count}}``."""
        out: dict[str, dict[str, int]] = {}
        if self.stored:
            counts = self.storage.unit_counts()
        else:
            tally: dict[tuple[str, str], int] = {}
            for row in self.ledger.replayed_rows().tickets:
                unit, state = row[10], row[7]
                if unit is not None:
                    tally[(unit, state)] = tally.get((unit, state), 0) + 1
            counts = [(u, s, n) for (u, s), n in sorted(tally.items())]
        for unit, state, count in counts:
            out.setdefault(unit, {})[state] = count
        return out

    def states(
        self, ticket_ids: Iterable[str], *, until: dt.date | None = None
    ) -> Iterator[TicketState]:
        """The states of some tickets (only their events are read), in batches.

        With ``until`` only events dated on or before it count, as in
        ``Ledger.project(until=...)``.
        """
        ids = list(ticket_ids)
        for start in range(0, len(ids), STATE_BATCH):
            part = ids[start : start + STATE_BATCH]
            if self.storage.has_read_model:
                events: Iterable[Event] = self.storage.events_of_tickets(part, until=until)
            else:
                wanted = set(part)
                events = self._events_of(wanted, until)
            projector = Projector(self.ledger.reference).feed_all(events)
            for ticket_id in part:
                state = projector.tickets.get(ticket_id)
                if state is not None:
                    yield state

    def _events_of(self, wanted: set[str], until: dt.date | None) -> list[Event]:
        found = [
            e
            for e in self.storage.events()
            if (e.ticket_id in wanted or e.type in ENTERPRISE_EVENTS)
            and (until is None or e.date <= until)
        ]
        return found

    # ------------------------------------------------------------------ enterprises

    def enterprises(self, query: EnterpriseQuery | None = None) -> EnterprisePage:
        """A page of the roster (by credit code, or in registration order), filtered."""
        query = query or EnterpriseQuery()
        if self.stored:
            total, rows = self.storage.enterprise_rows(query)
            items = tuple(EnterpriseSummary.from_row(r) for r in rows)
            return EnterprisePage(total, query.offset, query.limit, items)
        projector, last = Projector(self.ledger.reference), {}
        for event in self.storage.events(types=ENTERPRISE_TYPES):
            projector.feed(event)
            last[str(event.enterprise)] = int(event.seq or 0)
        every = (EnterpriseSummary.of(e, last[c]) for c, e in projector.enterprises.items())
        matching = [e for e in every if enterprise_matches(e, query)]
        if not query.by_registration:
            matching.sort(key=lambda e: e.credit_code)
        end = None if query.limit is None else query.offset + query.limit
        return EnterprisePage(
            len(matching), query.offset, query.limit, tuple(matching[query.offset : end])
        )

    def enterprise(self, code: str) -> Enterprise | None:
        """One enterprise with its changes, from its own events only (None: not registered).

        A stored credit code never holds NUL (the events' schema), which PostgreSQL's text
        could not hold either: such a code is answered as not registered without a query.
        """
        if "\x00" in code:
            return None
        return replay_enterprise(self.storage.events(enterprise=code, types=ENTERPRISE_TYPES))

    def tickets_per_enterprise(self) -> dict[str, int]:
        """How many tickets each enterprise with any has."""
        if self.stored:
            return self.storage.tickets_per_enterprise()
        counts: dict[str, int] = {}
        for row in self.ledger.replayed_rows().tickets:
            counts[row[1]] = counts.get(row[1], 0) + 1
        return counts

    def ticket_ids_with_prefix(self, prefix: str) -> list[str]:
        """The ticket ids that begin with ``prefix``, in order (a range of the key)."""
        if self.stored:
            return self.storage.ticket_ids_with_prefix(prefix)
        return sorted(r[0] for r in self.ledger.replayed_rows().tickets if r[0].startswith(prefix))

    def ticket_ids(self, query: TicketQuery) -> list[str]:
        """The ids of every ticket matching ``query`` (paging as the query says)."""
        return [item.ticket_id for item in self.tickets(query).items]

    def all_ticket_ids(self) -> list[str]:
        """Every ticket id in 台账 order: from the stored rows only their ids (the query of
        ``ticket_overdue`` under no sweep key, whose flags are all unknown and unused), not
        every ticket's whole row."""
        every = TicketQuery(limit=None)
        if self.stored:
            return [
                ticket_id for ticket_id, _ in self.storage.ticket_overdue(every, dt.date.min, "")
            ]
        return [s.ticket_id for s in self.tickets(every).items]

    # ------------------------------------------------------------------ rebuild

    def differences(self, *, limit: int = 20) -> list[str]:
        """How the stored rows differ from a full replay (empty: identical), at most ``limit``."""
        if not self.storage.has_read_model:
            return []
        truth = self.ledger.replayed_rows()
        stored_tickets, stored_enterprises = self.storage.read_model_rows()
        stored_units = [tuple(r) for r in self.storage.read_model_units()]
        found: list[str] = []
        if not self.storage.read_model_current():
            found.append("读取模型未覆盖全部事件（落后于事件）")
        for what, want, have, columns in (
            ("办理单", truth.tickets, stored_tickets, TICKET_COLUMNS),
            ("企业", truth.enterprises, stored_enterprises, ENTERPRISE_COLUMNS),
        ):
            want_by = {r[0]: tuple(r) for r in want}
            have_by = {r[0]: tuple(r) for r in have}
            for key in sorted(set(want_by) | set(have_by)):
                a, b = want_by.get(key), have_by.get(key)
                if a == b:
                    continue
                if a is None:
                    found.append(f"{what} {key}：读取模型中有，重放中没有")
                elif b is None:
                    found.append(f"{what} {key}：读取模型中缺失")
                else:
                    cols = [c for c, x, y in zip(columns, a, b, strict=True) if x != y]
                    found.append(f"{what} {key}：{'、'.join(cols)} 不同")
                if len(found) >= limit:
                    return found
        want_units, have_units = _grouped(truth.units), _grouped(stored_units)
        for key in sorted(set(want_units) | set(have_units)):
            if want_units.get(key) != have_units.get(key):
                found.append(f"办理单 {key}：有关单位（{'、'.join(UNIT_COLUMNS[1:])}）不同")
                if len(found) >= limit:
                    return found
        stored_enterprise_units = [tuple(r) for r in self.storage.read_model_enterprise_units()]
        want_units = _grouped(truth.enterprise_units)
        have_units = _grouped(stored_enterprise_units)
        for key in sorted(set(want_units) | set(have_units)):
            if want_units.get(key) != have_units.get(key):
                found.append(f"企业 {key}：包抓单位和专班单位（{ENTERPRISE_UNIT_COLUMNS[1]}）不同")
                if len(found) >= limit:
                    return found
        return found

    def rebuild(self) -> tuple[int, int]:
        """Recompute every row from a full replay, in one transaction; (tickets, enterprises)."""
        if not self.storage.has_read_model:
            return 0, 0
        return self.ledger.rebuild_read_model()
