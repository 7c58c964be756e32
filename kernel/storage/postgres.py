"""Built-in storage: PostgreSQL, for several kernel processes (on several machines) on one ledger.

URL: ``postgresql://user@host:5432/dbname?sslmode=require&schema=huhang`` (``postgres://`` and
``postgresql+psycopg://`` work too). Everything but ``schema`` is handed to libpq, so every
libpq parameter works; the password is best kept out of the URL (``PGPASSWORD``, ``~/.pgpass``
or ``PGSERVICE``). A password in the URL is never shown: ``url``, ``repr`` and every error
message carry ``***`` instead. The driver, psycopg 3, is imported only when a store is opened:
``pip install 'huhang[postgres]'``.

Tables live in one schema (``huhang`` unless ``?schema=`` names another): ``events`` (the log;
the body is the exact ``Event.to_json()`` text), ``notices`` (one row per notice id, for
idempotency), ``outbox`` (one delivery per notice and notifier), ``meta`` (``schema_version``)
and, for splitting the deadline sweep between workers, ``sweep_days`` and ``sweep_claims``;
version 5 added the read model (``rm_tickets``, ``rm_enterprises``,
:mod:`kernel.storage.readmodel_sql`), empty on an upgraded ledger until a writer or
``huhang ledger rebuild`` fills it; version 6 the assessment's facts cache (``rm_facts``);
version 7 the tickets' units and the sweep's clock rows; version 8 the enterprises' "四个一",
search text and units (:mod:`kernel.storage.enterprise_sql`).

* **Migrations.** :data:`MIGRATIONS` lists ``(version, statements)``; opening a store applies
  the missing ones in order, in one transaction holding a per-schema advisory lock, so workers
  starting together neither race nor half-migrate. A store already at the current version is
  opened with one read and no lock. A newer version than this code knows is refused.
* **Transactions.** :meth:`PostgresStorage.transaction` takes one advisory transaction lock
  per schema (``pg_advisory_xact_lock``) before its first read, so what runs inside it is
  exclusive across processes and machines; PostgreSQL queues waiters first come, first served,
  and releases the lock on commit or rollback (also when a client dies).
* **Checked first.** The ledger checks a batch on :meth:`PostgresStorage.snapshot` (a
  ``REPEATABLE READ READ ONLY`` transaction, no lock) and holds the lock only to compare what
  the batch read (:meth:`_PostgresTransaction.versions`, one query) and store it, checking it
  again there only if another writer moved something it read (:mod:`kernel.ledger.checkfirst`).
* **Seq.** Inserts are serialised by that lock, so ``seq`` is ``MAX(seq) + 1`` computed inside
  the transaction: contiguous, in commit order, and a rolled-back transaction uses up nothing
  (a sequence would leave gaps). Committed seqs therefore always form a prefix ``1..n``, which
  is what lets :meth:`~PostgresStorage.events` page by ``seq`` up to a fixed bound.
* **Reads** outside a transaction use a second connection, so they see committed data only.
* **Work splitting.** :meth:`~PostgresStorage.claim_tickets` hands sweep workers disjoint
  batches of one day's tickets (those the sweep's index does not mark quiet) and :meth:`~PostgresStorage.claim_due_deliveries` hands notify
  runners disjoint deliveries, both with ``FOR UPDATE SKIP LOCKED`` and a lease.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from kernel.errors import InputError
from kernel.hookspecs import hookimpl
from kernel.ledger.events import Event, decode_stored
from kernel.notify.outbox import MASK, redact
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
    WriteVersions,
)

if TYPE_CHECKING:
    from psycopg import Connection

log = logging.getLogger("huhang.storage.postgres")

INSTALL_HINT = "使用 PostgreSQL 需要先安装：pip install 'huhang[postgres]'"
DEFAULT_SCHEMA = "huhang"
#: seconds libpq waits for the server when the URL sets no ``connect_timeout``
CONNECT_TIMEOUT = 10
#: a session idle inside an open transaction this long is ended by the server, so a hung
#: client cannot hold the ledger lock forever (milliseconds)
IDLE_IN_TRANSACTION_MS = 300_000
#: rows fetched per query while streaming events
CHUNK = 1000
#: how long a delivery claim stays with its runner before others may take it
CLAIM_LEASE = dt.timedelta(minutes=10)
#: how long a sweep claim stays with its worker. A batch of 100 tickets sweeps in about a
#: second; a worker that has not asked for its next batch after a minute has died, and its
#: tickets go to the next worker that asks (a sweep waits that long before it says incomplete).
SWEEP_LEASE = dt.timedelta(seconds=60)
#: sweep claims of days this much older than the day being claimed are deleted
CLAIMS_KEPT_DAYS = 60

# Keys compared by byte order ("C" collation): fast indexes and the same order on every server.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE events (
                seq BIGINT PRIMARY KEY CHECK (seq > 0),
                event_id TEXT COLLATE "C" NOT NULL UNIQUE,
                type TEXT COLLATE "C" NOT NULL,
                date DATE NOT NULL,
                ticket_id TEXT COLLATE "C",
                enterprise TEXT COLLATE "C",
                body TEXT NOT NULL
            )""",
            "CREATE INDEX events_ticket ON events (ticket_id, seq) WHERE ticket_id IS NOT NULL",
            "CREATE INDEX events_enterprise ON events (enterprise, type, seq)",
            "CREATE INDEX events_type ON events (type, seq)",
            'CREATE TABLE notices (notice_id TEXT COLLATE "C" PRIMARY KEY, body TEXT NOT NULL)',
            """CREATE TABLE outbox (
                notice_id TEXT COLLATE "C" NOT NULL REFERENCES notices (notice_id),
                notifier TEXT COLLATE "C" NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at TIMESTAMPTZ,
                last_error TEXT,
                created_seq BIGINT NOT NULL UNIQUE,
                PRIMARY KEY (notice_id, notifier)
            )""",
            "CREATE INDEX outbox_status ON outbox (status, created_seq)",
        ),
    ),
    (
        2,
        (
            # one row per sweep day: how far (event seq) its claim list has been filled
            "CREATE TABLE sweep_days (as_of DATE PRIMARY KEY, filled_through BIGINT NOT NULL)",
            """CREATE TABLE sweep_claims (
                as_of DATE NOT NULL,
                ticket_id TEXT COLLATE "C" NOT NULL,
                worker TEXT,
                claimed_at TIMESTAMPTZ,
                done BOOLEAN NOT NULL DEFAULT false,
                PRIMARY KEY (as_of, ticket_id)
            )""",
            "CREATE INDEX sweep_claims_open ON sweep_claims (as_of, ticket_id) WHERE NOT done",
            "ALTER TABLE outbox ADD COLUMN claimed_by TEXT, ADD COLUMN claimed_until TIMESTAMPTZ",
        ),
    ),
    (
        3,
        (
            # API access tokens (huhang token, huhang serve): only the SHA-256 digest is stored
            """CREATE TABLE api_tokens (
                token_id TEXT COLLATE "C" PRIMARY KEY,
                digest TEXT NOT NULL,
                name TEXT NOT NULL,
                unit TEXT NOT NULL,
                role TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                expires_at TIMESTAMPTZ,
                revoked_at TIMESTAMPTZ
            )""",
        ),
    ),
    (
        4,
        # the web console's sign-in accounts (kernel.storage.contract.AccountRecord as JSON)
        ('CREATE TABLE accounts (name TEXT COLLATE "C" PRIMARY KEY, body TEXT NOT NULL)',),
    ),
    # 5 is the read model
    (
        5,
        (
            *rm.ddl(' COLLATE "C"'),
            # -1: the read model covers nothing yet (an upgraded ledger: reads replay)
            "INSERT INTO meta (key, value) VALUES ('read_model_seq', "
            "  CASE WHEN EXISTS (SELECT 1 FROM events) THEN '-1' ELSE '0' END) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        ),
    ),
    # 6: the assessment's facts cache (kernel.assessment.facts)
    (6, rm.facts_ddl("BYTEA", ' COLLATE "C"')),
    # 7: each ticket's units with their roles, the sweep's clock
    # rows and breached flag (reads replay until a writer or a rebuild fills the unit rows)
    (
        7,
        (
            *rm.ddl_lists(' COLLATE "C"', "ADD COLUMN IF NOT EXISTS"),
            "UPDATE meta SET value = '-1' WHERE key = 'read_model_seq' "
            "AND EXISTS (SELECT 1 FROM events)",
        ),
    ),
    # 8: each enterprise's "四个一" and search text, its units, and an index of tickets by
    # enterprise (reads replay until a writer or a rebuild fills them)
    (
        8,
        (
            *es.ddl_enterprises(' COLLATE "C"', "ADD COLUMN IF NOT EXISTS"),
            "UPDATE meta SET value = '-1' WHERE key = 'read_model_seq' "
            "AND EXISTS (SELECT 1 FROM events)",
        ),
    ),
    # 9: the text search's columns hold NULL, not "none", where the column they search is NULL
    (9, rm.REPAIR_SEARCH),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SECRET_KEYS = ("password", "sslpassword")
_TOKEN_COLUMNS = "token_id, digest, name, unit, role, created_at, expires_at, revoked_at"


# ---------------------------------------------------------------------- URLs and secrets


def split_url(url: str) -> tuple[str, str, str, list[str]]:
    """``(libpq URL, schema, URL safe to show, secrets)`` of a storage URL.

    The ``+driver`` suffix of the scheme and the ``schema`` query option are removed from what
    libpq sees; the shown URL has ``***`` for the password (in the user part or in the query).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise InputError(
            f"存储地址 {url!r} 不是 PostgreSQL 地址（应为 postgresql://主机:端口/数据库）"
        )
    scheme = scheme.split("+", 1)[0]
    rest, qmark, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    secrets: list[str] = []
    userinfo, at, hosts = authority.rpartition("@")
    shown_authority = authority
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and password:
            secrets += [password, unquote(password)]
            shown_authority = f"{user}:{MASK}@{hosts}"
    # Query parameters stay as written (libpq decodes only %XX, not "+"); only values are read.
    schema = DEFAULT_SCHEMA
    kept: list[str] = []
    shown: list[str] = []
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        if unquote(key) == "schema":
            schema = unquote(value)
            shown.append(part)
            continue
        kept.append(part)
        if unquote(key) in _SECRET_KEYS and value:
            secrets += [value, unquote(value)]
            shown.append(f"{key}={MASK}")
        else:
            shown.append(part)
    base = f"{scheme}://{authority}{slash}{path}"
    libpq_url = base + (f"?{'&'.join(kept)}" if kept else "")
    safe = f"{scheme}://{shown_authority}{slash}{path}"
    if qmark and shown:
        safe += "?" + "&".join(shown)
    if not _SCHEMA_NAME.match(schema):
        raise InputError(
            f"存储地址 {safe} 的 schema={schema!r} 无效：只能用字母、数字和下划线，不以数字开头"
        )
    return libpq_url, schema, safe, [s for s in secrets if s]


def lock_key(schema: str, purpose: str) -> int:
    """A stable signed 64-bit advisory lock key for one schema and purpose."""
    digest = hashlib.blake2b(f"huhang:{schema}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """Aware UTC (naive values are taken as UTC, as in the SQLite backend)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _scalar(conn: Connection[Any], query: str, params: tuple[Any, ...] = ()) -> int:
    """The integer in the first column of the first row (0 when there is no row)."""
    row = conn.execute(query, params).fetchone()
    return 0 if row is None else int(row[0])


def _event(seq: int, body: str) -> Event:
    return decode_stored(body, seq)


_DELIVERY_COLUMNS = (
    "n.body, o.notifier, o.status, o.attempts, o.next_attempt_at, o.last_error, o.created_seq"
)


def _delivery(row: tuple[Any, ...]) -> Delivery:
    body, notifier, status, attempts, next_attempt_at, last_error = row[:6]
    return Delivery(
        notice=Notice.from_dict(json.loads(body)),
        notifier=notifier,
        status=status,
        attempts=attempts,
        next_attempt_at=_utc(next_attempt_at),
        last_error=last_error,
    )


# ---------------------------------------------------------------------- the backend


# Each write is one statement (one round trip). Writers hold the ledger lock, so the next seq
# is MAX + 1 (the statement sees the transaction's own earlier inserts).
_INSERT_EVENT = (
    "INSERT INTO events (seq, event_id, type, date, ticket_id, enterprise, body)"
    " SELECT COALESCE(MAX(seq), 0) + 1, %s, %s, %s, %s, %s, %s FROM events"
    " ON CONFLICT (event_id) DO NOTHING RETURNING seq"
)
_ADD_NOTICE = (
    "WITH n AS (INSERT INTO notices (notice_id, body) VALUES (%s, %s)"
    "  ON CONFLICT (notice_id) DO NOTHING RETURNING notice_id),"
    " o AS (INSERT INTO outbox (notice_id, notifier, status, attempts, created_seq)"
    "  SELECT n.notice_id, t.name, %s, 0, b.base + t.ord"
    "  FROM n CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS t (name, ord)"
    "  CROSS JOIN (SELECT COALESCE(MAX(created_seq), 0) AS base FROM outbox) b)"
    " SELECT COUNT(*) FROM n"
)

_COPY_EVENTS = "COPY events (seq, event_id, type, date, ticket_id, enterprise, body) FROM STDIN"


# What a batch checked against, as stored now: one round trip under the ledger lock.
_VERSIONS = (
    "SELECT 't', ticket_id, last_seq FROM rm_tickets WHERE ticket_id = ANY(%s)"
    " UNION ALL SELECT 'e', credit_code, last_seq FROM rm_enterprises WHERE credit_code = ANY(%s)"
    " UNION ALL SELECT 'i', event_id, seq FROM events WHERE event_id = ANY(%s)"
    " UNION ALL SELECT 'm', NULL, (SELECT value FROM meta WHERE key = 'read_model_seq')::bigint"
    " UNION ALL SELECT 's', NULL, COALESCE(MAX(seq), 0) FROM events"
)


class _PostgresTransaction:
    """Reads and writes on the writer connection while it holds the ledger lock."""

    def __init__(self, conn: Connection[Any]) -> None:
        self.conn = conn

    def get(self, event_id: str) -> Event | None:
        row = self.conn.execute(
            "SELECT seq, body FROM events WHERE event_id = %s", (event_id,)
        ).fetchone()
        return None if row is None else _event(row[0], row[1])

    def ticket_events(self, ticket_id: str) -> list[Event]:
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE ticket_id = %s ORDER BY seq", (ticket_id,)
        ).fetchall()
        return [_event(seq, body) for seq, body in rows]

    def enterprise_events(self, credit_code: str) -> list[Event]:
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE enterprise = %s AND type LIKE %s ORDER BY seq",
            (credit_code, "enterprise.%"),
        ).fetchall()
        return [_event(seq, body) for seq, body in rows]

    def insert(self, event: Event) -> int:
        row = self.conn.execute(
            _INSERT_EVENT,
            (
                event.event_id,
                event.type,
                event.date,
                event.ticket_id,
                event.enterprise,
                event.to_json(),
            ),
        ).fetchone()
        if row is None:
            raise ValueError(f"event {event.event_id} already stored")
        return int(row[0])

    # ------------------------------------------------------------------ batched, read model

    def last_seq(self) -> int:
        return _scalar(self.conn, "SELECT COALESCE(MAX(seq), 0) FROM events")

    def get_many(self, event_ids: list[str]) -> dict[str, Event]:
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE event_id = ANY(%s)", (list(set(event_ids)),)
        ).fetchall()
        events = (_event(seq, body) for seq, body in rows)
        return {e.event_id: e for e in events}

    def ticket_events_many(self, ticket_ids: list[str]) -> dict[str, list[Event]]:
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE ticket_id = ANY(%s) ORDER BY seq",
            (list(set(ticket_ids)),),
        ).fetchall()
        found: dict[str, list[Event]] = {}
        for seq, body in rows:
            event = _event(seq, body)
            found.setdefault(str(event.ticket_id), []).append(event)
        return found

    def enterprise_events_many(self, codes: list[str]) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = {code: [] for code in codes}
        rows = self.conn.execute(
            "SELECT seq, body FROM events WHERE enterprise = ANY(%s) AND type LIKE %s ORDER BY seq",
            (list(found), "enterprise.%"),
        ).fetchall()
        for seq, body in rows:
            event = _event(seq, body)
            found[str(event.enterprise)].append(event)
        return found

    def ticket_seqs(self, ticket_ids: list[str]) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT ticket_id, last_seq FROM rm_tickets WHERE ticket_id = ANY(%s)",
            (list(set(ticket_ids)),),
        ).fetchall()
        return {str(t): int(n) for t, n in rows}

    def insert_many(self, events: list[Event]) -> None:
        # COPY: one stream instead of a statement per event (the ledger lock is held here)
        with self.conn.cursor() as cur, cur.copy(_COPY_EVENTS) as copy:
            for e in events:
                copy.write_row(
                    (e.seq, e.event_id, e.type, e.date, e.ticket_id, e.enterprise, e.to_json())
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
        with self.conn.cursor() as cur:
            if tickets:
                cur.executemany(rm.upsert_tickets("%s"), [rm.stored_ticket(row) for row in tickets])
                rm.put_units(cur, "%s", tickets, units)
            if enterprises:
                cur.executemany(
                    es.upsert_enterprises("%s"), [es.stored_enterprise(row) for row in enterprises]
                )
                es.put_enterprise_units(cur, "%s", enterprises, enterprise_units)
        self.conn.execute(rm.set_meta("%s", "read_model_seq"), (str(seq),))

    def clear_read_model(self) -> None:
        rm.clear(self.conn)

    def versions(
        self, ticket_ids: list[str], codes: list[str], event_ids: list[str]
    ) -> WriteVersions:
        rows = self.conn.execute(_VERSIONS, (ticket_ids, codes, event_ids)).fetchall()
        found: dict[str, dict[str, int]] = {"t": {}, "e": {}, "i": {}}
        covered = top = 0
        for kind, key, value in rows:
            if kind == "m":
                covered = -1 if value is None else int(value)
            elif kind == "s":
                top = int(value)
            else:
                found[kind][str(key)] = int(value)
        return WriteVersions(covered, top, found["t"], found["e"], frozenset(found["i"]))

    def add_notice(self, notice: Notice, notifiers: list[str]) -> bool:
        body = json.dumps(notice.to_dict(), ensure_ascii=False, sort_keys=True)
        names = list(dict.fromkeys(notifiers))
        added = _scalar(self.conn, _ADD_NOTICE, (notice.notice_id, body, NOTICE_PENDING, names))
        return added == 1


class PostgresStorage(Storage):
    """The ledger in a PostgreSQL schema; safe for many threads, processes and machines."""

    has_read_model = True
    checks_first = True

    @classmethod
    def open_existing(cls, url: str) -> PostgresStorage:
        """Open a ledger schema that exists; never create one (``LedgerMissing`` instead)."""
        return cls(url, create=False)

    def __init__(self, url: str, *, create: bool = True) -> None:
        try:
            import psycopg  # noqa: F401 - lazily: the kernel works without the driver
        except ImportError:
            raise InputError(INSTALL_HINT) from None
        self._create = create
        self._conninfo, self.schema, self.url, self._secrets = split_url(url)
        self._ledger_key = lock_key(self.schema, "ledger")
        self._migrate_key = lock_key(self.schema, "migrate")
        self._write_lock = threading.RLock()
        self._read_lock = threading.Lock()
        self._in_tx = False
        self._closed = False
        self._reader: Connection[Any] | None = None
        self._writer: Connection[Any] = self._connect()
        try:
            self._migrate()
        except BaseException:
            self._writer.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStorage({self.url!r})"

    # ------------------------------------------------------------------ connections

    def _error(self, what: str, exc: BaseException) -> InputError:
        """An InputError naming the store, with every secret masked (chain it ``from None``)."""
        text = redact(str(exc).strip(), self._secrets)
        return InputError(f"{what} PostgreSQL 账本 {self.url}：{text}")

    def _connect(self) -> Connection[Any]:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        try:
            params = conninfo_to_dict(self._conninfo)
        except psycopg.Error as exc:
            raise self._error("地址无效，无法打开", exc) from None
        extra: dict[str, Any] = {}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = CONNECT_TIMEOUT
        if "application_name" not in params:
            extra["application_name"] = "huhang"
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, **extra)
        except psycopg.Error as exc:
            raise self._error("无法连接", exc) from None
        try:
            conn.execute(
                "SELECT set_config('search_path', %s, false), set_config('TimeZone', 'UTC', false),"
                " set_config('idle_in_transaction_session_timeout', %s, false)",
                (f'"{self.schema}"', str(IDLE_IN_TRANSACTION_MS)),
            )
        except psycopg.Error as exc:
            conn.close()
            raise self._error("无法设置会话", exc) from None
        return conn

    def _live(self, conn: Connection[Any] | None) -> Connection[Any]:
        """``conn``, or a new connection if it is missing or was broken (server restart)."""
        if self._closed:
            raise RuntimeError(f"{self.url}: the storage is closed")
        if conn is not None and not conn.broken and not conn.closed:
            return conn
        if conn is not None:
            log.warning("PostgreSQL 连接已断开，正在重新连接 %s", self.url)
            conn.close()
        return self._connect()

    def _read(self) -> Connection[Any]:
        """The reader connection (call with ``_read_lock`` held)."""
        self._reader = self._live(self._reader)
        return self._reader

    # ------------------------------------------------------------------ migrations

    def _schema_version(self, conn: Connection[Any]) -> int | None:
        """The schema's version, None when it has no ledger yet; refuses what it can't use."""
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename",
                (self.schema,),
            )
        ]
        if "meta" not in tables:
            if tables:
                raise InputError(
                    f"PostgreSQL 账本 {self.url}：模式 {self.schema} 已有其他数据表"
                    f"（{'、'.join(tables)}），不是护航账本；请用 ?schema= 换一个模式"
                )
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise InputError(f"PostgreSQL 账本 {self.url}：无法识别模式 {self.schema} 的结构版本")
        found = int(row[0])
        latest = MIGRATIONS[-1][0]
        if found > latest:
            raise InputError(
                f"PostgreSQL 账本 {self.url}：数据库结构版本为 {found}，本程序只支持到 {latest}，"
                "请升级 huhang"
            )
        return found

    def _migrate(self) -> None:
        """Bring the schema to the latest version (a plain read when it is already there)."""
        import psycopg
        from psycopg import sql

        conn = self._writer
        latest = MIGRATIONS[-1][0]
        try:
            found_version = self._schema_version(conn)
            if found_version == latest:
                return
            if found_version is None and not self._create:
                from kernel.errors import LedgerMissing

                raise LedgerMissing(
                    self.url, f"PostgreSQL 账本 {self.url} 的模式 {self.schema} 中没有护航台账"
                )
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._migrate_key,))
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                found = self._schema_version(conn) or 0  # another worker may have done it
                for version, statements in MIGRATIONS:
                    if version <= found:
                        continue
                    for statement in statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(version),),
                    )
                    log.info("PostgreSQL 账本 %s 升级到结构版本 %s", self.url, version)
        except psycopg.Error as exc:
            raise self._error("无法初始化", exc) from None

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _writing(self) -> Iterator[Connection[Any]]:
        """The writer connection, for this thread alone (no transaction may be open)."""
        with self._write_lock:
            if self._in_tx:
                raise RuntimeError(f"{self.url}: a transaction is already open in this thread")
            self._writer = self._live(self._writer)
            yield self._writer

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTransaction]:
        """Exclusive across threads, processes and machines; committed on normal exit."""
        from psycopg.pq import TransactionStatus

        with self._writing() as conn:
            self._in_tx = True
            try:
                # one round trip; the key is an int, so the text is safe
                conn = self._begin(
                    conn, f"BEGIN; SELECT pg_advisory_xact_lock({self._ledger_key:d})"
                )
                try:
                    yield _PostgresTransaction(conn)
                except BaseException:
                    if not conn.broken and not conn.closed:
                        conn.execute("ROLLBACK")
                    raise
                if conn.info.transaction_status == TransactionStatus.INERROR:
                    # COMMIT would silently roll back: a statement failed and was caught
                    conn.execute("ROLLBACK")
                    raise RuntimeError(
                        f"{self.url}: a statement failed; the transaction was rolled back"
                    )
                conn.execute("COMMIT")
            finally:
                self._in_tx = False

    def _begin(self, conn: Connection[Any], begin: str) -> Connection[Any]:
        """Run ``begin``; once more on a new connection if the old one had broken."""
        import psycopg

        try:
            conn.execute(begin)
        except psycopg.OperationalError:
            if not conn.broken:  # nothing was done yet: retry once on a new connection
                raise
            conn = self._writer = self._live(conn)
            conn.execute(begin)
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[_PostgresTransaction]:
        """A read-only ``REPEATABLE READ`` transaction on the writer connection: every read
        sees the same committed moment, and no lock is taken (a batch is checked here, then
        :meth:`transaction` compares and stores it)."""
        with self._writing() as conn:
            self._in_tx = True
            try:
                conn = self._begin(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield _PostgresTransaction(conn)
                finally:
                    if not conn.broken and not conn.closed:
                        conn.execute("ROLLBACK")
            finally:
                self._in_tx = False

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
        """Record the outcome of a delivery attempt (and end its claim); KeyError if unknown."""
        with self._writing() as conn:
            cur = conn.execute(
                "UPDATE outbox SET status = %s, attempts = %s, next_attempt_at = %s,"
                " last_error = %s, claimed_by = NULL, claimed_until = NULL"
                " WHERE notice_id = %s AND notifier = %s",
                (status, attempts, _utc(next_attempt_at), last_error, notice_id, notifier),
            )
            if cur.rowcount == 0:
                raise KeyError((notice_id, notifier))

    # ------------------------------------------------------------------ reading

    def _fetch(self, query: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read on the reader connection; once more on a new one if it had broken."""
        import psycopg

        rows: list[tuple[Any, ...]]
        with self._read_lock:
            try:
                rows = self._read().execute(query, params).fetchall()
            except psycopg.OperationalError:
                if self._reader is None or not self._reader.broken:
                    raise
                rows = self._read().execute(query, params).fetchall()
        return rows

    def events(
        self,
        *,
        after_seq: int = 0,
        ticket_id: str | None = None,
        enterprise: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[Event]:
        """Stream events in ``seq`` order, a page of rows per query (keyset pagination).

        The events committed when the iteration starts are yielded (committed seqs are always
        ``1..n``, so ``seq <= n`` is that snapshot); no statement stays open between pages.
        """
        if types is not None and not types:
            return
        where = ""
        params: list[Any] = []
        if ticket_id is not None:
            where += " AND ticket_id = %s"
            params.append(ticket_id)
        if enterprise is not None:
            where += " AND enterprise = %s"
            params.append(enterprise)
        if types is not None:
            where += " AND type = ANY(%s)"
            params.append(list(types))
        sql = (
            f"SELECT seq, body FROM events WHERE seq > %s AND seq <= %s{where}"
            " ORDER BY seq LIMIT %s"
        )
        ((bound,),) = self._fetch("SELECT COALESCE(MAX(seq), 0) FROM events")
        last = after_seq
        while last < bound:
            rows = self._fetch(sql, [last, bound, *params, CHUNK])
            for seq, body in rows:
                yield _event(seq, body)
            if len(rows) < CHUNK:
                return
            last = rows[-1][0]

    def ticket_last_seqs(self) -> tuple[int, dict[str, int]]:
        """The last seq and each ticket's last seq, in one statement over the indexes."""
        rows = self._fetch(
            "SELECT ticket_id, MAX(seq) FROM events WHERE ticket_id IS NOT NULL GROUP BY ticket_id"
            " UNION ALL SELECT NULL, COALESCE(MAX(seq), 0) FROM events"
        )
        last = {str(t): int(n) for t, n in rows if t is not None}
        bound = next(int(n) for t, n in rows if t is None)
        return bound, last

    def count(self) -> int:
        """How many events are committed."""
        ((n,),) = self._fetch("SELECT COUNT(*) FROM events")
        return int(n)

    def deliveries(self, *, status: str | None = None) -> list[Delivery]:
        """Outbox entries in the order they were queued."""
        sql = f"SELECT {_DELIVERY_COLUMNS} FROM outbox o JOIN notices n USING (notice_id)"
        if status is None:
            rows = self._fetch(sql + " ORDER BY o.created_seq")
        else:
            rows = self._fetch(sql + " WHERE o.status = %s ORDER BY o.created_seq", (status,))
        return [_delivery(row) for row in rows]

    def due_deliveries(self, now: dt.datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is at or before ``now``, oldest first."""
        rows = self._fetch(
            f"SELECT {_DELIVERY_COLUMNS} FROM outbox o JOIN notices n USING (notice_id)"
            " WHERE o.status = %s AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %s)"
            " ORDER BY o.created_seq LIMIT %s",
            (NOTICE_PENDING, _utc(now), max(limit, 0)),
        )
        return [_delivery(row) for row in rows]

    def accounts(self) -> list[AccountRecord]:
        """Every console account, by name."""
        rows = self._fetch("SELECT body FROM accounts ORDER BY name")
        return [AccountRecord.from_dict(json.loads(body)) for (body,) in rows]

    def account(self, name: str) -> AccountRecord | None:
        """The account with this name, or None."""
        rows = self._fetch("SELECT body FROM accounts WHERE name = %s", (name,))
        return AccountRecord.from_dict(json.loads(rows[0][0])) if rows else None

    def save_account(self, record: AccountRecord) -> None:
        """Store an account, replacing the one of the same name."""
        body = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True)
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO accounts (name, body) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET body = excluded.body",
                (record.name, body),
            )

    def ticket_batch_events(
        self, ticket_ids: list[str], *, until: dt.date | None = None
    ) -> list[Event]:
        """What projecting some tickets needs, in one query: their events and the enterprise.*
        events of their enterprises, in ledger order, optionally only those dated ``<= until``.

        ``Projector(reference).feed_all(...)`` over the result gives the same ticket states as
        ``ledger.project(until=until)`` does for those tickets.
        """
        if not ticket_ids:
            return []
        rows = self._fetch(
            "WITH codes AS (SELECT DISTINCT enterprise FROM events"
            "  WHERE ticket_id = ANY(%s) AND enterprise IS NOT NULL)"
            " SELECT seq, body FROM ("
            "  SELECT seq, body, date FROM events WHERE ticket_id = ANY(%s)"
            "  UNION SELECT seq, body, date FROM events"
            "  WHERE enterprise IN (SELECT enterprise FROM codes) AND type LIKE %s) e"
            " WHERE %s::date IS NULL OR date <= %s ORDER BY seq",
            (ticket_ids, ticket_ids, "enterprise.%", until, until),
        )
        return [_event(seq, body) for seq, body in rows]

    # ------------------------------------------------------------------ read model

    def read_model_current(self) -> bool:
        """Whether ``rm_*`` cover every committed event."""
        return rm.is_current(self._fetch(rm.COVERAGE)[0])

    def ticket_rows(self, query: rm.TicketQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """The matching count and the page of ticket rows."""
        return self._count_and_page(query)

    def _count_and_page(self, query: rm.PagedQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """The matching count and the page's rows in one statement, so both belong to one
        snapshot (as two reads, a writer committing between them gave a total that did not
        match the page). The page is joined to the count's single row on ``true``: a join
        without a condition can only be a nested loop with that row outside, so the page keeps
        its order, and a page past the end is one row with the count and NULLs (a page's first
        column is its key, never NULL)."""
        count_sql, count_params = query.count_sql("%s")
        page_sql, page_params = query.page_sql("%s")
        rows = self._fetch(
            f"SELECT c.total, p.* FROM ({count_sql}) AS c (total) "
            f"LEFT JOIN ({page_sql}) AS p ON true",
            [*count_params, *page_params],
        )
        return int(rows[0][0]), [tuple(r[1:]) for r in rows if r[1] is not None]

    def ticket_row(self, ticket_id: str) -> tuple[Any, ...] | None:
        """One ticket's row."""
        rows = self._fetch(rm.TICKETS_BY_ID + "%s", (ticket_id,))
        return tuple(rows[0]) if rows else None

    def read_model_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Every stored row (a rebuild check compares them with a replay)."""
        tickets = [tuple(r) for r in self._fetch(rm.ALL_TICKETS)]
        return tickets, [tuple(r) for r in self._fetch(rm.ALL_ENTERPRISES)]

    def unit_counts(self) -> list[tuple[str, str, int]]:
        """Tickets per primary unit and state."""
        return [(str(u), str(s), int(n)) for u, s, n in self._fetch(rm.UNIT_COUNTS)]

    def read_model_units(self) -> list[tuple[Any, ...]]:
        """Every ticket-unit row."""
        return [tuple(r) for r in self._fetch(rm.ALL_UNITS)]

    def read_model_enterprise_units(self) -> list[tuple[Any, ...]]:
        """Every enterprise-unit row."""
        return [tuple(r) for r in self._fetch(es.ALL_ENTERPRISE_UNITS)]

    def enterprise_rows(self, query: es.EnterpriseQuery) -> tuple[int, list[tuple[Any, ...]]]:
        """The matching count and the page of enterprise rows."""
        return self._count_and_page(query)

    def tickets_per_enterprise(self) -> dict[str, int]:
        """Tickets per enterprise."""
        return {str(code): int(n) for code, n in self._fetch(es.TICKETS_PER_ENTERPRISE)}

    def ticket_ids_with_prefix(self, prefix: str) -> list[str]:
        """The ticket ids beginning with ``prefix`` (a range of the primary key)."""
        if "\x00" in prefix:
            return []
        low, high = es.id_range(prefix)
        params = (low,) if high is None else (low, high)
        return [str(t) for (t,) in self._fetch(es.ticket_ids_sql("%s", high), params)]

    def ticket_roles(self, ticket_ids: list[str]) -> dict[str, list[tuple[str, int, str]]]:
        """The units of some tickets with their roles."""
        found: dict[str, list[tuple[str, int, str]]] = {}
        ids = list(dict.fromkeys(ticket_ids))
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            for t, role, index, unit in self._fetch(rm.roles_sql("%s", len(part)), part):
                found.setdefault(str(t), []).append((str(role), int(index), str(unit)))
        return found

    def ticket_overdue(
        self, query: rm.TicketQuery, as_of: dt.date, key: str
    ) -> list[tuple[str, bool | None]]:
        """Matching tickets with their stored overdue flag where it holds as of ``as_of``."""
        return rm.overdue_flags(self._fetch(*query.overdue_sql("%s", as_of, key)))

    def clock_rows(self, ticket_id: str) -> list[tuple[Any, ...]]:
        """One ticket's stored clock rows."""
        return [tuple(r) for r in self._fetch(rm.clocks_of("%s"), (ticket_id,))]

    def events_of_tickets(
        self, ticket_ids: list[str], *, until: dt.date | None = None
    ) -> list[Event]:
        """The tickets' events and their enterprises' enterprise.* events, in ledger order."""
        return self.ticket_batch_events(ticket_ids, until=until)

    def stored_events(self, event_ids: list[str]) -> dict[str, Event]:
        """The committed events among ``event_ids``."""
        rows = self._fetch(
            "SELECT seq, body FROM events WHERE event_id = ANY(%s)", (list(set(event_ids)),)
        )
        events = (_event(seq, body) for seq, body in rows)
        return {e.event_id: e for e in events}

    def facts_rows(
        self, horizon: dt.date, key: str, kinds: tuple[str, ...] = ("t", "e")
    ) -> Iterator[rm.FactsRow]:
        """The stored facts of ``kinds`` as of ``horizon`` under ``key``: (kind, subject,
        last seq, body), in (kind, subject) order, a page at a time."""
        return rm.facts_pages(self._fetch, "%s", horizon, key, kinds)

    def put_facts(self, horizon: dt.date, key: str, rows: list[rm.FactsRow]) -> None:
        """Store facts rows (one statement per row, in one short transaction)."""
        if not rows:
            return
        with self._writing() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "facts"),))
            params = rm.put_facts(conn, "%s", horizon, key, rows)
            with conn.cursor() as cur:
                cur.executemany(rm.upsert_facts("%s"), params)

    def enterprise_last_seqs(self, types: tuple[str, ...], bound: int) -> dict[str, int]:
        """Each enterprise's last event of ``types`` up to seq ``bound`` (the type index)."""
        rows = self._fetch(
            "SELECT enterprise, MAX(seq) FROM events WHERE type = ANY(%s)"
            " AND enterprise IS NOT NULL AND seq <= %s GROUP BY enterprise",
            (list(types), bound),
        )
        return {str(code): int(seq) for code, seq in rows}

    def events_of_enterprises(
        self, codes: list[str], types: tuple[str, ...], bound: int
    ) -> list[Event]:
        """The events of ``types`` naming ``codes``, up to seq ``bound``, in ledger order."""
        rows = self._fetch(
            "SELECT seq, body FROM events WHERE enterprise = ANY(%s) AND type = ANY(%s)"
            " AND seq <= %s ORDER BY seq",
            (codes, list(types), bound),
        )
        return [_event(seq, body) for seq, body in rows]

    def events_of_types(
        self,
        types: tuple[str, ...],
        bound: int,
        *,
        first: dt.date | None = None,
        last: dt.date | None = None,
    ) -> list[Event]:
        """The events of ``types`` up to seq ``bound`` dated within ``first``..``last``, in
        ledger order (one query over the type index)."""
        where, params = "", []
        if first is not None:
            where += " AND date >= %s"
            params.append(first)
        if last is not None:
            where += " AND date <= %s"
            params.append(last)
        rows = self._fetch(
            f"SELECT seq, body FROM events WHERE type = ANY(%s) AND seq <= %s{where} ORDER BY seq",
            (list(types), bound, *params),
        )
        return [_event(seq, body) for seq, body in rows]

    def unticketed_events(self, types: tuple[str, ...], bound: int) -> list[Event]:
        """The events of ``types`` naming no ticket, up to seq ``bound``, in ledger order."""
        rows = self._fetch(
            "SELECT seq, body FROM events WHERE type = ANY(%s) AND ticket_id IS NULL"
            " AND seq <= %s ORDER BY seq",
            (list(types), bound),
        )
        return [_event(seq, body) for seq, body in rows]

    def sweep_candidates(self, as_of: dt.date, key: str) -> list[str]:
        """Tickets not marked quiet as of ``as_of`` under ``key``."""
        with self._writing() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "sweep"),))
            return rm.sweep_candidates(conn, "%s", as_of, key)

    def mark_quiet(self, marks: list[rm.QuietMark], key: str) -> None:
        """Mark tickets quiet (only those unchanged since the sweep read them)."""
        if not marks:
            return
        with self._writing() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "sweep"),))
            if not rm.sweep_key_is(conn, key):
                return
            with conn.cursor() as cur:
                rm.write_quiet_marks(cur, "%s", marks)

    # ------------------------------------------------------------------ work splitting

    def claim_due_deliveries(
        self,
        now: dt.datetime,
        limit: int = 100,
        worker: str = "",
        *,
        lease: dt.timedelta = CLAIM_LEASE,
    ) -> list[Delivery]:
        """Like :meth:`due_deliveries`, but each delivery goes to one notify runner only.

        The deliveries returned are leased to ``worker`` until ``now + lease``: other runners
        skip them (``FOR UPDATE SKIP LOCKED`` while claiming, the lease afterwards).
        :meth:`update_delivery` ends the claim; a runner that dies loses its claims when the
        lease runs out, and the deliveries are handed out again (at least once).
        """
        if not worker:
            raise ValueError("claim_due_deliveries needs a worker name")
        at = _utc(now)
        assert at is not None
        with self._writing() as conn:
            rows = conn.execute(
                "UPDATE outbox o SET claimed_by = %s, claimed_until = %s"
                " FROM (SELECT notice_id, notifier FROM outbox"
                "  WHERE status = %s AND (next_attempt_at IS NULL OR next_attempt_at <= %s)"
                "  AND (claimed_until IS NULL OR claimed_until <= %s)"
                "  ORDER BY created_seq LIMIT %s FOR UPDATE SKIP LOCKED) pick, notices n"
                " WHERE o.notice_id = pick.notice_id AND o.notifier = pick.notifier"
                f" AND n.notice_id = o.notice_id RETURNING {_DELIVERY_COLUMNS}",
                (worker, at + lease, NOTICE_PENDING, at, at, max(limit, 0)),
            ).fetchall()
        return [_delivery(row) for row in sorted(rows, key=lambda row: int(row[6]))]

    def claim_tickets(
        self,
        as_of: dt.date,
        worker: str,
        batch: int = 100,
        *,
        lease: dt.timedelta = SWEEP_LEASE,
        key: str | None = None,
    ) -> list[str]:
        """The next batch of ticket ids for ``worker`` to sweep as of ``as_of`` ([] when done).

        The day's claim list is filled by the first worker to ask: with the sweep's ``key``
        (:func:`kernel.clocks.index.evaluator_key`) and a current read model, with the tickets
        the sweep's index does not mark quiet that day (what a sweep in one process reads);
        otherwise with every ticket that has an event dated on or before ``as_of``. Later asks
        add the tickets that had events stored since. Each ticket listed is handed to exactly
        one worker per day. Asking for the next batch marks the worker's previous batch done;
        a batch not finished within ``lease`` (the worker died) is handed to another worker --
        the sweep is idempotent, so a ticket swept twice issues nothing twice. ``worker`` must
        be unique per running process (``host:pid``).
        """
        if not worker:
            raise ValueError("claim_tickets needs a worker name")
        with self._writing() as conn, conn.transaction():
            # Fill the day's claim list with tickets stored since the last fill (row-locked,
            # so concurrent workers fill once).
            new_day = conn.execute(
                "INSERT INTO sweep_days (as_of, filled_through) VALUES (%s, 0) "
                "ON CONFLICT (as_of) DO NOTHING RETURNING as_of",
                (as_of,),
            ).fetchone()
            if new_day is not None:  # forget the claims of long-past days
                oldest = as_of - dt.timedelta(days=CLAIMS_KEPT_DAYS)
                conn.execute("DELETE FROM sweep_claims WHERE as_of < %s", (oldest,))
                conn.execute("DELETE FROM sweep_days WHERE as_of < %s", (oldest,))
            filled = _scalar(
                conn, "SELECT filled_through FROM sweep_days WHERE as_of = %s FOR UPDATE", (as_of,)
            )
            covered, top = conn.execute(rm.COVERAGE).fetchone() or (None, 0)
            top = int(top)
            if filled == 0 and key is not None and rm.is_current((covered, top)):
                self._claim_candidates(conn, as_of, key)
            elif top > filled:
                conn.execute(
                    "INSERT INTO sweep_claims (as_of, ticket_id)"
                    " SELECT DISTINCT %s::date, ticket_id FROM events"
                    " WHERE seq > %s AND seq <= %s AND ticket_id IS NOT NULL AND date <= %s"
                    " ON CONFLICT (as_of, ticket_id) DO NOTHING",
                    (as_of, filled, top, as_of),
                )
            if top > filled:
                conn.execute(
                    "UPDATE sweep_days SET filled_through = %s WHERE as_of = %s", (top, as_of)
                )
        with self._writing() as conn, conn.transaction():
            conn.execute(
                "UPDATE sweep_claims SET done = true WHERE as_of = %s AND worker = %s AND NOT done",
                (as_of, worker),
            )
            rows = conn.execute(
                "UPDATE sweep_claims c SET worker = %s, claimed_at = now(), done = false"
                " FROM (SELECT ticket_id FROM sweep_claims WHERE as_of = %s AND NOT done"
                "  AND (worker IS NULL OR claimed_at < now() - %s)"
                "  ORDER BY ticket_id LIMIT %s FOR UPDATE SKIP LOCKED) pick"
                " WHERE c.as_of = %s AND c.ticket_id = pick.ticket_id RETURNING c.ticket_id",
                (worker, as_of, lease, max(batch, 0), as_of),
            ).fetchall()
        return sorted(str(ticket_id) for (ticket_id,) in rows)

    def _claim_candidates(self, conn: Connection[Any], as_of: dt.date, key: str) -> None:
        """List the day's sweep candidates (marks of another ``key`` dropped first, as
        :meth:`sweep_candidates` does; the sweep lock keeps this from racing ``mark_quiet``)."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(self.schema, "sweep"),))
        if not rm.sweep_key_is(conn, key):
            conn.execute(rm.CLEAR_QUIET)
            conn.execute(rm.set_meta("%s", "sweep_key"), (key,))
        day = as_of.isoformat()
        conn.execute(
            "INSERT INTO sweep_claims (as_of, ticket_id) SELECT %s::date, ticket_id FROM ("
            + rm.SWEEP_CANDIDATES.format(ph="%s")
            + ") c ON CONFLICT (as_of, ticket_id) DO NOTHING",
            (as_of, day, day),
        )

    def held_claims(
        self, as_of: dt.date, worker: str, *, lease: dt.timedelta = SWEEP_LEASE
    ) -> list[tuple[str, int, dt.datetime]]:
        """Claims of ``as_of`` still open and held by other workers: ``(worker, tickets, when
        the lease of the oldest runs out)``, for a sweep to wait for or report.

        A worker that died holds its last batch until the lease runs out; then
        :meth:`claim_tickets` hands it to the next worker that asks.
        """
        with self._writing() as conn:
            rows = conn.execute(
                "SELECT worker, COUNT(*), MIN(claimed_at) + %s FROM sweep_claims"
                " WHERE as_of = %s AND NOT done AND worker IS NOT NULL AND worker <> %s"
                " GROUP BY worker ORDER BY worker",
                (lease, as_of, worker),
            ).fetchall()
        return [(str(w), int(n), until) for w, n, until in rows]

    # ------------------------------------------------------------------ API tokens

    def add_token(self, record: TokenRecord) -> None:
        """Store a new token record (ValueError for an id that exists)."""
        import psycopg

        with self._writing() as conn:
            try:
                conn.execute(
                    "INSERT INTO api_tokens (token_id, digest, name, unit, role, created_at,"
                    " expires_at, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        record.token_id,
                        record.digest,
                        record.name,
                        record.unit,
                        record.role,
                        _utc(record.created_at),
                        _utc(record.expires_at),
                        _utc(record.revoked_at),
                    ),
                )
            except psycopg.errors.UniqueViolation:
                raise ValueError(f"token {record.token_id} already stored") from None

    def tokens(self) -> list[TokenRecord]:
        """Every token record, oldest first."""
        rows = self._fetch(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, token_id")
        return [TokenRecord(*row) for row in rows]

    def token(self, token_id: str) -> TokenRecord | None:
        """The token record with this id, or None."""
        rows = self._fetch(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_id = %s", (token_id,)
        )
        return TokenRecord(*rows[0]) if rows else None

    def revoke_token(self, token_id: str, at: dt.datetime) -> bool:
        """Mark a token revoked; False if unknown or already revoked."""
        with self._writing() as conn:
            cur = conn.execute(
                "UPDATE api_tokens SET revoked_at = %s WHERE token_id = %s AND revoked_at IS NULL",
                (_utc(at), token_id),
            )
            return cur.rowcount > 0

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Close both connections (idempotent)."""
        with self._write_lock, self._read_lock:
            self._closed = True
            for conn in (self._writer, self._reader):
                if conn is not None:
                    conn.close()


class _PostgresFactory:
    """The factory registered for ``postgresql:`` and ``postgres:``, with ``open_existing``
    for the commands that must not create a ledger."""

    def __call__(self, url: str) -> Storage:
        return PostgresStorage(url)

    def open_existing(self, url: str) -> Storage:
        return PostgresStorage.open_existing(url)


@hookimpl
def huhang_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register ``postgresql:`` and ``postgres:`` (psycopg is imported only when opening)."""
    register("postgresql", _PostgresFactory())
    register("postgres", _PostgresFactory())
