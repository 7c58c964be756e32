"""Shared fixtures: the default rule set, a compiled kernel, and a ticket builder."""

from __future__ import annotations

import copy
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel import Kernel, load_rules
from kernel.rules.model import RuleSet
from kernel.storage.contract import Storage
from kernel.storage.sqlite import SqliteStorage

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"

BASE_TICKET: dict[str, Any] = {
    "ticket_id": "T-0001",
    "collected_on": "2026-03-02",
    "category": "用工",
    "summary": "招工难",
    "enterprise": {
        "credit_code": "91610700MA6YT2A0X4",
        "name": "汉中市汉运物流有限公司",
        "territory": "汉台区",
        "lead_unit": "商务局",
        "lead_leader": "张明",
    },
    "assessment": {"authority_level": "本单位"},
}


def make_ticket(**changes: Any) -> dict[str, Any]:
    """A valid ticket with changes; nested keys use ``enterprise__name=...`` style."""
    ticket = copy.deepcopy(BASE_TICKET)
    for key, value in changes.items():
        node = ticket
        *parents, leaf = key.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return ticket


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_rules(RULES)


@pytest.fixture(scope="session")
def kernel(ruleset: RuleSet) -> Iterator[Kernel]:
    k = Kernel(ruleset)
    yield k
    k.close()


@pytest.fixture
def ticket() -> Callable[..., dict[str, Any]]:
    return make_ticket


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the default rules."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


#: the PostgreSQL server of the tests that need one (skipped when it does not answer)
PG_DSN = os.environ.get("HUHANG_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def pg_schema_url() -> Iterator[str]:
    """A URL of a new schema on ``$HUHANG_PG_DSN``, dropped afterwards (skips the test when no
    server answers)."""
    psycopg = pytest.importorskip("psycopg")
    libpq = PG_DSN.split("?", 1)[0]
    try:
        psycopg.connect(libpq, connect_timeout=3).close()
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL server at $HUHANG_PG_DSN")
    schema = f"huhang_test_{secrets.token_hex(6)}"
    yield f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}schema={schema}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def rm_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """An empty store of each backend with a read model: SQLite, and PostgreSQL in a schema of
    its own."""
    if request.param == "sqlite":
        store: Storage = SqliteStorage(str(tmp_path / "ledger.db"))
        yield store
        store.close()
        return
    from kernel.storage.postgres import PostgresStorage

    for url in pg_schema_url():
        store = PostgresStorage(url)
        yield store
        store.close()
