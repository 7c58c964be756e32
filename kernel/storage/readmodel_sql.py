"""The read model's tables and queries, shared by the SQLite and PostgreSQL backends.

The read model holds the current state of every ticket (``rm_tickets``) and enterprise
(``rm_enterprises``), written by the ledger in the transaction of the events that change them,
so a read never replays the ledger. Its rows are computed by :mod:`kernel.ledger.readmodel`
(the storage layer only stores them); ``meta.read_model_seq`` is the last event seq they
cover. A store whose read model lags its events (an older ledger just upgraded, or events
written around the ledger) is read by replaying until a writer or ``huhang ledger rebuild``
brings it up to date.

``rm_ticket_units`` holds every unit with a part in each ticket and its role (包抓 ``lead``,
主办 ``primary``, 协办 ``co_handler``, 反馈 ``feedback``, 协调 ``coordinator``; the position in
the route's list for the last two kinds), written with the ticket's row, so "the tickets unit X
may read" is an indexed query (:attr:`TicketQuery.units`). The enterprise roster's own columns,
its units and its queries are in :mod:`kernel.storage.enterprise_sql`.

Dates are ISO text in both backends, so the rows compare equal across backends and with a
replay. ``quiet_from``, ``quiet_until`` and ``breached`` belong to the sweep
(:mod:`kernel.clocks.index`): a ticket needs no sweeping as of a day in
``[quiet_from, quiet_until)`` unless it has a new event (NULL: sweep it); ``breached`` says
whether a clock of it was overdue as of ``quiet_from`` -- the same answer for every day of the
window -- and ``rm_clocks`` holds each of its clock instances (due date, stop, state, owners)
as the sweep found them. Any new event of the ticket clears all three and deletes its clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

#: the columns of ``rm_tickets`` in row order (``quiet_from`` is not part of a row)
TICKET_COLUMNS = (
    "ticket_id",
    "enterprise",
    "enterprise_name",
    "territory",
    "lead_unit",
    "category",
    "summary",
    "state",
    "grade",
    "overridden",
    "primary_unit",
    "co_handlers",
    "collected_on",
    "reported_on",
    "graded_on",
    "dispatched_on",
    "resolved_on",
    "feedback_on",
    "rated_on",
    "rating",
    "rounds",
    "last_seq",
    "last_on",
    "last_type",
    "event_count",
)
#: the columns of ``rm_enterprises`` in row order; ``assignment`` is the "四个一" as JSON (an
#: object, in the order the events gave its fields)
ENTERPRISE_COLUMNS = (
    "credit_code",
    "name",
    "territory",
    "lead_unit",
    "registered_on",
    "last_seq",
    "assignment",
)

_INTEGER = frozenset({"overridden", "rounds", "last_seq", "event_count"})
_NOT_NULL = frozenset(
    {"ticket_id", "enterprise", "state", "co_handlers", "collected_on", "last_on", "last_type"}
)
#: columns a ticket query may filter on by equality (each has an index led by it)
FILTER_COLUMNS = ("state", "grade", "primary_unit", "lead_unit", "territory", "category")
#: equality filters without their own index (they narrow an indexed scan)
EXTRA_FILTERS = ("enterprise",)
ORDER = "collected_on, ticket_id"


def ddl(collate: str = "") -> tuple[str, ...]:
    """``CREATE`` statements (``collate`` e.g. ``' COLLATE "C"'`` for PostgreSQL text keys)."""
    columns = []
    for name in TICKET_COLUMNS:
        kind = "BIGINT" if name in _INTEGER else f"TEXT{collate}"
        null = " NOT NULL" if name in _NOT_NULL or name in _INTEGER else ""
        key = " PRIMARY KEY" if name == "ticket_id" else ""
        columns.append(f"{name} {kind}{null}{key}")
    columns.append("quiet_from TEXT")
    columns.append("quiet_until TEXT")
    out = [
        f"CREATE TABLE IF NOT EXISTS rm_tickets ({', '.join(columns)})",
        f"CREATE INDEX IF NOT EXISTS rm_tickets_order ON rm_tickets ({ORDER})",
        "CREATE INDEX IF NOT EXISTS rm_tickets_quiet ON rm_tickets (quiet_from)",
        # covering: the per-unit counts read this index only
        "CREATE INDEX IF NOT EXISTS rm_tickets_unit_state ON rm_tickets (primary_unit, state)",
    ]
    for name in FILTER_COLUMNS:
        out.append(f"CREATE INDEX IF NOT EXISTS rm_tickets_{name} ON rm_tickets ({name}, {ORDER})")
    out.append(
        "CREATE TABLE IF NOT EXISTS rm_enterprises ("
        f"credit_code TEXT{collate} PRIMARY KEY, name TEXT, territory TEXT{collate}, "
        f"lead_unit TEXT{collate}, registered_on TEXT NOT NULL, last_seq BIGINT NOT NULL)"
    )
    return tuple(out)


#: the columns of a ticket's row that its first event (``ticket.collected``) fixes for good: an
#: update of the row leaves them, and the indexes led by them, alone
COLLECTED_COLUMNS = frozenset(
    {"enterprise", "enterprise_name", "territory", "lead_unit", "category", "summary",
     "collected_on"}
)  # fmt: skip


#: the columns the API's text search looks in ...
TEXT_COLUMNS = ("ticket_id", "summary", "enterprise_name", "primary_unit")
#: ... stored lower-cased beside the row by Python's ``str.lower`` (what SQL's LOWER does
#: differs between databases and collations beyond ASCII), so the search is exact; NULL where
#: the column is (:func:`search_value`)
SEARCH_COLUMNS = ("search_id", "search_summary", "search_name", "search_primary")
#: what repairs search columns written under the old rule, ``str(None)`` ("none": ``q=none``
#: listed every ungraded ticket), where the column itself is NULL (SQLite schema 8,
#: PostgreSQL 9); the others were already right
REPAIR_SEARCH = tuple(
    f"UPDATE rm_tickets SET {search} = NULL WHERE {column} IS NULL AND {search} IS NOT NULL"
    for column, search in zip(TEXT_COLUMNS, SEARCH_COLUMNS, strict=True)
)


def search_value(value: Any) -> str | None:
    """What the API's text search looks in for one column: its text lower-cased, nothing for a
    missing value (a ticket without a primary unit does not hold the word "none")."""
    return None if value is None else str(value).lower()


def text_found(text: str, values: Iterable[Any]) -> bool:
    """Whether ``text`` (lower case) occurs in a search value of one of ``values`` (what the
    SQL's ``instr``/``strpos`` on the search columns answers; NULL holds nothing)."""
    return any(text in found for found in map(search_value, values) if found is not None)


#: the columns the console's case-sensitive search looks in (as ``str(value)``: ``None``)
CONTAINS_COLUMNS = ("ticket_id", "enterprise_name", "summary")


def stored_ticket(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A ticket row with its search columns, as :func:`upsert_tickets` writes it."""
    values = dict(zip(TICKET_COLUMNS, row, strict=True))
    return (*row, *(search_value(values[name]) for name in TEXT_COLUMNS))


def ddl_lists(collate: str = "", add: str = "ADD COLUMN") -> tuple[str, ...]:
    """What lists by unit, text and overdue need (schema version 6 in SQLite, 7 in
    PostgreSQL): the units of each ticket, the sweep's clock instances, the ``breached`` flag
    and the search columns (``add`` e.g. ``ADD COLUMN IF NOT EXISTS`` where the database has
    it; SQLite's migration skips a column that exists)."""
    return (
        "CREATE TABLE IF NOT EXISTS rm_ticket_units ("
        f"ticket_id TEXT{collate} NOT NULL, role TEXT{collate} NOT NULL, "
        f"list_index BIGINT NOT NULL, unit TEXT{collate} NOT NULL, "
        "PRIMARY KEY (ticket_id, role, list_index))",
        "CREATE INDEX IF NOT EXISTS rm_ticket_units_unit ON rm_ticket_units (unit, ticket_id)",
        "CREATE TABLE IF NOT EXISTS rm_clocks ("
        f"ticket_id TEXT{collate} NOT NULL, clock_key TEXT{collate} NOT NULL, "
        f"clock_id TEXT{collate} NOT NULL, due TEXT, stop TEXT, state TEXT{collate} NOT NULL, "
        "owners TEXT NOT NULL, PRIMARY KEY (ticket_id, clock_key))",
        "CREATE INDEX IF NOT EXISTS rm_clocks_state ON rm_clocks (state, due)",
        f"ALTER TABLE rm_tickets {add} breached BIGINT",
        *(f"ALTER TABLE rm_tickets {add} {name} TEXT{collate}" for name in SEARCH_COLUMNS),
    )


#: the columns of ``rm_ticket_units`` in row order (:func:`kernel.ledger.rows.unit_rows`)
UNIT_COLUMNS = ("ticket_id", "role", "list_index", "unit")
#: the columns of ``rm_clocks`` in row order
CLOCK_COLUMNS = ("ticket_id", "clock_key", "clock_id", "due", "stop", "state", "owners")
INSERT_UNITS = "INSERT INTO rm_ticket_units (ticket_id, role, list_index, unit) VALUES ({ph})"
DELETE_UNITS = "DELETE FROM rm_ticket_units WHERE ticket_id = {ph}"
DELETE_CLOCKS = "DELETE FROM rm_clocks WHERE ticket_id = {ph}"
ALL_UNITS = (
    f"SELECT {', '.join(UNIT_COLUMNS)} FROM rm_ticket_units ORDER BY ticket_id, role, list_index"
)


def put_units(
    cur: Any, ph: str, tickets: list[tuple[Any, ...]], units: list[tuple[Any, ...]]
) -> None:
    """Replace the unit rows of the tickets whose rows are written, and drop their clocks
    (``cur`` offers ``executemany``; a changed ticket is swept again)."""
    if not tickets:
        return
    ids = [(row[0],) for row in tickets]
    cur.executemany(DELETE_UNITS.format(ph=ph), ids)
    cur.executemany(DELETE_CLOCKS.format(ph=ph), ids)
    if units:
        cur.executemany(INSERT_UNITS.format(ph=", ".join([ph] * 4)), units)


def upsert_tickets(ph: str) -> str:
    """Insert or replace a ticket row with its search columns (:func:`stored_ticket`); a
    changed ticket is swept again (``quiet_from`` NULL).

    A stored row keeps its :data:`COLLECTED_COLUMNS` (the same in every row of the ticket), so
    SQLite does not rewrite the four indexes on them for every event of the ticket.
    """
    columns = (*TICKET_COLUMNS, *SEARCH_COLUMNS)
    names = ", ".join(columns)
    marks = ", ".join([ph] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns[1:] if c not in COLLECTED_COLUMNS)
    return (
        f"INSERT INTO rm_tickets ({names}) VALUES ({marks}) "
        f"ON CONFLICT (ticket_id) DO UPDATE SET {sets}, "
        "quiet_from = NULL, quiet_until = NULL, breached = NULL"
    )


#: the longest text a list searches for (the API allows 100 characters)
TEXT_MAX = 400
#: a condition no row meets
NOTHING = "1 = 0"


def unstorable(ph: str, value: Any) -> bool:
    """Whether no stored text can equal or contain ``value``: a text with NUL on PostgreSQL
    (``ph`` ``%s``), whose text cannot hold one -- it would refuse the parameter, so a query
    with one is answered without sending it. SQLite's text can, and its comparisons and
    ``instr`` count it."""
    return ph != "?" and isinstance(value, str) and "\x00" in value


def substring_test(column: str, ph: str) -> str:
    """SQL that is true when the parameter is a substring of ``column``: ``instr`` (SQLite) or
    ``strpos`` (PostgreSQL), a plain test -- SQLite's ``LIKE`` would end its pattern at a NUL."""
    return f"{'instr' if ph == '?' else 'strpos'}({column}, {ph}) > 0"


def storable_in(column: str, values: Iterable[str], ph: str) -> tuple[str, list[str]]:
    """``column IN (...)`` over the ``values`` a stored row can hold, and its parameters
    (:data:`NOTHING` when none can)."""
    kept = [v for v in values if not unstorable(ph, v)]
    if not kept:
        return NOTHING, []
    return f"{column} IN ({', '.join([ph] * len(kept))})", kept


def like_pattern(text: str) -> str:
    """A ``LIKE`` pattern (escape character ``\\``) matching values that contain ``text``."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def paged(
    select: str, params: list[Any], ph: str, limit: int | None, offset: int
) -> tuple[str, list[Any]]:
    """``select`` (ordered) cut to one page: ``LIMIT``/``OFFSET`` as parameters."""
    if limit is not None:
        return f"{select} LIMIT {ph} OFFSET {ph}", [*params, limit, offset]
    if offset:
        return f"{select} OFFSET {ph}", [*params, offset]
    return select, params


class PagedQuery(Protocol):
    """A read-model query that counts its matches and reads one page of them."""

    def count_sql(self, ph: str) -> tuple[str, list[Any]]: ...

    def page_sql(self, ph: str) -> tuple[str, list[Any]]: ...


@dataclass(frozen=True)
class TicketQuery:
    """Which ticket rows to read: filters, a collection-date range, an order and a page.

    ``filters`` maps a column of :data:`FILTER_COLUMNS` or :data:`EXTRA_FILTERS` to the wanted
    value; every unit of ``units`` must have a part in the ticket (``rm_ticket_units``: a
    unit's own tickets, the ``unit`` filter); ``text`` (lower case) must occur in the
    lower-cased ticket id, summary, enterprise name or primary unit (the API's ``q``);
    ``contains`` must occur, case and all, in the ticket id, enterprise name or summary (the
    console's); ``collected_prefix`` must begin the collection date (ISO text); ``ticket_ids``
    limits the rows to those ids. Rows come in 台账 order (collection date, then ticket id), or
    by ticket id with ``by_id``.
    """

    filters: dict[str, str] = field(default_factory=dict)
    collected_from: dt.date | None = None
    collected_to: dt.date | None = None
    offset: int = 0
    limit: int | None = 50
    units: tuple[str, ...] = ()
    text: str = ""
    contains: str = ""
    collected_prefix: str = ""
    ticket_ids: tuple[str, ...] | None = None
    by_id: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.filters) - set(FILTER_COLUMNS) - set(EXTRA_FILTERS)
        if unknown:
            raise ValueError(f"unknown ticket filters: {sorted(unknown)}")
        if self.offset < 0 or (self.limit is not None and self.limit < 0):
            raise ValueError("offset and limit must not be negative")
        if max(len(self.text), len(self.contains), len(self.collected_prefix)) > TEXT_MAX:
            raise ValueError(f"search text longer than {TEXT_MAX} characters")

    @property
    def order(self) -> str:
        """The ``ORDER BY`` columns."""
        return "ticket_id" if self.by_id else ORDER

    def where(self, ph: str) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause (may be empty) and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        texts = [*self.filters.values(), *self.units, self.text, self.contains]
        if any(unstorable(ph, t) for t in texts) or "\x00" in self.collected_prefix:
            return f" WHERE {NOTHING}", []  # no stored value holds it (nor a date a NUL)
        for name in (*FILTER_COLUMNS, *EXTRA_FILTERS):  # a fixed order: fixed SQL text
            if name in self.filters:
                parts.append(f"{name} = {ph}")
                params.append(self.filters[name])
        for unit in self.units:
            parts.append(f"ticket_id IN (SELECT ticket_id FROM rm_ticket_units WHERE unit = {ph})")
            params.append(unit)
        if self.text:
            ors = " OR ".join(substring_test(c, ph) for c in SEARCH_COLUMNS)
            parts.append(f"({ors})")
            params.extend([self.text] * len(SEARCH_COLUMNS))
        if self.contains:
            # case-sensitive
            ors = " OR ".join(
                substring_test(f"COALESCE({c}, 'None')", ph) for c in CONTAINS_COLUMNS
            )
            parts.append(f"({ors})")
            params.extend([self.contains] * len(CONTAINS_COLUMNS))
        if self.collected_prefix:
            parts.append(f"collected_on LIKE {ph} ESCAPE '\\'")
            params.append(like_pattern(self.collected_prefix)[1:])
        if self.ticket_ids is not None:
            part, ids = storable_in("ticket_id", self.ticket_ids, ph)
            parts.append(part)
            params.extend(ids)
        if self.collected_from is not None:
            parts.append(f"collected_on >= {ph}")
            params.append(self.collected_from.isoformat())
        if self.collected_to is not None:
            parts.append(f"collected_on <= {ph}")
            params.append(self.collected_to.isoformat())
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def page_sql(self, ph: str) -> tuple[str, list[Any]]:
        """The page's rows in 台账 order."""
        where, params = self.where(ph)
        select = f"SELECT {', '.join(TICKET_COLUMNS)} FROM rm_tickets{where} ORDER BY {self.order}"
        return paged(select, params, ph, self.limit, self.offset)

    def count_sql(self, ph: str) -> tuple[str, list[Any]]:
        """How many rows match (all pages)."""
        where, params = self.where(ph)
        return f"SELECT COUNT(*) FROM rm_tickets{where}", params

    def overdue_sql(self, ph: str, as_of: dt.date, key: str) -> tuple[str, list[Any]]:
        """Every matching ticket id (in the query's order) with its ``breached`` flag when the
        sweep under ``key`` marked the ticket quiet as of ``as_of`` (else NULL: its clocks must
        be evaluated). Paging is not applied; one statement, so the key and the flags agree."""
        where, params = self.where(ph)
        day = as_of.isoformat()
        sql = (
            f"SELECT ticket_id, CASE WHEN quiet_from <= {ph} AND quiet_until > {ph} "
            f"AND ({SWEEP_KEY}) = {ph} THEN breached END FROM rm_tickets{where} "
            f"ORDER BY {self.order}"
        )
        return sql, [day, day, key, *params]


TICKETS_BY_ID = f"SELECT {', '.join(TICKET_COLUMNS)} FROM rm_tickets WHERE ticket_id = "
ALL_TICKETS = f"SELECT {', '.join(TICKET_COLUMNS)} FROM rm_tickets ORDER BY ticket_id"
ALL_ENTERPRISES = f"SELECT {', '.join(ENTERPRISE_COLUMNS)} FROM rm_enterprises ORDER BY credit_code"


def clocks_of(ph: str) -> str:
    """One ticket's ``rm_clocks`` rows by clock key (its id the parameter)."""
    return f"SELECT {', '.join(CLOCK_COLUMNS)} FROM rm_clocks WHERE ticket_id = {ph} ORDER BY clock_key"


def roles_sql(ph: str, count: int) -> str:
    """The unit rows of ``count`` tickets (their ids the parameters), in role order."""
    return (
        "SELECT ticket_id, role, list_index, unit FROM rm_ticket_units WHERE ticket_id IN "
        f"({', '.join([ph] * count)}) ORDER BY ticket_id, role, list_index"
    )


def overdue_flags(rows: list[Any]) -> list[tuple[str, bool | None]]:
    """The rows of :meth:`TicketQuery.overdue_sql` as (ticket, overdue or None)."""
    return [(str(t), None if flag is None else bool(flag)) for t, flag in rows]


UNIT_COUNTS = (
    "SELECT primary_unit, state, COUNT(*) FROM rm_tickets WHERE primary_unit IS NOT NULL "
    "GROUP BY primary_unit, state ORDER BY primary_unit, state"
)
SWEEP_CANDIDATES = (
    "SELECT ticket_id FROM rm_tickets WHERE quiet_from IS NULL "
    "OR quiet_from > {ph} OR quiet_until <= {ph} ORDER BY ticket_id"
)


def mark_quiet(ph: str) -> str:
    """Set ``quiet_from``, ``quiet_until`` and ``breached`` for a ticket still at the event seq
    the sweep saw, none of whose events is dated after that day. Parameters: day, until,
    breached, ticket, seq, day."""
    return (
        f"UPDATE rm_tickets SET quiet_from = {ph}, quiet_until = {ph}, breached = {ph} "
        f"WHERE ticket_id = {ph} AND last_seq = {ph} AND last_on <= {ph}"
    )


@dataclass(frozen=True)
class QuietMark:
    """What a sweep as of ``day`` found for one ticket at event ``seq``: nothing can become
    due before ``until`` (``date.max``: never) unless it has a new event; whether a clock is
    overdue (the same on every day of the window) and its clock instances, as rows of
    ``rm_clocks`` without the ticket id (clock key, clock id, due, stop, state, owners)."""

    ticket_id: str
    seq: int
    day: dt.date
    until: dt.date
    breached: bool
    clocks: tuple[tuple[Any, ...], ...] = ()


class _Batch(Protocol):
    def executemany(self, query: Any, params_seq: Any, /) -> Any: ...


def write_quiet_marks(cur: _Batch, ph: str, marks: list[QuietMark]) -> None:
    """Set each mark whose ticket is unchanged since the sweep read it and replace its clock
    rows (three batched statements: the clock rows are written only where the mark was)."""
    cur.executemany(
        mark_quiet(ph),
        [
            (day, m.until.isoformat(), int(m.breached), m.ticket_id, m.seq, day)
            for m in marks
            for day in (m.day.isoformat(),)
        ],
    )
    cur.executemany(DELETE_CLOCKS.format(ph=ph), [(m.ticket_id,) for m in marks])
    values = ", ".join([ph] * len(CLOCK_COLUMNS))
    cur.executemany(
        f"INSERT INTO rm_clocks ({', '.join(CLOCK_COLUMNS)}) SELECT {values} WHERE EXISTS "
        f"(SELECT 1 FROM rm_tickets WHERE ticket_id = {ph} AND last_seq = {ph} "
        f"AND quiet_from = {ph})",
        [
            (m.ticket_id, *row, m.ticket_id, m.seq, m.day.isoformat())
            for m in marks
            for row in m.clocks
        ],
    )


#: the read model's covered seq and the top event seq (equal: the read model is current)
COVERAGE = (
    "SELECT (SELECT value FROM meta WHERE key = 'read_model_seq'),"
    " (SELECT COALESCE(MAX(seq), 0) FROM events)"
)
SWEEP_KEY = "SELECT value FROM meta WHERE key = 'sweep_key'"
CLEAR_QUIET = "UPDATE rm_tickets SET quiet_from = NULL, quiet_until = NULL, breached = NULL"


def is_current(coverage: tuple[Any, ...]) -> bool:
    """Whether the row of :data:`COVERAGE` says the read model covers every event."""
    covered, top = coverage
    return covered is not None and int(covered) == int(top)


def set_meta(ph: str, key: str) -> str:
    """Insert or replace the ``meta`` value of ``key`` (a fixed word, not input); one parameter."""
    return (
        f"INSERT INTO meta (key, value) VALUES ('{key}', {ph}) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )


class _Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What both backends' connections offer the shared steps below."""

    def execute(self, query: Any, params: Any = ..., /) -> _Cursor: ...


def sweep_key_is(conn: Connection, key: str) -> bool:
    """Whether the quiet marks were set under ``key`` (the rules and calendar they assume)."""
    row = conn.execute(SWEEP_KEY).fetchone()
    return row is not None and bool(row[0] == key)


def sweep_candidates(conn: Connection, ph: str, as_of: dt.date, key: str) -> list[str]:
    """In a writing transaction: forget marks set under another key, then the tickets not
    quiet as of ``as_of``."""
    if not sweep_key_is(conn, key):
        conn.execute(CLEAR_QUIET)
        conn.execute("DELETE FROM rm_clocks")
        conn.execute(set_meta(ph, "sweep_key"), (key,))
    day = as_of.isoformat()
    rows = conn.execute(SWEEP_CANDIDATES.format(ph=ph), (day, day)).fetchall()
    return [str(ticket_id) for (ticket_id,) in rows]


def read_model_seq(conn: Connection) -> int:
    """The last event seq the read model covers (-1: never written)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'read_model_seq'").fetchone()
    return -1 if row is None else int(row[0])


def clear(conn: Connection) -> None:
    """Delete every read-model row (a rebuild writes them again) and the assessment's facts
    cache (a cache: the next report computes it again)."""
    conn.execute("DELETE FROM rm_tickets")
    conn.execute("DELETE FROM rm_enterprises")
    conn.execute("DELETE FROM rm_enterprise_units")
    conn.execute("DELETE FROM rm_ticket_units")
    conn.execute("DELETE FROM rm_clocks")
    conn.execute("DELETE FROM rm_facts")


# --------------------------------------------------------------------------- facts cache


def facts_ddl(blob: str, collate: str = "") -> tuple[str, ...]:
    """``rm_facts``: the assessment facts of one ticket (``kind`` 't', ``subject`` its id) or
    one enterprise (``kind`` 'e', its credit code) as of a period end (``horizon``), or a
    ticket's part in the monthly report of the month ending on ``horizon`` (``kind`` 'm'),
    computed under the rules digest ``key`` from its events up to ``last_seq``
    (:mod:`kernel.assessment.facts`, :mod:`kernel.assessment.monthly_cache`). ``blob`` is the binary type (``BLOB``, ``BYTEA``)."""
    return (
        "CREATE TABLE IF NOT EXISTS rm_facts (horizon TEXT NOT NULL, kind TEXT NOT NULL, "
        f"subject TEXT{collate} NOT NULL, key TEXT NOT NULL, last_seq BIGINT NOT NULL, "
        f"body {blob} NOT NULL, PRIMARY KEY (horizon, kind, subject))",
    )


#: one page of cached rows after (kind, subject), in key order (keyset pagination: no
#: statement stays open between pages, and the bodies of one page at a time are held)
FACTS_PAGE = (
    "SELECT kind, subject, last_seq, body FROM rm_facts WHERE horizon = {ph} AND key = {ph} "
    "AND kind IN ({kinds}) AND (kind, subject) > ({ph}, {ph}) ORDER BY kind, subject LIMIT {ph}"
)
FACTS_PAGE_ROWS = 5_000
FACTS_KEY = "SELECT value FROM meta WHERE key = 'facts_key'"
#: a cached row: (kind, subject, last seq, body)
FactsRow = tuple[str, str, int, bytes]


def facts_pages(
    fetch: Callable[[str, tuple[Any, ...]], list[Any]],
    ph: str,
    horizon: dt.date,
    key: str,
    kinds: tuple[str, ...],
) -> Iterator[FactsRow]:
    """The cached rows of ``kinds`` of ``horizon`` under ``key``, read a page at a time with
    ``fetch`` (a backend's read: SQL and parameters to rows)."""
    sql = FACTS_PAGE.format(ph=ph, kinds=", ".join([ph] * len(kinds)))
    after: tuple[str, str] = ("", "")
    while True:
        rows = fetch(sql, (horizon.isoformat(), key, *kinds, *after, FACTS_PAGE_ROWS))
        for kind, subject, seq, body in rows:
            yield str(kind), str(subject), int(seq), bytes(body)
        if len(rows) < FACTS_PAGE_ROWS:
            return
        after = (str(rows[-1][0]), str(rows[-1][1]))


def upsert_facts(ph: str) -> str:
    """Insert or replace one row of facts; a row computed from later events is kept.
    Parameters: horizon, kind, subject, key, last seq, body."""
    return (
        "INSERT INTO rm_facts (horizon, kind, subject, key, last_seq, body) "
        f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
        "ON CONFLICT (horizon, kind, subject) DO UPDATE SET "
        "key = excluded.key, last_seq = excluded.last_seq, body = excluded.body "
        "WHERE rm_facts.key <> excluded.key OR rm_facts.last_seq <= excluded.last_seq"
    )


def put_facts(
    conn: Connection, ph: str, horizon: dt.date, key: str, rows: list[FactsRow]
) -> list[tuple[Any, ...]]:
    """In a writing transaction: drop the rows of another rules digest (once, when the key
    changes), then the parameters of :func:`upsert_facts` for ``rows`` (the caller runs them
    with its driver's ``executemany``)."""
    row = conn.execute(FACTS_KEY).fetchone()
    if row is None or row[0] != key:
        conn.execute("DELETE FROM rm_facts")
        conn.execute(set_meta(ph, "facts_key"), (key,))
    day = horizon.isoformat()
    return [(day, kind, subject, key, seq, body) for kind, subject, seq, body in rows]
