"""API tokens: the storage methods on every backend that keeps them, the SQLite migration, the CLI."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.cli.main import main
from kernel.errors import InputError
from kernel.service.access import Principal
from kernel.service.tokens import authenticate, create_token, digest, token_state
from kernel.storage.contract import Storage, TokensUnsupported
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SCHEMA_VERSION, SqliteStorage

NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


def _postgres() -> Iterator[Storage]:
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed")
    from kernel.storage.postgres import PostgresStorage

    dsn = os.environ.get("HUHANG_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    schema = f"tokens_{uuid.uuid4().hex[:10]}"
    try:
        store = PostgresStorage(f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}")
    except InputError as exc:
        if os.environ.get("HUHANG_PG_REQUIRED"):
            raise
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "memory":
        yield MemoryStorage()
    elif request.param == "sqlite":
        with SqliteStorage(str(tmp_path / "t.db")) as store:
            yield store
    else:
        yield from _postgres()


def test_tokens_are_stored_hashed_and_authenticate(storage: Storage) -> None:
    made = create_token(storage, name="12345热线", unit="助商稳企办", role="office", now=NOW)
    assert made.token.startswith("hh_") and made.token not in repr(storage.tokens())
    [record] = storage.tokens()
    assert record.digest == digest(made.token) and record.created_at == NOW
    assert storage.token(record.token_id) == record
    assert authenticate(storage, made.token, NOW) == Principal(
        "12345热线", "助商稳企办", "office", record.token_id
    )
    assert authenticate(storage, made.token[:-1] + "x", NOW) is None
    assert authenticate(storage, "hh_" + "0" * 12 + "_" + "a" * 43, NOW) is None
    assert storage.revoke_token(record.token_id, NOW) is True
    assert storage.revoke_token(record.token_id, NOW) is False
    assert storage.revoke_token("nosuchtoken0", NOW) is False
    assert authenticate(storage, made.token, NOW) is None
    assert token_state(storage.tokens()[0], NOW) == "revoked"


def test_an_expired_token_no_longer_authenticates(storage: Storage) -> None:
    later = NOW + dt.timedelta(days=1)
    made = create_token(storage, name="n", unit="人社局", role="unit", now=NOW, expires_at=later)
    assert authenticate(storage, made.token, later - dt.timedelta(seconds=1)) is not None
    assert authenticate(storage, made.token, later) is None
    assert token_state(made.record, later) == "expired"


@pytest.mark.parametrize(
    ("name", "role", "expires"),
    [("", "office", None), ("x", "admin", None), ("x", "unit", NOW - dt.timedelta(days=1))],
)
def test_bad_token_requests_are_refused(name: str, role: str, expires: dt.datetime | None) -> None:
    with pytest.raises(InputError):
        create_token(
            MemoryStorage(), name=name, unit="人社局", role=role, now=NOW, expires_at=expires
        )


def test_a_backend_without_tokens_says_so(tmp_path: Path) -> None:
    from kernel.storage.jsonl import JsonlStorage

    store = JsonlStorage(f"jsonl:{tmp_path / 'l.jsonl'}")
    with pytest.raises(TokensUnsupported):
        store.tokens()


def test_a_version_1_sqlite_ledger_is_migrated_and_keeps_its_events(tmp_path: Path) -> None:
    from kernel.testing.storage_contract import make_event

    path = tmp_path / "old.db"
    with SqliteStorage(str(path)) as store, store.transaction() as tx:
        tx.insert(make_event("E-1"))
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE api_tokens")
    raw.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    with SqliteStorage(str(path)) as store:
        assert [e.event_id for e in store.events()] == ["E-1"]
        create_token(store, name="n", unit="助商稳企办", role="office", now=NOW)
        assert len(store.tokens()) == 1
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        SCHEMA_VERSION,
    )
    raw.close()


def test_token_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "fresh.db")
    assert main(["token", "list", "--db", db]) == 2  # read commands never create a ledger
    assert "不存在" in capsys.readouterr().err
    assert main(["token", "create", "--role", "office", "--db", db]) == 0  # but create does
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("hh_") and "新建台账" in err and "只显示这一次" in err
    assert (
        main(
            [
                "token",
                "create",
                "--role",
                "unit",
                "--unit",
                "人社局",
                "--name",
                "OA",
                "--expires",
                "2099-12-31",
                "--db",
                db,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["token", "create", "--role", "unit", "--db", db]) == 2
    assert "--unit" in capsys.readouterr().err
    assert main(["token", "create", "--role", "unit", "--unit", "人设局", "--db", db]) == 2
    assert "人社局" in capsys.readouterr().err  # did you mean
    assert main(["token", "list", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "OA" in listing and "2100-01-01" in listing and token not in listing
    token_id = token.split("_")[1]
    assert main(["token", "revoke", token_id, "--db", db]) == 0
    assert main(["token", "revoke", token_id, "--db", db]) == 2
    assert main(["token", "revoke", "000000000000", "--db", db]) == 2
    capsys.readouterr()
    assert main(["token", "list", "--db", db]) == 0
    assert "已吊销" in capsys.readouterr().out


def test_serve_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "70000"])
    assert exc.value.code == 2
    assert "端口号" in capsys.readouterr().err
