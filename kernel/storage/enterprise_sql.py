"""The read model's enterprise roster: its extra columns, its units and its queries.

``rm_enterprises`` (:mod:`kernel.storage.readmodel_sql`) holds each enterprise's "四个一" as
JSON (``assignment``) and, beside the row, ``search``: ``f"{credit_code} {name}"`` lower-cased
by Python's ``str.lower``, what the API's ``q`` looked in (SQL's ``LOWER`` differs between
databases beyond ASCII). ``rm_enterprise_units`` holds the units that may read each enterprise
(its lead unit and its working group: :func:`kernel.ledger.rows.assignment_units`), written
with its row, so "the enterprises unit X leads or works for" is an indexed query. Both are
schema version 7 in SQLite and migration 8 in PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kernel.storage.readmodel_sql import (
    ENTERPRISE_COLUMNS,
    NOTHING,
    TEXT_MAX,
    paged,
    storable_in,
    substring_test,
    unstorable,
)

#: the column beside each ``rm_enterprises`` row that the roster's text search reads
SEARCH_COLUMN = "search"
#: the columns of ``rm_enterprise_units`` in row order
ENTERPRISE_UNIT_COLUMNS = ("credit_code", "unit")


def ddl_enterprises(collate: str = "", add: str = "ADD COLUMN") -> tuple[str, ...]:
    """What the roster reads need (``add`` as in :func:`~kernel.storage.readmodel_sql.ddl_lists`):
    the assignment and search columns, the enterprises' units, indexes for the roster's filters
    and for an enterprise's tickets."""
    return (
        f"ALTER TABLE rm_enterprises {add} assignment TEXT",
        f"ALTER TABLE rm_enterprises {add} {SEARCH_COLUMN} TEXT{collate}",
        "CREATE TABLE IF NOT EXISTS rm_enterprise_units ("
        f"credit_code TEXT{collate} NOT NULL, unit TEXT{collate} NOT NULL, "
        "PRIMARY KEY (credit_code, unit))",
        "CREATE INDEX IF NOT EXISTS rm_enterprise_units_unit "
        "ON rm_enterprise_units (unit, credit_code)",
        "CREATE INDEX IF NOT EXISTS rm_enterprises_territory "
        "ON rm_enterprises (territory, credit_code)",
        "CREATE INDEX IF NOT EXISTS rm_enterprises_lead_unit "
        "ON rm_enterprises (lead_unit, credit_code)",
        "CREATE INDEX IF NOT EXISTS rm_tickets_enterprise ON rm_tickets (enterprise, ticket_id)",
    )


def search_text(credit_code: str, assignment: dict[str, Any]) -> str:
    """What the roster's ``q`` looks in (as the replaying list built it)."""
    return f"{credit_code} {assignment.get('name', '')}".lower()


def stored_enterprise(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """An enterprise row with its search column, as :func:`upsert_enterprises` writes it."""
    values = dict(zip(ENTERPRISE_COLUMNS, row, strict=True))
    return (*row, search_text(str(values["credit_code"]), json.loads(values["assignment"])))


def upsert_enterprises(ph: str) -> str:
    """Insert or replace an enterprise row with its search column (:func:`stored_enterprise`)."""
    columns = (*ENTERPRISE_COLUMNS, SEARCH_COLUMN)
    names = ", ".join(columns)
    marks = ", ".join([ph] * len(columns))
    sets = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (
        f"INSERT INTO rm_enterprises ({names}) VALUES ({marks}) "
        f"ON CONFLICT (credit_code) DO UPDATE SET {sets}"
    )


def put_enterprise_units(
    cur: Any, ph: str, enterprises: list[tuple[Any, ...]], units: list[tuple[Any, ...]]
) -> None:
    """Replace the unit rows of the enterprises whose rows are written (``cur`` offers
    ``executemany``)."""
    if not enterprises:
        return
    cur.executemany(
        f"DELETE FROM rm_enterprise_units WHERE credit_code = {ph}",
        [(row[0],) for row in enterprises],
    )
    if units:
        cur.executemany(
            f"INSERT INTO rm_enterprise_units (credit_code, unit) VALUES ({ph}, {ph})", units
        )


ALL_ENTERPRISE_UNITS = (
    "SELECT credit_code, unit FROM rm_enterprise_units ORDER BY credit_code, unit"
)
#: each enterprise's tickets (the console's roster), from the ``(enterprise, ticket_id)`` index
TICKETS_PER_ENTERPRISE = "SELECT enterprise, COUNT(*) FROM rm_tickets GROUP BY enterprise"
#: the seq of an enterprise's registration: the order in which a replay meets enterprises
REGISTRATION_SEQ = (
    "(SELECT MIN(seq) FROM events WHERE events.enterprise = rm_enterprises.credit_code "
    "AND events.type = 'enterprise.registered')"
)


@dataclass(frozen=True)
class EnterpriseQuery:
    """Which enterprise rows to read: filters, an order and a page.

    ``territory`` and ``lead_unit`` are equalities; ``unit`` must lead the enterprise or work
    for it (``rm_enterprise_units``: a unit's own roster); ``text`` (lower case) must occur in
    the search column (the API's ``q``; a substring test, so ``%``, ``_`` and ``\\`` are
    plain characters); ``named`` must be the credit code or the name (the
    console's choice of an enterprise); ``codes`` limits the rows to those credit codes. Rows
    come by credit code, or in registration order with ``by_registration`` (the order of a
    replay's enterprises).
    """

    territory: str | None = None
    lead_unit: str | None = None
    unit: str | None = None
    text: str = ""
    named: str | None = None
    codes: tuple[str, ...] | None = None
    by_registration: bool = False
    offset: int = 0
    limit: int | None = 50

    def __post_init__(self) -> None:
        if self.offset < 0 or (self.limit is not None and self.limit < 0):
            raise ValueError("offset and limit must not be negative")
        if len(self.text) > TEXT_MAX:
            raise ValueError(f"search text longer than {TEXT_MAX} characters")

    def where(self, ph: str) -> tuple[str, list[Any]]:
        """The ``WHERE`` clause (may be empty) and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        texts = (self.territory, self.lead_unit, self.unit, self.text, self.named)
        if any(unstorable(ph, t) for t in texts):
            return f" WHERE {NOTHING}", []
        for name in ("territory", "lead_unit"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name} = {ph}")
                params.append(value)
        if self.unit is not None:
            parts.append(
                f"credit_code IN (SELECT credit_code FROM rm_enterprise_units WHERE unit = {ph})"
            )
            params.append(self.unit)
        if self.text:
            parts.append(substring_test(SEARCH_COLUMN, ph))
            params.append(self.text)
        if self.named is not None:
            parts.append(f"(credit_code = {ph} OR name = {ph})")
            params.extend([self.named, self.named])
        if self.codes is not None:
            part, codes = storable_in("credit_code", self.codes, ph)
            parts.append(part)
            params.extend(codes)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def page_sql(self, ph: str) -> tuple[str, list[Any]]:
        """The page's rows in the query's order."""
        where, params = self.where(ph)
        order = f"{REGISTRATION_SEQ}, credit_code" if self.by_registration else "credit_code"
        select = (
            f"SELECT {', '.join(ENTERPRISE_COLUMNS)} FROM rm_enterprises{where} ORDER BY {order}"
        )
        return paged(select, params, ph, self.limit, self.offset)

    def count_sql(self, ph: str) -> tuple[str, list[Any]]:
        """How many rows match (all pages)."""
        where, params = self.where(ph)
        return f"SELECT COUNT(*) FROM rm_enterprises{where}", params


def id_range(prefix: str) -> tuple[str, str | None]:
    """The bounds ``[low, high)`` of the ids that begin with ``prefix`` in code-point order
    (SQLite's binary and PostgreSQL's "C" collation; ``high`` None: no upper bound)."""
    for cut in range(len(prefix), 0, -1):
        last = ord(prefix[cut - 1])
        if last < 0x10FFFF:
            return prefix, prefix[: cut - 1] + chr(last + 1)
    return prefix, None


def ticket_ids_sql(ph: str, high: str | None) -> str:
    """The ticket ids in ``[low, high)`` (parameters: low, and high when given), in order."""
    bound = "" if high is None else f" AND ticket_id < {ph}"
    return f"SELECT ticket_id FROM rm_tickets WHERE ticket_id >= {ph}{bound} ORDER BY ticket_id"
