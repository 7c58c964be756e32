"""The storage contract: what a ledger backend must provide.

A backend keeps two things: the append-only event log and the notice outbox. Writes happen in
a :meth:`Storage.transaction`, which is exclusive (no other writer, in this process or another,
runs between its reads and its writes) and atomic (all of it is stored, or none). The ledger
reads the ticket's events, checks the transition, and inserts the event and any notices in one
transaction, so two writers can never both accept conflicting events.

Backends are plugins: they register a factory under a URL scheme through the
``huhang_register_storage`` hook, and ``open_storage(url)`` picks one. The contract tests in
``kernel.testing.storage_contract`` are the executable form of this module; run them against a
new backend.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.storage.enterprise_sql import EnterpriseQuery
from kernel.storage.readmodel_sql import QuietMark, TicketQuery

# Outbox times (``next_attempt_at`` and the ``now`` of due_deliveries) are timezone-aware UTC.
NOTICE_PENDING = "pending"
NOTICE_SENT = "sent"
NOTICE_FAILED = "failed"  # gave up after the last retry; `huhang notify --retry` tries again


@dataclass(frozen=True)
class Notice:
    """A message for one unit (a warning, 督办, 通报 or 约谈), waiting in the outbox.

    ``notice_id`` identifies the notice itself (for example ``督办:HZ-1:C-RESOLVE:1``), so the
    same escalation is never issued twice. The outbox keeps one delivery per notifier.
    """

    notice_id: str
    kind: str  # warning | supervision | notice | interview | report
    unit: str
    title: str  # without the kind: notifiers show it once, in front (【督办】办理单 …)
    body: str
    day: dt.date
    ticket_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what notifiers send and the outbox file stores)."""
        out: dict[str, Any] = {
            "notice_id": self.notice_id,
            "kind": self.kind,
            "unit": self.unit,
            "title": self.title,
            "body": self.body,
            "date": self.day.isoformat(),
            "data": self.data,
        }
        if self.ticket_id is not None:
            out["ticket_id"] = self.ticket_id
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        """Inverse of :meth:`to_dict`."""
        return cls(
            notice_id=str(data["notice_id"]),
            kind=str(data["kind"]),
            unit=str(data["unit"]),
            title=str(data["title"]),
            body=str(data["body"]),
            day=dt.date.fromisoformat(str(data["date"])),
            ticket_id=data.get("ticket_id"),
            data=dict(data.get("data") or {}),
        )


@dataclass(frozen=True)
class Delivery:
    """One notice on its way to one notifier."""

    notice: Notice
    notifier: str
    status: str = NOTICE_PENDING
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class TokenRecord:
    """One API access token as stored: never the token itself, only its SHA-256 digest.

    ``token_id`` is the token's public part (shown by ``huhang token list``); ``role`` is
    ``office``, ``unit`` or ``auditor``; times are timezone-aware UTC.
    """

    token_id: str
    digest: str
    name: str
    unit: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class TokensUnsupported(InputError):
    """A storage backend that keeps no API tokens (JSON lines, plugins without the methods)."""


@dataclass(frozen=True)
class AccountRecord:
    """One console sign-in account as stored: the password only as its Argon2 hash.

    ``principal`` is the name the HTTP service knows the person by, ``role`` is ``office``,
    ``unit`` or ``auditor`` and ``unit`` the unit the account acts for. ``generation`` rises with
    every password change and with disabling, which ends the account's open sessions.
    ``locked_until`` (timezone-aware UTC) is set after repeated failed sign-ins. ``signed_out``
    names the sessions that signed out one browser (session nonce → when that session would have
    expired, ISO 8601), kept until then.
    """

    name: str
    password_hash: str
    principal: str
    unit: str
    role: str
    disabled: bool = False
    failures: int = 0
    locked_until: dt.datetime | None = None
    generation: int = 0
    signed_out: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form."""
        return {
            "signed_out": dict(self.signed_out),
            "name": self.name,
            "password_hash": self.password_hash,
            "principal": self.principal,
            "unit": self.unit,
            "role": self.role,
            "disabled": self.disabled,
            "failures": self.failures,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "generation": self.generation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountRecord:
        """Inverse of :meth:`to_dict`."""
        locked = data.get("locked_until")
        return cls(
            name=str(data["name"]),
            password_hash=str(data["password_hash"]),
            principal=str(data["principal"]),
            unit=str(data["unit"]),
            role=str(data["role"]),
            disabled=bool(data.get("disabled", False)),
            failures=int(data.get("failures", 0)),
            locked_until=dt.datetime.fromisoformat(locked) if locked else None,
            generation=int(data.get("generation", 0)),
            signed_out=tuple(
                (str(k), str(v)) for k, v in sorted(dict(data.get("signed_out") or {}).items())
            ),
        )


class AccountsUnsupported(InputError):
    """A storage backend that keeps no console accounts (JSON lines, plugins without them)."""


class Transaction(Protocol):
    """The reads and writes allowed inside :meth:`Storage.transaction`.

    Reads inside a transaction see its own uncommitted inserts. Transactions cannot be nested
    (a backend raises ``RuntimeError``).
    """

    def get(self, event_id: str) -> Event | None:
        """The stored event with this id, or None."""

    def ticket_events(self, ticket_id: str) -> list[Event]:
        """Every stored event of one ticket, in ledger order."""

    def enterprise_events(self, credit_code: str) -> list[Event]:
        """Every stored enterprise.* event of one enterprise, in ledger order."""

    def insert(self, event: Event) -> int:
        """Store a new event and return its ``seq`` (1, 2, 3, … in ledger order).

        An ``event_id`` that is already stored raises ``ValueError`` (the ledger checks first).
        """

    def add_notice(self, notice: Notice, notifiers: list[str]) -> bool:
        """Queue a notice for each notifier; False (and nothing queued) if its id exists."""


class ReadModelTransaction(Transaction, Protocol):
    """What a backend with a read model adds to :class:`Transaction` (batched writes).

    The ledger uses these when :attr:`Storage.has_read_model` is true: it checks a batch
    against ticket states it keeps in memory, then stores the events and the changed read-model
    rows in a few statements, all in the one transaction.
    """

    def last_seq(self) -> int:
        """The highest stored ``seq`` (0 for an empty ledger), own inserts included."""

    def get_many(self, event_ids: list[str]) -> dict[str, Event]:
        """The stored events among ``event_ids``, by id."""

    def ticket_events_many(self, ticket_ids: list[str]) -> dict[str, list[Event]]:
        """Every stored event of each ticket, in ledger order (tickets without any left out)."""

    def enterprise_events_many(self, codes: list[str]) -> dict[str, list[Event]]:
        """Every stored enterprise.* event of each enterprise, in ledger order (all listed)."""

    def ticket_seqs(self, ticket_ids: list[str]) -> dict[str, int]:
        """The read model's last event seq of each ticket (tickets without a row left out)."""

    def insert_many(self, events: list[Event]) -> None:
        """Store events whose ``seq`` the caller set (``last_seq() + 1``, ``+ 2``, …)."""

    def read_model_seq(self) -> int:
        """The last event seq the stored read model covers (-1: none yet)."""

    def put_read_model(
        self,
        tickets: list[tuple[Any, ...]],
        enterprises: list[tuple[Any, ...]],
        seq: int,
        units: list[tuple[Any, ...]],
        enterprise_units: list[tuple[Any, ...]],
    ) -> None:
        """Insert or replace rows (:mod:`kernel.storage.readmodel_sql` column order), replace
        the unit rows of every ticket written by ``units`` (and drop its sweep clock rows) and
        those of every enterprise written by ``enterprise_units``, and record that the read
        model now covers events up to ``seq``."""

    def clear_read_model(self) -> None:
        """Delete every read-model row (before a rebuild)."""


@dataclass(frozen=True)
class WriteVersions:
    """What a batch checked against, as stored now (:meth:`CheckedFirstTransaction.versions`).

    ``tickets`` and ``enterprises`` hold the read model's ``last_seq`` of each asked id that
    has a row; ``stored`` the asked event ids that are stored.
    """

    read_model_seq: int
    last_seq: int
    tickets: dict[str, int]
    enterprises: dict[str, int]
    stored: frozenset[str]


class CheckedFirstTransaction(ReadModelTransaction, Protocol):
    """The ledger-locked transaction of a backend that lets batches be checked before it
    (:attr:`Storage.checks_first`)."""

    def versions(
        self, ticket_ids: list[str], codes: list[str], event_ids: list[str]
    ) -> WriteVersions:
        """In one round trip: whether the read model is current, and what the batch read."""


class Storage(ABC):
    """A ledger backend: the event log plus the notice outbox."""

    #: the URL this backend was opened with, shown to users (never contains a password)
    url: str = ""
    #: whether the backend stores a read model (then its transactions are
    #: :class:`ReadModelTransaction` and the ``read model`` methods below work)
    has_read_model: bool = False
    #: whether a batch may be checked against a consistent snapshot (:meth:`snapshot`) before
    #: the exclusive transaction, which then only compares what the batch read and stores it
    #: (its transactions are :class:`CheckedFirstTransaction`)
    checks_first: bool = False

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """An exclusive, atomic unit of work: committed on normal exit, rolled back on error."""

    def snapshot(self) -> AbstractContextManager[ReadModelTransaction]:
        """A read-only view of one committed moment, taken without the write lock (backends
        with :attr:`checks_first`); its write methods fail."""
        raise NotImplementedError

    @abstractmethod
    def events(
        self,
        *,
        after_seq: int = 0,
        ticket_id: str | None = None,
        enterprise: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[Event]:
        """Stored events with ``seq`` greater than ``after_seq``, in ledger order, filtered.

        Iteration sees what was committed when it started; the caller may write meanwhile.
        """

    def ticket_last_seqs(self) -> tuple[int, dict[str, int]]:
        """The last stored seq, and the seq of the last event naming each ticket (any type).

        What a streaming replay needs to finish a ticket at its last event and let it go (it
        reads no further than that last seq, so both answers belong to one moment); the SQL
        backends answer from the ``ticket_id`` index in one statement, without the bodies.
        """
        bound = 0
        last: dict[str, int] = {}
        for event in self.events():
            bound = int(event.seq or 0)
            if event.ticket_id is not None:
                last[event.ticket_id] = bound
        return bound, last

    @abstractmethod
    def count(self) -> int:
        """How many events are stored."""

    @abstractmethod
    def deliveries(self, *, status: str | None = None) -> list[Delivery]:
        """Outbox entries, oldest first, optionally only those with ``status``."""

    @abstractmethod
    def due_deliveries(self, now: dt.datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is due at ``now`` (or never attempted)."""

    @abstractmethod
    def update_delivery(
        self,
        notice_id: str,
        notifier: str,
        *,
        status: str,
        attempts: int,
        next_attempt_at: dt.datetime | None,
        last_error: str | None,
    ) -> None:
        """Record the outcome of a delivery attempt."""

    # API access tokens (``huhang token``, ``huhang serve``). Optional: a backend without them
    # refuses token commands; SQLite, PostgreSQL and memory keep them beside the events.

    def add_token(self, record: TokenRecord) -> None:
        """Store a new token record (its ``token_id`` is new)."""
        raise TokensUnsupported(f"账本存储 {self.url} 不支持访问令牌（请用 SQLite 或 PostgreSQL）")

    def tokens(self) -> list[TokenRecord]:
        """Every token record, oldest first."""
        raise TokensUnsupported(f"账本存储 {self.url} 不支持访问令牌（请用 SQLite 或 PostgreSQL）")

    def token(self, token_id: str) -> TokenRecord | None:
        """The token record with this id, or None."""
        found = [t for t in self.tokens() if t.token_id == token_id]
        return found[0] if found else None

    def revoke_token(self, token_id: str, at: dt.datetime) -> bool:
        """Mark a token revoked at ``at``; False if there is no such token or it was revoked."""
        raise TokensUnsupported(f"账本存储 {self.url} 不支持访问令牌（请用 SQLite 或 PostgreSQL）")

    # Console accounts (``huhang user``, the web console). Optional: a backend without them
    # refuses the user commands; SQLite, PostgreSQL and memory keep them beside the events.

    def accounts(self) -> list[AccountRecord]:
        """Every console account, by name."""
        raise AccountsUnsupported(
            f"账本存储 {self.url} 不支持控制台账号（请用 SQLite 或 PostgreSQL）"
        )

    def account(self, name: str) -> AccountRecord | None:
        """The account with this name, or None."""
        found = [a for a in self.accounts() if a.name == name]
        return found[0] if found else None

    def save_account(self, record: AccountRecord) -> None:
        """Store an account, replacing the one of the same name."""
        raise AccountsUnsupported(
            f"账本存储 {self.url} 不支持控制台账号（请用 SQLite 或 PostgreSQL）"
        )

    # ------------------------------------------------------------------ read model (optional)

    def read_model_current(self) -> bool:
        """Whether the stored read model covers every committed event (False without one)."""
        return False

    def ticket_rows(self, query: TicketQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """How many ticket rows match ``query`` and the rows of its page."""
        raise NotImplementedError

    def ticket_row(self, ticket_id: str) -> tuple[Any, ...] | None:
        """One ticket's row, or None."""
        raise NotImplementedError

    def read_model_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every ticket row (by id) and enterprise row (by credit code): for a rebuild check."""
        raise NotImplementedError

    def read_model_units(self) -> list[tuple[Any, ...]]:
        """Every ``rm_ticket_units`` row (ticket, role, list index): for a rebuild check."""
        raise NotImplementedError

    def read_model_enterprise_units(self) -> list[tuple[Any, ...]]:
        """Every ``rm_enterprise_units`` row (credit code, unit): for a rebuild check."""
        raise NotImplementedError

    def enterprise_rows(self, query: EnterpriseQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """How many enterprise rows match ``query`` and the rows of its page."""
        raise NotImplementedError

    def tickets_per_enterprise(self) -> dict[str, int]:
        """How many tickets each enterprise with any has."""
        raise NotImplementedError

    def ticket_ids_with_prefix(self, prefix: str) -> list[str]:
        """The ticket ids that begin with ``prefix``, in order."""
        raise NotImplementedError

    def ticket_roles(self, ticket_ids: list[str]) -> dict[str, list[tuple[str, int, str]]]:
        """``(role, list index, unit)`` of each ticket's units, in that order."""
        raise NotImplementedError

    def ticket_overdue(
        self, query: TicketQuery, as_of: dt.date, key: str
    ) -> list[tuple[str, bool | None]]:
        """Every ticket matching ``query`` (paging ignored), by id, with whether a clock of it
        is overdue as of ``as_of`` when the sweep under ``key`` marked it quiet on that day
        (None: not known, evaluate its clocks)."""
        raise NotImplementedError

    def clock_rows(self, ticket_id: str) -> list[tuple[Any, ...]]:
        """The ``rm_clocks`` rows of one ticket (what its last sweep found), by clock key."""
        raise NotImplementedError

    def unit_counts(self) -> list[tuple[str, str, int]]:
        """``(primary unit, state, tickets)`` for every unit and state with tickets."""
        raise NotImplementedError

    def events_of_tickets(
        self, ticket_ids: list[str], *, until: dt.date | None = None
    ) -> list[Event]:
        """What projecting some tickets needs: their events and the enterprise.* events of
        their enterprises, in ledger order, optionally only those dated ``<= until``."""
        raise NotImplementedError

    def stored_events(self, event_ids: list[str]) -> dict[str, Event]:
        """The committed events among ``event_ids``, by id."""
        raise NotImplementedError

    def facts_rows(
        self, horizon: dt.date, key: str, kinds: tuple[str, ...] = ("t", "e")
    ) -> Iterator[tuple[str, str, int, bytes]]:
        """The facts of ``kinds`` cached as of ``horizon`` under the rules digest ``key``:
        ``(kind, subject, last event seq they were computed from, body)`` in (kind, subject)
        order; kind ``t`` for a ticket's and ``e`` for an enterprise's assessment facts
        (:mod:`kernel.assessment.facts`), ``m`` for a ticket's part in the monthly report of
        the month ending on ``horizon`` (:mod:`kernel.assessment.monthly_cache`)."""
        raise NotImplementedError

    def put_facts(
        self, horizon: dt.date, key: str, rows: list[tuple[str, str, int, bytes]]
    ) -> None:
        """Cache rows as :meth:`facts_rows` returns them, as of ``horizon`` under ``key``, in
        one short write transaction; rows of another key are dropped first, and a stored row
        computed from later events than its replacement is kept."""
        raise NotImplementedError

    def enterprise_last_seqs(self, types: tuple[str, ...], bound: int) -> dict[str, int]:
        """Each enterprise's last committed event seq among the events of ``types``, up to
        seq ``bound``."""
        raise NotImplementedError

    def events_of_enterprises(
        self, codes: list[str], types: tuple[str, ...], bound: int
    ) -> list[Event]:
        """The committed events of ``types`` naming the enterprises ``codes``, up to seq
        ``bound``, in ledger order."""
        raise NotImplementedError

    def unticketed_events(self, types: tuple[str, ...], bound: int) -> list[Event]:
        """The committed events of ``types`` that name no ticket, up to seq ``bound``, in
        ledger order."""
        raise NotImplementedError

    def events_of_types(
        self,
        types: tuple[str, ...],
        bound: int,
        *,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> list[Event]:
        """The committed events of ``types`` up to seq ``bound``, dated from ``first`` to
        ``last`` when given, in ledger order: one query over the type index."""
        raise NotImplementedError

    def sweep_candidates(self, as_of: dt.date, key: str) -> list[str]:
        """The tickets a sweep as of ``as_of`` must look at, by id.

        ``key`` identifies the deadline rules and calendar: when it differs from the one the
        quiet marks were made under, every mark is dropped first (a write).
        """
        raise NotImplementedError

    def mark_quiet(self, marks: list[QuietMark], key: str) -> None:
        """Record what the sweep found (:class:`~kernel.storage.readmodel_sql.QuietMark`):
        nothing can become due for a ticket before ``until`` unless it has a new event, whether
        it is overdue and its clock instances."""
        raise NotImplementedError

    def close(self) -> None:  # noqa: B027 - optional for backends without resources
        """Release files or connections."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


StorageFactory = Callable[[str], Storage]
