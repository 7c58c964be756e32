"""The data of the console's pages, taken from the kernel's own tables, clocks and reports.

Nothing here decides a grade, a route or a deadline: the 台账 is
:func:`kernel.assessment.ledger_table.ledger_table`, the clocks are
:class:`kernel.clocks.compute.ClockEvaluator`'s, the explanation is the kernel's evaluation.
This module filters, sorts and pages what those return, for the signed-in person.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kernel.assessment.ledger_table import BRIEF
from kernel.ledger.projection import Enterprise, TicketState
from kernel.outputs.tables import Table, shown
from kernel.storage.readmodel_sql import TEXT_MAX, TicketQuery
from kernel.vocabulary import TICKET_STATE_WORDS
from kernel.web.access import Viewer, may_see_enterprise, may_see_ticket, units_of
from kernel.web.state import Console

if TYPE_CHECKING:
    from kernel.ledger.readmodel import EnterpriseSummary

PAGE_SIZE = 50
#: the 台账 columns the page shows, those the terminal shows (every column goes into the export)
SHOWN = BRIEF
FILTERS = ("state", "grade", "unit", "category", "territory", "overdue", "month", "q")


@dataclass
class LedgerView:
    """One page of the filtered, sorted 台账."""

    table: Table
    rows: list[tuple[Any, ...]]
    total: int
    page: int
    pages: int
    sort: str
    desc: bool
    filters: dict[str, str]
    choices: dict[str, list[str]] = field(default_factory=dict)

    @property
    def shown_columns(self) -> list[tuple[int, str, str]]:
        """(index, key, header) of the columns on screen."""
        index = {k: i for i, k in enumerate(self.table.keys)}
        return [(index[k], k, self.table.headers[index[k]]) for k in SHOWN]

    def cell(self, row: tuple[Any, ...], index: int) -> str:
        """A cell as text."""
        return shown(row[index], self.table.kinds.get(self.table.keys[index], "text"))


def visible_states(console: Console, viewer: Viewer) -> dict[str, TicketState]:
    """The problems this person may see, by number."""
    tickets = console.projector().tickets
    return {k: s for k, s in tickets.items() if may_see_ticket(viewer, s)}


def prefilter(viewer: Viewer, filters: Mapping[str, str]) -> TicketQuery:
    """The read-model query of the 台账 rows this person may see that can pass ``filters``
    (every one of them, perhaps a few more: the rows are still checked as before), in 台账
    order: their own tickets through the ticket's units, the state, grade, unit, category,
    territory, month and text in SQL."""
    units = [] if viewer.principal.reads_everything else [viewer.unit]
    if filters.get("unit") and filters["unit"] not in units:
        units.append(filters["unit"])
    equal = {name: filters[name] for name in ("grade", "category", "territory") if name in filters}
    codes = [code for code, word in TICKET_STATE_WORDS.items() if word == filters.get("state")]
    if len(codes) == 1:
        equal["state"] = codes[0]
    return TicketQuery(
        filters=equal,
        limit=None,
        units=tuple(units),
        contains=filters.get("q", "")[:TEXT_MAX],
        collected_prefix=filters.get("month", "")[:TEXT_MAX],
    )


def ledger_rows(
    console: Console, viewer: Viewer, query: TicketQuery, as_of: dt.date, overdue: str = ""
) -> tuple[Table, list[tuple[Any, ...]], dict[str, TicketState]]:
    """The 台账 (its columns), the rows of the tickets of ``query`` this person may see and
    their states: from the read model only those tickets' events are read (a batch at a time)
    and their clocks evaluated, however many they are; "overdue" (``是``/``否``) leaves out the
    tickets the sweep's stored flag already answers otherwise. Without a current read model,
    from the whole 台账."""
    from kernel.clocks.lists import cached_key
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(console.ledger)
    if not model.stored:
        states = visible_states(console, viewer)
        table = console.ledger_table(as_of)
        col = table.keys.index("ticket_id")
        return table, [r for r in table.rows if r[col] in states], states
    storage = console.ledger.storage
    flags = storage.ticket_overdue(query, as_of, cached_key(console.evaluator()))
    wanted = {"是": True, "否": False}.get(overdue)
    ids = [t for t, flag in flags if wanted is None or flag is None or flag is wanted]
    table, picked = console.subset_table(ids, as_of, lambda some: list(model.states(some)))
    visible = {s.ticket_id: s for s in picked if may_see_ticket(viewer, s)}
    col = table.keys.index("ticket_id")
    return table, [r for r in table.rows if r[col] in visible], visible


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None or value == "":
        return (2, "")
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, dt.date):
        return (0, value.isoformat())
    if isinstance(value, list):
        return (1, "、".join(map(str, value)))
    return (1, str(value))


def filtered_rows(
    console: Console, viewer: Viewer, params: Mapping[str, str], as_of: dt.date
) -> tuple[Table, list[tuple[Any, ...]], dict[str, str], str, bool]:
    """Every 台账 row this person may see that passes the filters, in the asked order."""
    filters = {k: params.get(k, "").strip() for k in FILTERS if params.get(k, "").strip()}
    table, candidates, states = ledger_rows(
        console, viewer, prefilter(viewer, filters), as_of, filters.get("overdue", "")
    )
    col = {k: i for i, k in enumerate(table.keys)}
    rows = []
    for row in candidates:
        state = states.get(row[col["ticket_id"]])
        if state is None:
            continue
        if "state" in filters and row[col["status"]] != filters["state"]:
            continue
        if "grade" in filters and row[col["grade"]] != filters["grade"]:
            continue
        if "unit" in filters and filters["unit"] not in units_of(state):
            continue
        if "category" in filters and row[col["category"]] != filters["category"]:
            continue
        if "territory" in filters and row[col["territory"]] != filters["territory"]:
            continue
        if "overdue" in filters and shown(row[col["overdue"]], "yes_no") != filters["overdue"]:
            continue
        if "month" in filters and not str(row[col["collected_on"]]).startswith(filters["month"]):
            continue
        if "q" in filters and not any(
            filters["q"] in str(row[col[k]]) for k in ("ticket_id", "enterprise", "summary")
        ):
            continue
        rows.append(row)
    sort = params.get("sort", "collected_on")
    if sort not in col:
        sort = "collected_on"
    desc = params.get("dir", "desc" if sort == "collected_on" else "asc") == "desc"
    rows.sort(key=lambda r: _sort_key(r[col[sort]]), reverse=desc)
    return table, rows, filters, sort, desc


def ledger_view(
    console: Console, viewer: Viewer, params: Mapping[str, str], as_of: dt.date
) -> LedgerView:
    """The 台账 page: filtered, sorted and cut into pages."""
    table, rows, filters, sort, desc = filtered_rows(console, viewer, params, as_of)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    try:
        page = min(max(1, int(params.get("page", "1"))), pages)
    except ValueError:
        page = 1
    ref = console.ruleset.reference
    choices = {
        "state": list(TICKET_STATE_WORDS.values()),
        "grade": ["A", "B", "C", "D"],
        "unit": list(ref.units) if viewer.role != "unit" else [viewer.unit],
        "category": list(ref.categories),
        "territory": ref.ids("territories"),
        "overdue": ["是", "否"],
    }
    return LedgerView(
        table,
        rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        len(rows),
        page,
        pages,
        sort,
        desc,
        filters,
        choices,
    )


def export_table(
    table: Table,
    rows: list[tuple[Any, ...]],
    filters: dict[str, str],
    *,
    shown_only: bool = False,
) -> Table:
    """Rows of the 台账 as a workbook table, in the order shown; every column, or
    (``shown_only``) exactly the columns on screen."""
    note = "；".join(f"{k}={v}" for k, v in filters.items())
    title = table.title + (f"（筛选：{note}）" if note else "")
    if not shown_only:
        return Table(
            title, table.keys, table.headers, list(rows), kinds=table.kinds, name=table.name
        )
    index = [table.keys.index(k) for k in SHOWN]
    return Table(
        title,
        SHOWN,
        tuple(table.headers[i] for i in index),
        [tuple(row[i] for i in index) for row in rows],
        kinds={k: v for k, v in table.kinds.items() if k in SHOWN},
        name=table.name,
    )


def enterprise_tickets(console: Console, viewer: Viewer, code: str) -> list[TicketState]:
    """The problems of one enterprise this person may see, in the order they were recorded
    (the read model's rows of that enterprise and those tickets' events only)."""
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(console.ledger)
    if not model.stored:
        return [
            s
            for s in console.projector().tickets.values()
            if s.enterprise == code and may_see_ticket(viewer, s)
        ]
    units = () if viewer.principal.reads_everything else (viewer.unit,)
    query = TicketQuery(filters={"enterprise": code}, limit=None, units=units)
    states = model.states([t.ticket_id for t in model.tickets(query).items])
    ordered = sorted(states, key=lambda s: int(s.events[0].seq or 0))
    return [s for s in ordered if may_see_ticket(viewer, s)]


@dataclass
class Workbench:
    """The 工作台's numbers and lists."""

    overdue: list[tuple[Any, ...]]
    due_soon: list[tuple[Any, ...]]
    open_rows: list[tuple[Any, ...]]  # a unit's problems in hand (the office: empty)
    waiting: list[TicketState]  # waiting for this unit's feedback (or the office's grading)
    escalations: list[Any]
    counts: dict[str, int]
    outbox: dict[str, int]
    ungraded: list[TicketState]
    undispatched: list[TicketState]


def workbench(console: Console, viewer: Viewer, as_of: dt.date) -> Workbench:
    """Today's work for the signed-in person."""
    table, mine, states = ledger_rows(console, viewer, prefilter(viewer, {}), as_of)
    col = {k: i for i, k in enumerate(table.keys)}
    if viewer.role == "unit":
        # a unit's own work: it handles it (primary or co-handler) or owes the feedback
        mine = [
            r
            for r in mine
            if viewer.unit in states[r[col["ticket_id"]]].handlers
            or states[r[col["ticket_id"]]].route.get("feedback_owner") == viewer.unit
        ]
    open_rows = [r for r in mine if r[col["resolved_on"]] is None]
    overdue = [r for r in open_rows if r[col["overdue"]] is True]
    soon_until = as_of + dt.timedelta(days=7)
    due_soon = [
        r
        for r in open_rows
        if isinstance(r[col["resolve_due"]], dt.date)
        and as_of <= r[col["resolve_due"]] <= soon_until
        and r[col["overdue"]] is not True
    ]
    due_soon.sort(key=lambda r: r[col["resolve_due"]])
    waiting = [
        s
        for s in states.values()
        if s.state == "resolved"
        and (viewer.role != "unit" or (s.route.get("feedback_owner") or s.lead_unit) == viewer.unit)
    ]
    month = as_of.strftime("%Y-%m")
    counts = {
        "本月收集": sum(1 for r in mine if str(r[col["collected_on"]]).startswith(month)),
        "本月办结": sum(1 for r in mine if str(r[col["resolved_on"]] or "").startswith(month)),
        "在办": len(open_rows),
        "超期": len(overdue),
    }
    escalations = [
        e
        for e in console.ledger.events(
            types=("supervision.issued", "notice.published", "interview.recommended")
        )
        if e.ticket_id in states
    ][-10:]
    escalations.reverse()
    outbox: dict[str, int] = {}
    if viewer.office:
        outbox = dict(Counter(d.status for d in console.ledger.storage.deliveries()))
    return Workbench(
        overdue=overdue,
        due_soon=due_soon,
        open_rows=open_rows if viewer.role == "unit" else [],
        waiting=waiting,
        escalations=escalations,
        counts=counts,
        outbox=outbox,
        ungraded=[s for s in states.values() if s.state == "reported"] if viewer.office else [],
        undispatched=[s for s in states.values() if s.state == "graded"] if viewer.office else [],
    )


def visible_enterprises(
    console: Console, viewer: Viewer, named: str | None = None
) -> list[Enterprise | EnterpriseSummary]:
    """The enterprises this person may see (only the one whose credit code or name is
    ``named``, when given), in the order they were registered: the read model's rows, or the
    projection's enterprises without a current read model."""
    from kernel.ledger.readmodel import EnterpriseQuery, ReadModel

    model = ReadModel(console.ledger)
    if not model.stored:
        return [
            e
            for e in console.projector().enterprises.values()
            if may_see_enterprise(viewer, e)
            and (named is None or named in (e.credit_code, e.get("name")))
        ]
    unit = None if viewer.principal.reads_everything else viewer.unit
    query = EnterpriseQuery(unit=unit, named=named, by_registration=True, limit=None)
    return list(model.enterprises(query).items)


def enterprise_of(console: Console, code: str) -> Enterprise | None:
    """One enterprise with its changes: from its own events with a current read model, else
    from the projection (None: not registered)."""
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(console.ledger)
    if model.stored:
        return model.enterprise(code)
    return console.projector().enterprises.get(code)


def next_ticket_number(console: Console, prefix: str) -> int:
    """The number after the highest ``{prefix}{digits}`` ticket id (1 when there is none):
    the ids in the prefix's key range with a current read model, else every ticket's."""
    from kernel.ledger.readmodel import ReadModel

    model = ReadModel(console.ledger)
    ids: Iterable[str] = (
        model.ticket_ids_with_prefix(prefix) if model.stored else console.projector().tickets
    )
    numbers = [
        int(t[len(prefix) :]) for t in ids if t.startswith(prefix) and t[len(prefix) :].isdigit()
    ]
    return max(numbers, default=0) + 1


@dataclass
class RosterRow:
    """One enterprise with its 四个一 and its contacts per month."""

    enterprise: Enterprise | EnterpriseSummary
    months: list[int]
    problems: int


def roster(console: Console, viewer: Viewer, year: int) -> list[RosterRow]:
    """The enterprises this person may see, by name (then in registration order), with a
    month grid of contacts in ``year`` and their problems (the read model's counts with a
    current one, else the projection's)."""
    from kernel.ledger.readmodel import ReadModel

    counts: dict[str, list[int]] = {}
    for event in console.ledger.events(types=("contact.recorded",)):
        if event.date.year == year and event.enterprise:
            counts.setdefault(event.enterprise, [0] * 12)[event.date.month - 1] += 1
    model = ReadModel(console.ledger)
    if model.stored:
        problems = model.tickets_per_enterprise()
    else:
        problems = dict(Counter(s.enterprise for s in console.projector().tickets.values()))
    enterprises = visible_enterprises(console, viewer)
    return [
        RosterRow(e, counts.get(e.credit_code, [0] * 12), problems.get(e.credit_code, 0))
        for e in sorted(enterprises, key=lambda e: str(e.get("name")))
    ]
