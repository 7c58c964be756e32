"""Built-in storage: one SQLite file (the default backend).

URL forms: ``sqlite:///abs/path.db``, ``sqlite:relative.db`` or a bare path. The database runs
in WAL mode with ``synchronous=FULL``, so a transaction that returned is on disk. Writes use
``BEGIN IMMEDIATE``: the ledger's read-check-insert holds the database's write lock from its
first read, so two processes can never both accept conflicting events. A writer that finds the
database locked waits (``busy_timeout``) and then retries with back-off instead of failing.

SQLite's lock wait is polling, and a process writing back to back wins nearly every time, so
a second writer could wait until the first one stops. Writers of this backend therefore queue
on a ``flock`` of ``<path>.lock`` first (the kernel wakes a waiter when the lock is released),
which interleaves concurrent writers; ``BEGIN IMMEDIATE`` still guards against other programs.

Tables: ``events`` (the log; ``seq`` is the ledger order), ``notices`` (one row per notice id,
for idempotency), ``outbox`` (one delivery per notice and notifier), ``accounts`` (the web
console's sign-in accounts, schema version 3), ``meta`` (``schema_version``,
``read_model_seq``) and the read model (``rm_tickets``, ``rm_enterprises``;
:mod:`kernel.storage.readmodel_sql`, :mod:`kernel.storage.enterprise_sql`).

Schema versions (``_MIGRATIONS``): 1 is the base; 4 added the read model; 5 the assessment's
facts cache (``rm_facts``) and an index of events by type; 6 the tickets' units and the sweep's
clock rows; 7 the enterprises' "四个一", search text and units. Opening an older
file applies the missing versions in order; the read model's tables come empty, so reads replay
the events until a writer or ``huhang ledger rebuild`` fills them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kernel.errors import InputError
from kernel.hookspecs import hookimpl
from kernel.ledger.events import Event, decode_stored
from kernel.storage import enterprise_sql as es
from kernel.storage import readmodel_sql as rm
from kernel.storage.contract import (
    NOTICE_PENDING,
    AccountRecord,
    Delivery,
    Notice,
    Storage,
    StorageFactory,
    TokenRecord,
)

log = logging.getLogger("huhang.storage.sqlite")

SCHEMA_VERSION = 8
#: SQLite's default limit on ``?`` parameters in one statement is 32766; stay well below
IN_CHUNK = 500
#: seconds SQLite itself waits for a lock before reporting "database is locked"
BUSY_TIMEOUT = 30.0
#: seconds a writer keeps retrying ``BEGIN IMMEDIATE`` after SQLite gave up waiting
RETRY_FOR = 120.0
#: rows fetched per query while streaming events
CHUNK = 500

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value NOT NULL)",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT UNIQUE NOT NULL,
        type TEXT NOT NULL,
        date TEXT NOT NULL,
        ticket_id TEXT,
        enterprise TEXT,
        body TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_ticket ON events(ticket_id)",
    "CREATE INDEX IF NOT EXISTS events_enterprise ON events(enterprise, type)",
    "CREATE TABLE IF NOT EXISTS notices (notice_id TEXT PRIMARY KEY, body TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS outbox (
        notice_id TEXT NOT NULL REFERENCES notices(notice_id),
        notifier TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_error TEXT,
        created_seq INTEGER NOT NULL UNIQUE,
        PRIMARY KEY (notice_id, notifier)
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status, created_seq)",
)

#: statements that bring a ledger of the version before each key to that version
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        # API access tokens (huhang token, huhang serve): only the SHA-256 digest is stored
        """CREATE TABLE IF NOT EXISTS api_tokens (
            token_id TEXT PRIMARY KEY,
            digest TEXT NOT NULL,
            name TEXT NOT NULL,
            unit TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT,
            revoked_at TEXT
        )""",
    ),
    # the web console's sign-in accounts (kernel.storage.contract.AccountRecord as JSON)
    3: ("CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, body TEXT NOT NULL)",),
    # the read model: empty on an upgraded ledger (-1: it covers nothing yet, reads replay)
    4: (
        *rm.ddl(),
        "INSERT OR REPLACE INTO meta (key, value) SELECT 'read_model_seq', "
        "CASE WHEN EXISTS (SELECT 1 FROM events) THEN -1 ELSE 0 END",
    ),
    # the assessment's facts cache (kernel.assessment.facts), and events by type (the contact
    # and enterprise events a report reads without the tickets' events)
    5: (
        *rm.facts_ddl("BLOB"),
        "CREATE INDEX IF NOT EXISTS events_type ON events(type, enterprise)",
    ),
    # 6: each ticket's units with their roles, the sweep's clock rows
    # and breached flag. Reads replay until a writer or a rebuild fills the unit rows.
    6: (
        *rm.ddl_lists(),
        "UPDATE meta SET value = -1 WHERE key = 'read_model_seq' AND EXISTS (SELECT 1 FROM events)",
    ),
    # 7: each enterprise's "四个一" and search text, its units, and an index of tickets by
    # enterprise. Reads replay until a writer or a rebuild fills them.
    7: (
        *es.ddl_enterprises(),
        "UPDATE meta SET value = -1 WHERE key = 'read_model_seq' AND EXISTS (SELECT 1 FROM events)",
    ),
    # 8: the text search's columns hold NULL, not "none", where the column they search is NULL
    8: rm.REPAIR_SEARCH,
}


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


_ADD_COLUMN = re.compile(r"^ALTER TABLE (\w+) ADD COLUMN (\w+) ")


def _column_exists(conn: sqlite3.Connection, statement: str) -> bool:
    """Whether ``statement`` adds a column that is already there (a migration run again)."""
    found = _ADD_COLUMN.match(statement)
    if found is None:
        return False
    table, column = found.groups()
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _marks(count: int) -> str:
    return ", ".join("?" * count)


# ---------------------------------------------------------------------- shared helpers


def path_from_url(url: str, scheme: str) -> Path:
    """The file of ``scheme:///abs``, ``scheme:rel`` or a bare path."""
    rest = url
    head, colon, tail = url.partition(":")
    if colon and head.split("+", 1)[0] == scheme:
        rest = tail[2:] if tail.startswith("//") else tail
    if not rest:
        raise InputError(f"存储地址 {url!r} 没有给出文件路径")
    if rest == ":memory:":
        raise InputError(f"存储地址 {url!r} 不是文件；内存账本请用 memory:")
    path = Path(rest).expanduser()
    if not path.parent.is_dir():
        raise InputError(f"存储地址 {url!r} 所在的目录 {path.parent} 不存在")
    if path.is_dir():
        raise InputError(f"存储地址 {url!r} 指向的是目录，不是文件")
    return path


#: how many names of a folder are compared with a missing ledger's name (a bound, not a limit
#: users meet: ledger folders hold a handful of files)
NEAR_NAMES_SCANNED = 5_000


def existing_path(url: str, scheme: str) -> Path:
    """The file of a ledger URL that must already exist (read commands never create one).

    A missing file raises :class:`kernel.errors.LedgerMissing` naming the path and, when the
    folder holds a similar name, suggesting it.
    """
    from kernel.errors import LedgerMissing
    from kernel.inputs.suggest import did_you_mean

    rest = url
    head, colon, tail = url.partition(":")
    if colon and head.split("+", 1)[0] == scheme:
        rest = tail[2:] if tail.startswith("//") else tail
    path = Path(rest).expanduser() if rest and rest != ":memory:" else None
    if path is None or path.is_file():
        return path_from_url(url, scheme)  # its own errors for a URL without a file
    names: list[str] = []
    if path.parent.is_dir():
        try:
            with os.scandir(path.parent) as entries:
                for entry in entries:
                    if len(names) >= NEAR_NAMES_SCANNED:
                        break
                    if entry.name.endswith((".db", ".sqlite", ".sqlite3", ".jsonl", ".ndjson")):
                        names.append(entry.name)
        except OSError:
            names = []
    hint = did_you_mean(path.name, names)
    if hint and path.parent != Path("."):
        hint += f"（即 {path.parent / close_name(path.name, names)}）"
    raise LedgerMissing(url, f"台账 {path} 不存在{hint}")


def close_name(word: str, names: list[str]) -> str:
    """The name most similar to ``word`` (``names`` must hold one)."""
    from kernel.inputs.suggest import close_matches

    return close_matches(word, names)[0]


def datetime_text(value: dt.datetime | None) -> str | None:
    """ISO text of an outbox time: aware times in UTC (``+00:00``); naive ones are taken as UTC.

    Every value has microseconds, so the first 26 characters sort in time order.
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="microseconds")


def datetime_key(value: dt.datetime) -> str:
    """The sortable UTC text (26 characters, no offset) used to compare outbox times."""
    return str(datetime_text(value))[:26]


def datetime_from_text(text: str | None) -> dt.datetime | None:
    """Inverse of :func:`datetime_text` (aware values come back in UTC)."""
    return None if text is None else dt.datetime.fromisoformat(text)


def unique_notifiers(notifiers: list[str]) -> list[str]:
    """The notifier names without repeats, in order (one delivery per notifier)."""
    return list(dict.fromkeys(notifiers))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc)
    return "locked" in text or "busy" in text


def _retry_busy(action: Callable[[], Any], deadline: float) -> Any:
    """Run ``action``, retrying with jittered back-off while the database is busy."""
    pause = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.5)


def _event(seq: int, body: str) -> Event:
    return decode_stored(body, seq)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    body, notifier, status, attempts, next_attempt_at, last_error = row
    return Delivery(
        notice=Notice.from_dict(json.loads(body)),
        notifier=notifier,
        status=status,
        attempts=attempts,
        next_attempt_at=datetime_from_text(next_attempt_at),
        last_error=last_error,
    )


_DELIVERY_COLUMNS = "body, notifier, status, attempts, next_attempt_at, last_error"
_TOKEN_COLUMNS = "token_id, digest, name, unit, role, created_at, expires_at, revoked_at"


def _token(row: tuple[Any, ...]) -> TokenRecord:
    token_id, digest, name, unit, role, created, expires, revoked = row
    created_at = datetime_from_text(created)
    assert created_at is not None
    return TokenRecord(
        token_id=token_id,
        digest=digest,
        name=name,
        unit=unit,
        role=role,
        created_at=created_at,
        expires_at=datetime_from_text(expires),
        revoked_at=datetime_from_text(revoked),
    )


# ---------------------------------------------------------------------- the backend


class _SqliteTransaction:
    """Reads and writes on the connection while it holds ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, event_id: str) -> Event | None:
        row = self.conn.execute(
            "SELECT seq, body FROM events WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else _event(row[0], row[1])

    def ticket_events(self, ticket_id: str) -> list[Event]:
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE ticket_id = ? ORDER BY seq", (ticket_id,)
        )
        return [_event(seq, body) for seq, body in rows]

    def enterprise_events(self, credit_code: str) -> list[Event]:
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE enterprise = ? "
            "AND type >= 'enterprise.' AND type < 'enterprise/' ORDER BY seq",
            (credit_code,),
        )
        return [_event(seq, body) for seq, body in rows]

    def insert(self, event: Event) -> int:
        if self.get(event.event_id) is not None:
            raise ValueError(f"event {event.event_id} already stored")
        cur = self.conn.execute(
            "INSERT INTO events (event_id, type, date, ticket_id, enterprise, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                event.type,
                event.date.isoformat(),
                event.ticket_id,
                event.enterprise,
                event.to_json(),
            ),
        )
        return int(cur.lastrowid or 0)

    # ------------------------------------------------------------------ batched, read model

    def last_seq(self) -> int:
        (last,) = self.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
        return int(last)

    def get_many(self, event_ids: list[str]) -> dict[str, Event]:
        found: dict[str, Event] = {}
        for part in _chunks(list(dict.fromkeys(event_ids))):
            rows = self.conn.execute(
                f"SELECT seq, body FROM events WHERE event_id IN ({_marks(len(part))})", part
            )
            for seq, body in rows:
                event = _event(seq, body)
                found[event.event_id] = event
        return found

    def ticket_events_many(self, ticket_ids: list[str]) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = {}
        for part in _chunks(list(dict.fromkeys(ticket_ids))):
            rows = self.conn.execute(
                f"SELECT seq, body FROM events WHERE ticket_id IN ({_marks(len(part))}) "
                "ORDER BY seq",
                part,
            )
            for seq, body in rows:
                event = _event(seq, body)
                found.setdefault(str(event.ticket_id), []).append(event)
        return found

    def enterprise_events_many(self, codes: list[str]) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = {code: [] for code in codes}
        for part in _chunks(list(found)):
            rows = self.conn.execute(
                f"SELECT seq, body FROM events WHERE enterprise IN ({_marks(len(part))}) "
                "AND type >= 'enterprise.' AND type < 'enterprise/' ORDER BY seq",
                part,
            )
            for seq, body in rows:
                event = _event(seq, body)
                found[str(event.enterprise)].append(event)
        return found

    def ticket_seqs(self, ticket_ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for part in _chunks(list(dict.fromkeys(ticket_ids))):
            rows = self.conn.execute(
                f"SELECT ticket_id, last_seq FROM rm_tickets WHERE ticket_id IN "
                f"({_marks(len(part))})",
                part,
            )
            found.update((str(t), int(n)) for t, n in rows)
        return found

    def insert_many(self, events: list[Event]) -> None:
        self.conn.executemany(
            "INSERT INTO events (seq, event_id, type, date, ticket_id, enterprise, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.seq,
                    e.event_id,
                    e.type,
                    e.date.isoformat(),
                    e.ticket_id,
                    e.enterprise,
                    e.to_json(),
                )
                for e in events
            ],
        )

    def read_model_seq(self) -> int:
        return rm.read_model_seq(self.conn)

    def put_read_model(
        self,
        tickets: list[tuple[Any, ...]],
        enterprises: list[tuple[Any, ...]],
        seq: int,
        units: list[tuple[Any, ...]],
        enterprise_units: list[tuple[Any, ...]],
    ) -> None:
        if tickets:
            self.conn.executemany(
                rm.upsert_tickets("?"), [rm.stored_ticket(row) for row in tickets]
            )
            rm.put_units(self.conn, "?", tickets, units)
        if enterprises:
            self.conn.executemany(
                es.upsert_enterprises("?"), [es.stored_enterprise(row) for row in enterprises]
            )
            es.put_enterprise_units(self.conn, "?", enterprises, enterprise_units)
        self.conn.execute(rm.set_meta("?", "read_model_seq"), (seq,))

    def clear_read_model(self) -> None:
        rm.clear(self.conn)

    def add_notice(self, notice: Notice, notifiers: list[str]) -> bool:
        body = json.dumps(notice.to_dict(), ensure_ascii=False, sort_keys=True)
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO notices (notice_id, body) VALUES (?, ?)",
            (notice.notice_id, body),
        )
        if cur.rowcount == 0:
            return False
        (last,) = self.conn.execute("SELECT COALESCE(MAX(created_seq), 0) FROM outbox").fetchone()
        for offset, name in enumerate(unique_notifiers(notifiers), start=1):
            self.conn.execute(
                "INSERT INTO outbox (notice_id, notifier, body, status, attempts, created_seq) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (notice.notice_id, name, body, NOTICE_PENDING, last + offset),
            )
        return True


class SqliteStorage(Storage):
    """The ledger in one SQLite file; safe for several threads and several processes."""

    has_read_model = True

    @classmethod
    def open_existing(cls, url: str) -> SqliteStorage:
        """Open a ledger file that exists; never create one (``LedgerMissing`` instead)."""
        existing_path(url, "sqlite")
        return cls(url)

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url, "sqlite")
        self._lock = threading.RLock()
        self._in_tx = False
        self._tx_events = 0  # committed events / outbox rows when the open transaction began
        self._tx_outbox = 0
        try:
            self._queue_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a read-only folder: rely on SQLite's own locking
            log.debug("no writer queue for %s: %s", self.path, exc)
            self._queue_fd = -1
        try:
            self._conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,  # autocommit: transactions are issued explicitly
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            self._close_queue()
            raise InputError(f"无法打开账本数据库 {self.path}：{exc}") from exc
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            self._close_queue()
            raise

    def _setup(self) -> None:
        conn = self._conn
        deadline = time.monotonic() + RETRY_FOR
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            _retry_busy(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(), deadline)
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if self._schema_version() == SCHEMA_VERSION:
                return  # the usual case: a plain read, no write lock needed
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise
            raise InputError(f"{self.path} 不是可用的 SQLite 账本数据库：{exc}") from exc
        with self._write() as conn:
            found = self._schema_version()  # another process may have created it by now
            if found is None:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', 1)")
                found = 1
            for version in range(found + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS.get(version, ()):
                    if not _column_exists(conn, statement):
                        conn.execute(statement)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
                log.info("SQLite 账本 %s 升级到结构版本 %s", self.path, version)

    def _schema_version(self) -> int | None:
        """The database's schema version, None for an empty database; refuses what it can't use."""
        conn = self._conn
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if "meta" not in tables:
            if tables - {"sqlite_sequence"}:
                raise InputError(
                    f"{self.path} 已有其他数据表（{'、'.join(sorted(tables))}），不是护航账本数据库"
                )
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        found = int(row[0]) if row is not None else 0
        if found > SCHEMA_VERSION:
            raise InputError(
                f"账本数据库 {self.path} 的结构版本为 {found}，本程序只支持到版本 "
                f"{SCHEMA_VERSION}；请升级 huhang 后再打开"
            )
        if found < 1:
            raise InputError(f"账本数据库 {self.path} 的结构版本 {found} 无法识别")
        return found

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """Hold the database's write lock: ``BEGIN IMMEDIATE`` … ``COMMIT`` / ``ROLLBACK``."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError(f"{self.url}: a transaction is already open in this thread")
            conn = self._conn
            if self._queue_fd >= 0:
                fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
            try:
                _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), time.monotonic() + RETRY_FOR)
                self._in_tx = True
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    self._in_tx = False
            finally:
                if self._queue_fd >= 0:
                    fcntl.flock(self._queue_fd, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTransaction]:
        """Exclusive across threads and processes; committed on normal exit."""
        with self._write() as conn:
            (self._tx_events,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()
            (self._tx_outbox,) = conn.execute(
                "SELECT COALESCE(MAX(created_seq), 0) FROM outbox"
            ).fetchone()
            yield _SqliteTransaction(conn)

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
        """Record the outcome of a delivery attempt; KeyError for an unknown delivery."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_error = ? "
                "WHERE notice_id = ? AND notifier = ?",
                (status, attempts, datetime_text(next_attempt_at), last_error, notice_id, notifier),
            )
            if cur.rowcount == 0:
                raise KeyError((notice_id, notifier))

    # ------------------------------------------------------------------ reading

    def _bounds(self) -> tuple[int, int]:
        """The last committed event seq and outbox position visible to a reader now.

        Inside this thread's own open transaction that is where the transaction began, so
        reads outside the :class:`Transaction` never show uncommitted work (as in memory).
        """
        if self._in_tx:
            return self._tx_events, self._tx_outbox
        row = self._conn.execute(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events),"
            " (SELECT COALESCE(MAX(created_seq), 0) FROM outbox)"
        ).fetchone()
        return int(row[0]), int(row[1])

    def events(
        self,
        *,
        after_seq: int = 0,
        ticket_id: str | None = None,
        enterprise: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[Event]:
        """Stream events in ``seq`` order, a chunk of rows per query.

        The events stored when the iteration starts are yielded; no statement stays open
        between chunks, so the caller may write to the store while iterating.
        """
        if types is not None and not types:
            return
        where = ""
        params: list[Any] = []
        if ticket_id is not None:
            where += " AND ticket_id = ?"
            params.append(ticket_id)
        if enterprise is not None:
            where += " AND enterprise = ?"
            params.append(enterprise)
        if types is not None:
            where += " AND type IN (" + ", ".join("?" * len(types)) + ")"
            params.extend(types)
        with self._lock:
            bound, _ = self._bounds()
        if types is not None and ticket_id is None and enterprise is None:
            yield from self._events_by_type(after_seq, bound, types)
            return
        sql = f"SELECT seq, body FROM events WHERE seq > ? AND seq <= ?{where} ORDER BY seq LIMIT ?"
        last = after_seq
        while last < bound:
            with self._lock:
                rows = self._conn.execute(sql, (last, bound, *params, CHUNK)).fetchall()
            for seq, body in rows:
                yield _event(seq, body)
            if len(rows) < CHUNK:
                return
            last = rows[-1][0]

    def _events_by_type(
        self, after_seq: int, bound: int, types: tuple[str, ...]
    ) -> Iterator[Event]:
        """The events of ``types`` in ``(after_seq, bound]``: their seqs from the type index in
        one query (no row is read), then the bodies a chunk at a time by seq. A chunked query
        ordered by seq would sort every event of the types again for each chunk."""
        found = self._rows(
            f"SELECT seq FROM events WHERE type IN ({_marks(len(types))}) AND seq > ? AND seq <= ?",
            (*types, after_seq, bound),
        )
        seqs = sorted(int(seq) for (seq,) in found)
        for start in range(0, len(seqs), CHUNK):
            part = seqs[start : start + CHUNK]
            rows = self._rows(
                f"SELECT seq, body FROM events WHERE seq IN ({_marks(len(part))}) ORDER BY seq",
                part,
            )
            for seq, body in rows:
                yield _event(seq, body)

    def accounts(self) -> list[AccountRecord]:
        """Every console account, by name."""
        with self._lock:
            rows = self._conn.execute("SELECT body FROM accounts ORDER BY name").fetchall()
        return [AccountRecord.from_dict(json.loads(body)) for (body,) in rows]

    def account(self, name: str) -> AccountRecord | None:
        """The account with this name, or None."""
        with self._lock:
            row = self._conn.execute("SELECT body FROM accounts WHERE name = ?", (name,)).fetchone()
        return None if row is None else AccountRecord.from_dict(json.loads(row[0]))

    def save_account(self, record: AccountRecord) -> None:
        """Store an account, replacing the one of the same name."""
        body = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO accounts (name, body) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                (record.name, body),
            )

    def ticket_last_seqs(self) -> tuple[int, dict[str, int]]:
        """The last seq and each ticket's last seq, in one statement over the indexes."""
        rows = self._rows(
            "SELECT ticket_id, MAX(seq) FROM events WHERE ticket_id IS NOT NULL GROUP BY ticket_id"
            " UNION ALL SELECT NULL, COALESCE(MAX(seq), 0) FROM events"
        )
        last = {str(t): int(n) for t, n in rows if t is not None}
        bound = next(int(n) for t, n in rows if t is None)
        return bound, last

    def count(self) -> int:
        """How many events are stored (committed)."""
        with self._lock:
            if self._in_tx:
                row = self._conn.execute(
                    "SELECT COUNT(*) FROM events WHERE seq <= ?", (self._tx_events,)
                ).fetchone()
            else:
                row = self._conn.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(row[0])

    def deliveries(self, *, status: str | None = None) -> list[Delivery]:
        """Outbox entries in the order they were queued."""
        with self._lock:
            _, bound = self._bounds()
            if status is None:
                rows = self._conn.execute(
                    f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE created_seq <= ? "
                    "ORDER BY created_seq",
                    (bound,),
                ).fetchall()
            else:
                rows = self._conn.execute(
                    f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE status = ? "
                    "AND created_seq <= ? ORDER BY created_seq",
                    (status, bound),
                ).fetchall()
        return [_delivery(row) for row in rows]

    def due_deliveries(self, now: dt.datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is at or before ``now``, oldest first."""
        with self._lock:
            _, bound = self._bounds()
            rows = self._conn.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM outbox WHERE status = ? AND created_seq <= ? "
                "AND (next_attempt_at IS NULL OR substr(next_attempt_at, 1, 26) <= ?) "
                "ORDER BY created_seq LIMIT ?",
                (NOTICE_PENDING, bound, datetime_key(now), max(limit, 0)),
            ).fetchall()
        return [_delivery(row) for row in rows]

    # ------------------------------------------------------------------ API tokens

    def add_token(self, record: TokenRecord) -> None:
        """Store a new token record (ValueError for an id that exists)."""
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO api_tokens (token_id, digest, name, unit, role, created_at,"
                    " expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.token_id,
                        record.digest,
                        record.name,
                        record.unit,
                        record.role,
                        datetime_text(record.created_at),
                        datetime_text(record.expires_at),
                        datetime_text(record.revoked_at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"token {record.token_id} already stored") from None

    def tokens(self) -> list[TokenRecord]:
        """Every token record, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, token_id"
            ).fetchall()
        return [_token(row) for row in rows]

    def token(self, token_id: str) -> TokenRecord | None:
        """The token record with this id, or None (one indexed read per request)."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_id = ?", (token_id,)
            ).fetchone()
        return None if row is None else _token(row)

    def revoke_token(self, token_id: str, at: dt.datetime) -> bool:
        """Mark a token revoked; False if unknown or already revoked."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                (datetime_text(at), token_id),
            )
            return cur.rowcount > 0

    # ------------------------------------------------------------------ read model

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def read_model_current(self) -> bool:
        """Whether ``rm_*`` cover every committed event."""
        return rm.is_current(self._rows(rm.COVERAGE)[0])

    def ticket_rows(self, query: rm.TicketQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """The matching count and the page of ticket rows."""
        return self._count_and_page(query)

    def _count_and_page(self, query: rm.PagedQuery) -> tuple[int, list[tuple[Any, ...]]]:
        count_sql, count_params = query.count_sql("?")
        page_sql, page_params = query.page_sql("?")
        with self._lock:  # one read transaction: the count and the page agree
            self._conn.execute("BEGIN")
            try:
                (total,) = self._conn.execute(count_sql, count_params).fetchone()
                rows = self._conn.execute(page_sql, page_params).fetchall()
            finally:
                self._conn.execute("COMMIT")
        return int(total), rows

    def ticket_row(self, ticket_id: str) -> tuple[Any, ...] | None:
        """One ticket's row."""
        rows = self._rows(rm.TICKETS_BY_ID + "?", (ticket_id,))
        return rows[0] if rows else None

    def read_model_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every stored row (a rebuild check compares them with a replay)."""
        return self._rows(rm.ALL_TICKETS), self._rows(rm.ALL_ENTERPRISES)

    def unit_counts(self) -> list[tuple[str, str, int]]:
        """Tickets per primary unit and state."""
        return [(str(u), str(s), int(n)) for u, s, n in self._rows(rm.UNIT_COUNTS)]

    def read_model_units(self) -> list[tuple[Any, ...]]:
        """Every ticket-unit row."""
        return self._rows(rm.ALL_UNITS)

    def read_model_enterprise_units(self) -> list[tuple[Any, ...]]:
        """Every enterprise-unit row."""
        return self._rows(es.ALL_ENTERPRISE_UNITS)

    def enterprise_rows(self, query: es.EnterpriseQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """The matching count and the page of enterprise rows."""
        return self._count_and_page(query)

    def tickets_per_enterprise(self) -> dict[str, int]:
        """Tickets per enterprise."""
        return {str(code): int(n) for code, n in self._rows(es.TICKETS_PER_ENTERPRISE)}

    def ticket_ids_with_prefix(self, prefix: str) -> list[str]:
        """The ticket ids beginning with ``prefix`` (a range of the primary key)."""
        low, high = es.id_range(prefix)
        params = (low,) if high is None else (low, high)
        return [str(t) for (t,) in self._rows(es.ticket_ids_sql("?", high), params)]

    def ticket_roles(self, ticket_ids: list[str]) -> dict[str, list[tuple[str, int, str]]]:
        """The units of some tickets with their roles."""
        found: dict[str, list[tuple[str, int, str]]] = {}
        for part in _chunks(list(dict.fromkeys(ticket_ids))):
            for t, role, index, unit in self._rows(rm.roles_sql("?", len(part)), part):
                found.setdefault(str(t), []).append((str(role), int(index), str(unit)))
        return found

    def ticket_overdue(
        self, query: rm.TicketQuery, as_of: dt.date, key: str
    ) -> list[tuple[str, bool | None]]:
        """Matching tickets with their stored overdue flag where it holds as of ``as_of``."""
        return rm.overdue_flags(self._rows(*query.overdue_sql("?", as_of, key)))

    def clock_rows(self, ticket_id: str) -> list[tuple[Any, ...]]:
        """One ticket's stored clock rows."""
        return self._rows(rm.clocks_of("?"), (ticket_id,))

    def events_of_tickets(
        self, ticket_ids: list[str], *, until: dt.date | None = None
    ) -> list[Event]:
        """The tickets' events and their enterprises' enterprise.* events, in ledger order."""
        found: dict[int, str] = {}
        codes: set[str] = set()
        for part in _chunks(list(dict.fromkeys(ticket_ids))):
            for seq, body, code in self._rows(
                f"SELECT seq, body, enterprise FROM events WHERE ticket_id IN "
                f"({_marks(len(part))})",
                part,
            ):
                found[seq] = body
                if code is not None:
                    codes.add(code)
        for part in _chunks(sorted(codes)):
            for seq, body in self._rows(
                f"SELECT seq, body FROM events WHERE enterprise IN ({_marks(len(part))}) "
                "AND type >= 'enterprise.' AND type < 'enterprise/'",
                part,
            ):
                found[seq] = body
        events = (_event(seq, found[seq]) for seq in sorted(found))
        return [e for e in events if until is None or e.date <= until]

    def stored_events(self, event_ids: list[str]) -> dict[str, Event]:
        """The committed events among ``event_ids``."""
        found: dict[str, Event] = {}
        with self._lock:
            bound, _ = self._bounds()
            for part in _chunks(list(dict.fromkeys(event_ids))):
                rows = self._conn.execute(
                    f"SELECT seq, body FROM events WHERE event_id IN ({_marks(len(part))}) "
                    "AND seq <= ?",
                    [*part, bound],
                ).fetchall()
                for seq, body in rows:
                    event = _event(seq, body)
                    found[event.event_id] = event
        return found

    def facts_rows(
        self, horizon: dt.date, key: str, kinds: tuple[str, ...] = ("t", "e")
    ) -> Iterator[rm.FactsRow]:
        """The stored facts of ``kinds`` as of ``horizon`` under ``key``: (kind, subject,
        last seq, body), in (kind, subject) order, a page at a time."""
        return rm.facts_pages(self._rows, "?", horizon, key, kinds)

    def put_facts(self, horizon: dt.date, key: str, rows: list[rm.FactsRow]) -> None:
        """Store facts rows (one statement per row, in one short transaction)."""
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(rm.upsert_facts("?"), rm.put_facts(conn, "?", horizon, key, rows))

    def enterprise_last_seqs(self, types: tuple[str, ...], bound: int) -> dict[str, int]:
        """Each enterprise's last event of ``types`` up to seq ``bound`` (the type index)."""
        rows = self._rows(
            f"SELECT enterprise, MAX(seq) FROM events WHERE type IN ({_marks(len(types))}) "
            "AND enterprise IS NOT NULL AND seq <= ? GROUP BY enterprise",
            (*types, bound),
        )
        return {str(code): int(seq) for code, seq in rows}

    def events_of_enterprises(
        self, codes: list[str], types: tuple[str, ...], bound: int
    ) -> list[Event]:
        """The events of ``types`` naming ``codes``, up to seq ``bound``, in ledger order."""
        found: list[tuple[int, str]] = []
        for part in _chunks(list(dict.fromkeys(codes))):
            found += self._rows(
                f"SELECT seq, body FROM events WHERE enterprise IN ({_marks(len(part))}) "
                f"AND type IN ({_marks(len(types))}) AND seq <= ?",
                (*part, *types, bound),
            )
        found.sort()
        return [_event(seq, body) for seq, body in found]

    def events_of_types(
        self,
        types: tuple[str, ...],
        bound: int,
        *,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> list[Event]:
        """The events of ``types`` up to seq ``bound`` dated within ``first``..``last``, in
        ledger order (one query over the type index; ISO dates compare as text)."""
        where, params = "", []
        if first is not None:
            where += " AND date >= ?"
            params.append(first.isoformat())
        if last is not None:
            where += " AND date <= ?"
            params.append(last.isoformat())
        rows = self._rows(
            f"SELECT seq, body FROM events WHERE type IN ({_marks(len(types))}) AND seq <= ?"
            f"{where} ORDER BY seq",
            (*types, bound, *params),
        )
        return [_event(seq, body) for seq, body in rows]

    def unticketed_events(self, types: tuple[str, ...], bound: int) -> list[Event]:
        """The events of ``types`` naming no ticket, up to seq ``bound``, in ledger order."""
        rows = self._rows(
            f"SELECT seq, body FROM events WHERE type IN ({_marks(len(types))}) "
            "AND ticket_id IS NULL AND seq <= ? ORDER BY seq",
            (*types, bound),
        )
        return [_event(seq, body) for seq, body in rows]

    def sweep_candidates(self, as_of: dt.date, key: str) -> list[str]:
        """Tickets not marked quiet as of ``as_of`` under ``key``."""
        with self._write() as conn:
            return rm.sweep_candidates(conn, "?", as_of, key)

    def mark_quiet(self, marks: list[rm.QuietMark], key: str) -> None:
        """Mark tickets quiet (only those unchanged since the sweep read them)."""
        if not marks:
            return
        with self._write() as conn:
            if not rm.sweep_key_is(conn, key):
                return  # another sweep under other rules came between
            rm.write_quiet_marks(conn, "?", marks)

    def _close_queue(self) -> None:
        if self._queue_fd >= 0:
            os.close(self._queue_fd)
            self._queue_fd = -1

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()
            self._close_queue()


@hookimpl
def huhang_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register ``sqlite:`` (also the backend of a bare path)."""
    register("sqlite", SqliteStorage)
