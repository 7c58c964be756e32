"""The PostgreSQL backend against a live server: contract, migrations, real concurrent processes.

The server comes from ``$HUHANG_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
without one (or without psycopg) the whole module is skipped. Every test works in its own
schema with a random name, dropped afterwards.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kernel.errors import InputError
from kernel.ledger.events import ENTERPRISE_EVENTS, OFFICE, Event
from kernel.ledger.ledger import Ledger, Projector, SubmitResult
from kernel.ledger.projection import TicketState
from kernel.notify.outbox import MASK, redact
from kernel.plugins import get_plugin_manager
from kernel.rules.model import RuleSet
from kernel.storage import postgres as storage_postgres
from kernel.storage.contract import NOTICE_PENDING, Storage
from kernel.storage.postgres import (
    INSTALL_HINT,
    SCHEMA_VERSION,
    PostgresStorage,
    lock_key,
    split_url,
)
from kernel.testing.storage_contract import (
    NOW,
    StorageContract,
    append,
    make_event,
    make_notice,
    queue,
)

ROOT = Path(__file__).resolve().parent.parent
DSN = os.environ.get("HUHANG_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
HOW = (
    "set HUHANG_PG_DSN=postgresql://user@host:port/db, "
    "or start a local server: pg_ctlcluster 15 main start"
)

#: set (as CI does once it has started the server) to fail instead of skipping without one
REQUIRED = bool(os.environ.get("HUHANG_PG_REQUIRED"))


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (HUHANG_PG_REQUIRED is set)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    import psycopg
except ImportError:
    _unavailable(f"psycopg is not installed (pip install 'huhang[postgres]'); {HOW}")
from psycopg import sql  # noqa: E402

LIBPQ, _, SHOWN_DSN, DSN_SECRETS = split_url(DSN)


def _server_problem() -> str | None:
    try:
        with psycopg.connect(LIBPQ, connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        text = str(exc).strip()
        return redact(text.splitlines()[0], DSN_SECRETS) if text else type(exc).__name__
    return None


_PROBLEM = _server_problem()
if _PROBLEM is not None:
    _unavailable(f"no PostgreSQL server answers at {SHOWN_DSN} ({_PROBLEM}); {HOW}")

DAY = "2026-03-02"
AS_OF = dt.date(2026, 5, 6)


def admin() -> Any:
    """A plain autocommit connection to the test database."""
    return psycopg.connect(LIBPQ, autocommit=True)


def url_for(schema: str, base: str = DSN) -> str:
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def drop(schema: str) -> None:
    with admin() as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema name (the store creates it); dropped after the test."""
    name = f"huhang_test_{secrets.token_hex(6)}"
    yield name
    drop(name)


@pytest.fixture
def url(schema: str) -> str:
    return url_for(schema)


def scalar(schema: str, query: str, *params: Any) -> Any:
    """One value from a query run with the test schema on the search path."""
    with admin() as conn:
        conn.execute("SELECT set_config('search_path', %s, false)", (f'"{schema}"',))
        row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


# ---------------------------------------------------------------------- the contract


class TestPostgresStorage(StorageContract):
    @pytest.fixture
    def storage(self, url: str) -> Iterator[Storage]:
        with PostgresStorage(url) as store:
            yield store

    def reopen(self, storage: Storage) -> Storage:
        storage.close()
        return PostgresStorage(storage.url)


def test_two_connections_never_interleave_check_and_insert(url: str) -> None:
    """The contract's exclusivity test, but each thread with its own store (own connection)."""
    stores = [PostgresStorage(url) for _ in range(3)]
    errors: list[BaseException] = []

    def worker(store: PostgresStorage) -> None:
        try:
            for i in range(30):
                with store.transaction() as tx:
                    if tx.get(f"E-{i}") is None:
                        time.sleep(0.0005)
                        tx.insert(make_event(f"E-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert stores[0].count() == 30
        assert [e.seq for e in stores[1].events()] == list(range(1, 31))
    finally:
        for store in stores:
            store.close()


def test_the_ledger_lock_is_per_schema(url: str, schema: str) -> None:
    """A transaction waits while another session holds its schema's lock; other schemas don't."""
    other = f"{schema}_b"
    with PostgresStorage(url) as store, PostgresStorage(url_for(other)) as elsewhere:
        try:
            with admin() as holder:
                holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(schema, "ledger"),))
                writer = threading.Thread(target=append, args=(store, make_event("E-1")))
                writer.start()
                assert append(elsewhere, make_event("E-1")) == [1]  # not blocked
                writer.join(timeout=0.5)
                assert writer.is_alive() and store.count() == 0  # waiting for the lock
            writer.join(timeout=10)  # the holder's session ended: the lock is free
            assert not writer.is_alive() and store.count() == 1
        finally:
            drop(other)


def test_a_lost_connection_is_replaced(url: str) -> None:
    """After the server dropped both connections (a restart), the store carries on."""
    with PostgresStorage(url) as store:
        append(store, make_event("E-1"))
        assert store.count() == 1
        pids = [c.info.backend_pid for c in (store._writer, store._reader) if c is not None]
        with admin() as conn:
            for pid in pids:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.2)
        assert append(store, make_event("E-2")) == [2]
        assert [e.event_id for e in store.events()] == ["E-1", "E-2"]
        queue(store, make_notice("N-1"), ["console"])
        assert len(store.deliveries()) == 1


# ---------------------------------------------------------------------- migrations


TABLES = [
    "accounts",
    "api_tokens",
    "events",
    "meta",
    "notices",
    "outbox",
    "rm_clocks",
    "rm_enterprise_units",
    "rm_enterprises",
    "rm_facts",
    "rm_ticket_units",
    "rm_tickets",
    "sweep_claims",
    "sweep_days",
]


def tables(schema: str) -> list[str]:
    with admin() as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
        ).fetchall()
    return [name for (name,) in rows]


def test_fresh_schema_is_created_at_the_current_version(schema: str, url: str) -> None:
    assert tables(schema) == []
    with PostgresStorage(url) as store:
        assert store.schema == schema
        assert store.count() == 0
    assert tables(schema) == TABLES
    assert scalar(schema, "SELECT value FROM meta WHERE key = 'schema_version'") == str(
        SCHEMA_VERSION
    )


def test_opening_again_is_a_no_op(schema: str, url: str) -> None:
    with PostgresStorage(url) as store:
        append(store, make_event("E-1"))
    # While someone holds the migration lock, opening an up-to-date store must not wait for it.
    with admin() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(schema, "migrate"),))
        opened: list[PostgresStorage] = []
        thread = threading.Thread(target=lambda: opened.append(PostgresStorage(url)))
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "opening an up-to-date schema waited for the migration lock"
    with opened[0] as store:
        assert [e.event_id for e in store.events()] == ["E-1"]
    assert tables(schema) == TABLES
    assert scalar(schema, "SELECT COUNT(*) FROM meta") == 2  # schema_version, read_model_seq


def test_an_older_schema_is_migrated_in_order(
    schema: str, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(storage_postgres, "MIGRATIONS", storage_postgres.MIGRATIONS[:1])
        with PostgresStorage(url) as store:
            append(store, make_event("E-1"))
    assert "sweep_claims" not in tables(schema)
    assert scalar(schema, "SELECT value FROM meta WHERE key = 'schema_version'") == "1"
    with PostgresStorage(url) as store:
        assert [e.event_id for e in store.events()] == ["E-1"]
        assert store.claim_tickets(dt.date(2026, 3, 2), "w1") == ["T-1"]
    assert tables(schema) == TABLES
    assert scalar(schema, "SELECT value FROM meta WHERE key = 'schema_version'") == str(
        SCHEMA_VERSION
    )


def test_workers_starting_together_create_the_schema_once(schema: str, url: str) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            PostgresStorage(url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert tables(schema) == TABLES
    assert scalar(schema, "SELECT value FROM meta WHERE key = 'schema_version'") == str(
        SCHEMA_VERSION
    )


def test_a_newer_schema_is_refused(schema: str, url: str) -> None:
    PostgresStorage(url).close()
    with admin() as conn:
        conn.execute(
            sql.SQL("UPDATE {}.meta SET value = '999' WHERE key = 'schema_version'").format(
                sql.Identifier(schema)
            )
        )
    with pytest.raises(InputError) as caught:
        PostgresStorage(url)
    assert str(caught.value) == (
        f"PostgreSQL 账本 {url}：数据库结构版本为 999，本程序只支持到 {SCHEMA_VERSION}，"
        "请升级 huhang"
    )


def test_a_schema_of_other_tables_is_refused(schema: str, url: str) -> None:
    with admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("CREATE TABLE {}.customers (name TEXT)").format(sql.Identifier(schema))
        )
    with pytest.raises(InputError, match="已有其他数据表（customers），不是护航账本"):
        PostgresStorage(url)


# ---------------------------------------------------------------------- URLs, secrets, plugins


def with_password(base: str, password: str) -> str:
    """``base`` with ``password`` in its user part (user ``postgres`` if it names none)."""
    scheme, _, rest = base.partition("://")
    authority, slash, path = rest.partition("/")
    user, at, hosts = authority.rpartition("@")
    if not at:
        user, hosts = "postgres", authority
    return f"{scheme}://{user.split(':', 1)[0]}:{password}@{hosts}{slash}{path}"


def test_the_password_is_never_shown(schema: str) -> None:
    password = "Fake-S3cret-pw"
    # a server that does not answer: the error names the store, never the password
    for bad in (
        f"postgresql://huhang:{password}@127.0.0.1:1/test?connect_timeout=3&schema={schema}",
        f"postgresql://huhang@127.0.0.1:1/test?password={password}&schema={schema}",
    ):
        with pytest.raises(InputError) as caught:
            PostgresStorage(bad)
        message = str(caught.value)
        assert password not in message and password not in repr(caught.value)
        assert "无法连接 PostgreSQL 账本 postgresql://huhang" in message
        assert MASK in message
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # the live server (with trust authentication the password is not even checked)
    secret = DSN_SECRETS[0] if DSN_SECRETS else password
    live = url_for(schema, DSN if DSN_SECRETS else with_password(DSN, password))
    try:
        store = PostgresStorage(live)
    except InputError as exc:  # a server that does check passwords refused the fake one
        assert secret not in str(exc)
        return
    with store:
        assert secret not in store.url and secret not in repr(store)
        assert f":{MASK}@" in store.url
        assert repr(store) == f"PostgresStorage({store.url!r})"


def test_bad_urls_are_input_errors() -> None:
    for bad in ("postgresql://h/db?schema=1abc", "postgresql://h/db?schema=a-b", "mysql://h/db"):
        with pytest.raises(InputError):
            PostgresStorage(bad)
    with pytest.raises(InputError, match="地址无效"):
        PostgresStorage("postgresql://h/db?no_such_libpq_option=1")


def test_missing_driver_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` fail
    with pytest.raises(InputError) as caught:
        PostgresStorage(DSN)
    assert (
        str(caught.value)
        == INSTALL_HINT
        == "使用 PostgreSQL 需要先安装：pip install 'huhang[postgres]'"
    )


def test_registered_through_the_hook(tmp_path: Path, url: str, schema: str) -> None:
    host = get_plugin_manager(
        block=["storage_postgres"],  # in case DEFAULT_PLUGINS lists it
        use_entry_points=False,
        local_dir=tmp_path / "no-plugins",
        extra=[("postgres_under_test", storage_postgres)],
    )
    for opened in (url, url.replace("postgresql://", "postgres://", 1)):
        with host.open_storage(opened) as store:
            assert type(store) is PostgresStorage
            assert store.schema == schema


# ---------------------------------------------------------------------- claims (in-process)


def test_claim_tickets_splits_a_day_and_reclaims_expired_leases(url: str) -> None:
    day = dt.date(2026, 3, 10)
    with PostgresStorage(url) as store:
        append(store, *(make_event(f"E-{n}", ticket_id=f"T-{n}") for n in range(10)))
        append(store, make_event("R-1", "enterprise.registered", ticket_id=None))
        append(store, make_event("L-1", ticket_id="T-late", date=day + dt.timedelta(days=1)))
        first = store.claim_tickets(day, "w1", batch=4)
        second = store.claim_tickets(day, "w2", batch=4)
        third = store.claim_tickets(day, "w3", batch=4)
        assert first == [f"T-{n}" for n in range(4)]
        assert (second, third) == ([f"T-{n}" for n in range(4, 8)], ["T-8", "T-9"])
        assert store.claim_tickets(day, "w1", batch=4) == []  # w1's batch is now done
        assert store.claim_tickets(day, "w3", batch=4) == []
        # w2 died: its unfinished batch goes to another worker once the lease ran out
        assert store.claim_tickets(day, "w3", lease=dt.timedelta(minutes=5)) == []
        assert store.claim_tickets(day, "w3", lease=dt.timedelta(0)) == second
        # a ticket stored later the same day is handed out too, once
        append(store, make_event("E-new", ticket_id="T-new"))
        assert store.claim_tickets(day, "w1") == ["T-new"]
        assert store.claim_tickets(day, "w2") == []
        # another day starts over; the late ticket counts from its own date
        assert len(store.claim_tickets(day + dt.timedelta(days=1), "w1")) == 12


def test_ticket_batch_events_project_like_the_whole_ledger(url: str, ruleset: RuleSet) -> None:
    with PostgresStorage(url) as store:
        ledger = Ledger(store, ruleset.reference)
        history = [
            *enterprise_history(credit_code(1), "A", 3),
            *enterprise_history(credit_code(2), "B", 3),
        ]
        later = {**history[-1], "event_id": "B-002:again", "date": "2026-03-20"}
        assert all(
            isinstance(o, SubmitResult)
            for o in ledger.submit_many([(e, None, ()) for e in [*history, later]])
        )
        chosen = ["A-001", "B-002", "B-404"]
        for until in (None, dt.date(2026, 3, 2)):
            whole = ledger.project(until=until).tickets
            part = Projector(ruleset.reference).feed_all(
                store.ticket_batch_events(chosen, until=until)
            )
            assert sorted(part.tickets) == ["A-001", "B-002"]
            assert all(part.tickets[t] == whole[t] for t in part.tickets)
            assert batch_states(ledger, chosen, until or dt.date(2026, 12, 31)) == [
                whole["A-001"],
                whole["B-002"],
            ]
        assert store.ticket_batch_events([]) == []


def test_claim_due_deliveries_hands_each_delivery_to_one_runner(url: str) -> None:
    with PostgresStorage(url) as store:
        for n in range(1, 4):
            queue(store, make_notice(f"N-{n}"), ["console"])
        a = store.claim_due_deliveries(NOW, 2, "a")
        b = store.claim_due_deliveries(NOW, 2, "b")
        assert [d.notice.notice_id for d in a] == ["N-1", "N-2"]
        assert [d.notice.notice_id for d in b] == ["N-3"]
        assert store.claim_due_deliveries(NOW, 10, "c") == []
        assert len(store.due_deliveries(NOW)) == 3  # the plain contract ignores claims
        later = NOW + dt.timedelta(minutes=1)
        store.update_delivery(
            "N-1", "console", status=NOTICE_PENDING, attempts=1, next_attempt_at=later,
            last_error="超时",
        )  # fmt: skip
        assert store.claim_due_deliveries(later, 10, "c") == [store.deliveries()[0]]
        # runner a died holding N-2: it is handed out again after the lease
        lease_end = NOW + storage_postgres.CLAIM_LEASE
        assert [d.notice.notice_id for d in store.claim_due_deliveries(lease_end, 10, "c")] == [
            "N-2",
            "N-3",
        ]


# ---------------------------------------------------------------------- real processes


def credit_code(n: int) -> str:
    from kernel.inputs.creditcode import complete

    return complete(f"91610700MA6YT2B{n:02d}")


def enterprise_history(
    code: str, prefix: str, tickets: int, *, progress: bool = True
) -> list[dict[str, Any]]:
    """A registered enterprise and its tickets, each collected → reported → graded → dispatched
    (→ one progress report); grades alternate A and C."""
    events: list[dict[str, Any]] = [
        {
            "event_id": f"{prefix}:registered",
            "type": "enterprise.registered",
            "date": DAY,
            "actor": OFFICE,
            "enterprise": code,
            "payload": {
                "name": f"汉中市{prefix}物流有限公司",
                "territory": "汉台区",
                "lead_unit": "商务局",
                "lead_leader": "张明",
            },
        }
    ]
    for n in range(tickets):
        ticket = f"{prefix}-{n:03d}"
        route = {"primary": "汉台区", "co_handlers": [], "feedback_owner": "商务局"}
        steps: list[tuple[str, str, dict[str, Any]]] = [
            (
                "ticket.collected",
                "商务局",
                {
                    "category": "用工",
                    "summary": "招工难",
                    "assessment": {"authority_level": "本单位"},
                },
            ),
            ("ticket.reported", "商务局", {}),
            ("ticket.graded", OFFICE, {"grade": "AC"[n % 2], "route": route}),
            ("ticket.dispatched", OFFICE, {}),
        ]
        if progress:
            steps.append(("ticket.progress_reported", "汉台区", {}))
        for kind, actor, payload in steps:
            event: dict[str, Any] = {
                "event_id": f"{ticket}:{kind.split('.')[1]}",
                "type": kind,
                "date": DAY,
                "actor": actor,
                "ticket_id": ticket,
                "payload": payload,
            }
            if kind == "ticket.collected":
                event["enterprise"] = code
            events.append(event)
    return events


def run_together(script: str, jobs: list[list[str]], tmp_path: Path) -> list[dict[str, Any]]:
    """Start one process per job, release them at once when all are ready, wait for all.

    Each prints ``ready``, waits for the go file, then prints one JSON line.
    """
    path = tmp_path / "child.py"
    path.write_text(script.replace("@ROOT@", repr(str(ROOT))), encoding="utf-8")
    go = tmp_path / f"go-{secrets.token_hex(4)}"
    children = [
        subprocess.Popen(
            [sys.executable, str(path), *job, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for job in jobs
    ]
    for child in children:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if line != "ready":
            _, err = child.communicate(timeout=30)
            pytest.fail(f"child did not start: {line!r}\n{err}")
    go.touch()
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


INGEST = """
import json, os, sys, time
sys.path.insert(0, @ROOT@)
from pathlib import Path
from kernel import load_rules
from kernel.storage.postgres import PostgresStorage
from kernel.ledger.ledger import Ledger

url, events_file, go = sys.argv[1:4]
events = json.loads(Path(events_file).read_text(encoding="utf-8"))
ledger = Ledger(PostgresStorage(url), load_rules(Path(@ROOT@) / "rules").reference)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
start = time.perf_counter()
accepted, duplicates = [], 0
for event in events:
    result = ledger.submit(event)
    if result.accepted:
        accepted.append(result.event.event_id)
    else:
        duplicates += 1
seconds = time.perf_counter() - start
ledger.storage.close()
print(json.dumps({"accepted": accepted, "duplicates": duplicates, "seconds": seconds}))
"""


@pytest.mark.slow
def test_four_processes_ingest_at_once(url: str, tmp_path: Path) -> None:
    PostgresStorage(url).close()  # create the schema first (as `huhang init` would)
    shared = enterprise_history(credit_code(99), "共享", 40)
    own = [enterprise_history(credit_code(k), f"P{k}", 60) for k in range(4)]
    jobs = []
    for k in range(4):
        mixed = [e for pair in itertools.zip_longest(own[k], shared) for e in pair if e]
        file = tmp_path / f"events-{k}.json"
        file.write_text(json.dumps(mixed, ensure_ascii=False), encoding="utf-8")
        jobs.append([url, str(file)])
    outputs = run_together(INGEST, jobs, tmp_path)

    shared_ids = [e["event_id"] for e in shared]
    for k, out in enumerate(outputs):  # each process stored all of its own events
        assert [i for i in out["accepted"] if i.startswith(f"P{k}")] == [
            e["event_id"] for e in own[k]
        ]
    accepted_shared = [i for out in outputs for i in out["accepted"] if i.startswith("共享")]
    assert sorted(accepted_shared) == sorted(shared_ids)  # each shared event stored once
    assert sum(out["duplicates"] for out in outputs) == 3 * len(shared)

    expected = {e["event_id"] for events in [*own, shared] for e in events}
    with PostgresStorage(url) as store:
        stored = list(store.events())
        assert store.count() == len(stored) == len(expected) == 4 * 301 + 201
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert {e.event_id for e in stored} == expected
        order = {e.event_id: e.seq for e in stored}
        for events in [*own, shared]:  # every ticket's steps in order (no transition raced)
            seqs = [order[e["event_id"]] for e in events]
            assert seqs == sorted(seqs)
    total = sum(out["seconds"] for out in outputs) / len(outputs)
    print(f"\n4 processes stored {len(stored)} events in {total:.2f} s")


def batch_states(ledger: Ledger, ticket_ids: list[str], as_of: dt.date) -> list[TicketState]:
    """The states of some tickets as of a day: ``ledger.project(until=as_of)`` cut to them.

    (Not ``ledger.ticket(id)``: it replays the ticket's 督办/通报 events as ticket steps.) The
    PostgreSQL backend reads it all in one query; elsewhere it takes a few queries per ticket.
    """
    if isinstance(ledger.storage, PostgresStorage):
        events = ledger.storage.ticket_batch_events(ticket_ids, until=as_of)
        projector = Projector(ledger.reference).feed_all(events)
        return [projector.tickets[t] for t in ticket_ids if t in projector.tickets]
    chosen: dict[int, Event] = {}
    codes = set()
    for ticket_id in ticket_ids:
        for event in ledger.events(ticket_id=ticket_id):
            if event.date <= as_of and event.seq is not None:
                chosen[event.seq] = event
                if event.type == "ticket.collected":
                    codes.add(str(event.enterprise))
    for code in sorted(codes):
        for event in ledger.events(enterprise=code, types=tuple(ENTERPRISE_EVENTS)):
            if event.date <= as_of and event.seq is not None:
                chosen[event.seq] = event
    projector = Projector(ledger.reference).feed_all(chosen[seq] for seq in sorted(chosen))
    return [projector.tickets[t] for t in ticket_ids if t in projector.tickets]


SWEEPER = """
import json, os, sys, time
sys.path.insert(0, @ROOT@)
import datetime as dt
from pathlib import Path
from kernel import load_rules
from kernel.storage.postgres import PostgresStorage
from kernel.clocks.compute import ClockEvaluator
from kernel.ledger.ledger import Ledger
from kernel.clocks.sweep import sweep
from tests.test_postgres import batch_states

url, as_of, worker, go = sys.argv[1:5]
day = dt.date.fromisoformat(as_of)
ruleset = load_rules(Path(@ROOT@) / "rules")
evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
store = PostgresStorage(url)
ledger = Ledger(store, ruleset.reference, notifiers=["屏幕"])
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
start = time.perf_counter()
claimed, notices, events, errors = [], 0, 0, []
while batch := store.claim_tickets(day, worker, batch=5):
    claimed += batch
    result = sweep(ledger, evaluator, day, states=batch_states(ledger, batch, day))
    notices += result.notices
    events += result.events
    errors += result.errors
store.close()
print(json.dumps({"claimed": claimed, "notices": notices, "events": events, "errors": errors,
                  "seconds": time.perf_counter() - start}, ensure_ascii=False))
"""

ESCALATIONS = ("supervision.issued", "notice.published", "interview.recommended")


@pytest.mark.slow
def test_three_workers_sweep_a_day_at_once(url: str, schema: str, tmp_path: Path) -> None:
    from kernel import load_rules
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.sweep import sweep
    from kernel.storage.memory import MemoryStorage

    ruleset = load_rules(ROOT / "rules")
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    history = enterprise_history(credit_code(1), "HZ", 60, progress=False)
    tickets = sorted({str(e["ticket_id"]) for e in history if "ticket_id" in e})

    # what one sweep over the whole ledger issues (the reference answer)
    reference = Ledger(MemoryStorage(), ruleset.reference, notifiers=["屏幕"])
    assert all(not isinstance(o, InputError) for o in reference.submit_many(
        [(e, None, ()) for e in history]
    ))  # fmt: skip
    once = sweep(reference, evaluator, AS_OF)
    expected_notices = sorted(d.notice.notice_id for d in reference.storage.deliveries())
    expected_events = sorted(e.event_id for e in reference.events(types=ESCALATIONS))
    assert once.notices == len(expected_notices) >= 120  # 督办, 通报 (and 约谈) for 60 tickets
    assert once.events == len(expected_events)

    with PostgresStorage(url) as store:
        ledger = Ledger(store, ruleset.reference, notifiers=["屏幕"])
        assert all(
            not isinstance(o, InputError)
            for o in ledger.submit_many([(e, None, ()) for e in history])
        )
        before = store.count()
    jobs = [[url, AS_OF.isoformat(), f"worker-{k}"] for k in range(3)]
    outputs = run_together(SWEEPER, jobs, tmp_path)

    claims = [out["claimed"] for out in outputs]
    assert sorted(t for part in claims for t in part) == tickets  # disjoint, and all of them
    assert all(claims), "every worker got a share"
    assert all(out["errors"] == [] for out in outputs)
    assert sum(out["notices"] for out in outputs) == len(expected_notices)
    assert sum(out["events"] for out in outputs) == len(expected_events)
    with PostgresStorage(url) as store:
        notices = sorted(d.notice.notice_id for d in store.deliveries())
        assert notices == expected_notices  # each notice queued exactly once
        events = sorted(e.event_id for e in store.events(types=ESCALATIONS))
        assert events == expected_events  # each 督办/通报/约谈 recorded exactly once
        assert store.count() == before + len(expected_events)
        after = store.count()
    assert scalar(schema, "SELECT COUNT(*) FROM sweep_claims WHERE NOT done") == 0
    assert scalar(schema, "SELECT COUNT(DISTINCT worker) FROM sweep_claims") == 3

    # a second round of three workers for the same day finds nothing left to do
    again = run_together(SWEEPER, jobs, tmp_path)
    assert [out["claimed"] for out in again] == [[], [], []]
    # and with the day's claims wiped, sweeping every ticket again issues nothing new
    with admin() as conn:
        for table in ("sweep_claims", "sweep_days"):
            conn.execute(sql.SQL("DELETE FROM {}.{}").format(*map(sql.Identifier, (schema, table))))
    with PostgresStorage(url) as store:
        ledger = Ledger(store, ruleset.reference, notifiers=["屏幕"])
        redone = 0
        while batch := store.claim_tickets(AS_OF, "again"):
            result = sweep(ledger, evaluator, AS_OF, states=batch_states(ledger, batch, AS_OF))
            assert (result.notices, result.events) == (0, 0)
            redone += len(batch)
        assert store.count() == after
        assert len(store.deliveries()) == len(expected_notices)
    assert redone == len(tickets)
    seconds = max(out["seconds"] for out in outputs)
    print(f"\n3 workers swept {len(tickets)} tickets in {seconds:.2f} s")


def test_cli_ingest_and_claimed_sweep(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`huhang ingest` and `huhang sweep --db postgresql://…` (the sweep claims its tickets)."""
    from kernel.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    events = Path(__file__).resolve().parent.parent / "examples" / "events.jsonl"
    assert main(["ingest", str(events), "--grade", "--db", url]) == 0
    assert "接受 13 条" in capsys.readouterr().out
    assert main(["sweep", "--as-of", "2026-11-16", "--db", url]) == 0
    assert capsys.readouterr().out.startswith("2026-11-16 巡查 2 件：新发通知")
    assert main(["sweep", "--as-of", "2026-11-16", "--db", url]) == 0
    assert (
        capsys.readouterr().out == "2026-11-16 巡查 0 件：新发通知 0 条（无），记录督办事件 0 条\n"
    )


NOTIFY_RUNNER = """
import datetime as dt, json, os, sys, time
sys.path.insert(0, @ROOT@)
from pathlib import Path
from kernel.notify.file import FileNotifier
from kernel.notify.outbox import deliver
from kernel.storage.postgres import PostgresStorage

url, path, worker, go = sys.argv[1:5]


class Slow(FileNotifier):
    def send(self, notice):
        time.sleep(0.002)  # a destination that takes a moment, so both runners get work
        super().send(notice)


store = PostgresStorage(url)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
report = deliver(store, {"发件箱": Slow("发件箱", Path(path))}, now=now, batch=10, worker=worker)
store.close()
print(json.dumps({"sent": report.sent, "skipped": report.skipped}))
"""


@pytest.mark.slow
def test_two_notify_runners_share_the_outbox(url: str, tmp_path: Path) -> None:
    with PostgresStorage(url) as store:
        for n in range(300):
            queue(store, make_notice(f"N-{n:03d}"), ["发件箱"])
    path = tmp_path / "notices.jsonl"
    outputs = run_together(NOTIFY_RUNNER, [[url, str(path), "a"], [url, str(path), "b"]], tmp_path)
    sent = [json.loads(line)["notice_id"] for line in path.read_text("utf-8").splitlines()]
    assert sorted(sent) == [f"N-{n:03d}" for n in range(300)]  # every notice exactly once
    assert sum(o["sent"] for o in outputs) == 300
    assert all(o["sent"] > 0 for o in outputs)  # the work was shared
    with PostgresStorage(url) as store:
        assert {d.status for d in store.deliveries()} == {"sent"}


# ---------------------------------------------------------------------- a worker that died


def _dead_worker_holds(schema: str, url: str, seconds_ago: float) -> list[str]:
    """A worker claims a batch of the day and dies: its claim was taken ``seconds_ago``."""
    with PostgresStorage(url) as store:
        held = store.claim_tickets(AS_OF, "dead:1", batch=3)
    _age_claims(schema, seconds_ago)
    return held


def _age_claims(schema: str, seconds_ago: float) -> None:
    with admin() as conn:
        conn.execute(
            sql.SQL("UPDATE {}.sweep_claims SET claimed_at = now() - %s WHERE worker = %s").format(
                sql.Identifier(schema)
            ),
            (dt.timedelta(seconds=seconds_ago), "dead:1"),
        )


def _ledger_with_tickets(url: str, ruleset: RuleSet) -> Ledger:
    history = enterprise_history(credit_code(7), "DW", 8, progress=False)
    ledger = Ledger(PostgresStorage(url), ruleset.reference, notifiers=["屏幕"])
    assert all(
        not isinstance(o, InputError) for o in ledger.submit_many([(e, None, ()) for e in history])
    )
    return ledger


def test_a_sweep_waits_for_a_dead_workers_lease_and_finishes_its_tickets(
    url: str, schema: str, ruleset: RuleSet
) -> None:
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.sweep import sweep_claimed

    assert ruleset.deadlines is not None and ruleset.calendar is not None
    ledger = _ledger_with_tickets(url, ruleset)
    held = _dead_worker_holds(schema, url, seconds_ago=0)
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    try:
        lease = dt.timedelta(seconds=2)
        quick = sweep_claimed(ledger, evaluator, AS_OF, "alive:1", lease=lease, wait=0)
        assert quick.incomplete and quick.pending[0].startswith("3 件办理单由 dead:1 占用")
        assert "巡查未完成" in quick.summary()
        start = time.monotonic()
        done = sweep_claimed(ledger, evaluator, AS_OF, "alive:2", lease=lease)
        assert not done.incomplete and done.tickets == len(held)  # the dead worker's batch
        assert time.monotonic() - start < 10
        assert scalar(schema, "SELECT COUNT(*) FROM sweep_claims WHERE NOT done") == 0
    finally:
        ledger.storage.close()


def test_cli_sweep_says_incomplete_while_a_dead_worker_holds_tickets(
    url: str,
    schema: str,
    ruleset: RuleSet,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kernel.cli.main import main

    monkeypatch.chdir(tmp_path)
    _ledger_with_tickets(url, ruleset).storage.close()
    _dead_worker_holds(schema, url, seconds_ago=0)
    day = AS_OF.isoformat()
    assert main(["sweep", "--as-of", day, "--db", url, "--wait", "0"]) == 1
    out, err = capsys.readouterr()
    assert "巡查未完成" in out and "未巡查：3 件办理单由 dead:1 占用" in err
    # once the lease has run out, the next sweep takes the dead worker's tickets
    _age_claims(schema, seconds_ago=3600)
    assert main(["sweep", "--as-of", day, "--db", url, "--wait", "0"]) == 0
    assert "巡查 3 件" in capsys.readouterr().out


def test_console_accounts_are_kept_and_replaced(url: str) -> None:
    from kernel.storage.contract import AccountRecord

    first = AccountRecord("clerk", "$argon2id$x", "王芳", "助商稳企办", "office")
    with PostgresStorage(url) as store:
        assert store.accounts() == [] and store.account("clerk") is None
        store.save_account(first)
        store.save_account(AccountRecord("yx", "$argon2id$y", "李雷", "洋县", "unit"))
        store.save_account(replace(first, failures=2, generation=1))
    with PostgresStorage(url) as store:
        assert [a.name for a in store.accounts()] == ["clerk", "yx"]
        assert store.account("clerk") == replace(first, failures=2, generation=1)
