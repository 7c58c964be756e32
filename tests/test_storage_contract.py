"""The storage contract against the built-in backends (memory, SQLite, JSON lines); their URLs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.errors import InputError
from kernel.plugins import get_plugin_manager
from kernel.storage import jsonl as storage_jsonl
from kernel.storage import sqlite as storage_sqlite
from kernel.storage.contract import Storage
from kernel.storage.jsonl import JsonlStorage
from kernel.storage.memory import MemoryStorage
from kernel.storage.sqlite import SqliteStorage
from kernel.testing.storage_contract import StorageContract


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        with MemoryStorage() as store:
            yield store


class TestSqliteStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        with SqliteStorage(f"sqlite://{tmp_path / 'ledger.db'}") as store:
            yield store

    def reopen(self, storage: Storage) -> Storage:
        storage.close()
        return SqliteStorage(storage.url)


class TestJsonlStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        with JsonlStorage(f"jsonl://{tmp_path / 'ledger.jsonl'}") as store:
            yield store

    def reopen(self, storage: Storage) -> Storage:
        storage.close()
        return JsonlStorage(storage.url)


# ---------------------------------------------------------------------- URLs and registration


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for url, file in (
        ("sqlite:relative.db", tmp_path / "relative.db"),
        (f"sqlite://{tmp_path / 'absolute.db'}", tmp_path / "absolute.db"),
        (str(tmp_path / "bare.db"), tmp_path / "bare.db"),
    ):
        with SqliteStorage(url) as store:
            assert store.url == url
            assert store.path.resolve() == file
        assert file.is_file()
    for url, file in (
        ("jsonl:relative.jsonl", tmp_path / "relative.jsonl"),
        (f"jsonl://{tmp_path / 'absolute.jsonl'}", tmp_path / "absolute.jsonl"),
        ("bare.ndjson", tmp_path / "bare.ndjson"),
    ):
        with JsonlStorage(url) as jsonl:
            assert jsonl.path.resolve() == file
        assert file.is_file()
        assert Path(f"{file}.outbox.jsonl").is_file()


@pytest.mark.parametrize("url", ["sqlite:", "sqlite::memory:", "jsonl://", "jsonl:no/such/dir/x"])
def test_bad_urls_are_input_errors(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    factory = JsonlStorage if url.startswith("jsonl") else SqliteStorage
    with pytest.raises(InputError):
        factory(url)


def test_backends_register_through_the_hook(tmp_path: Path) -> None:
    host = get_plugin_manager(
        block=["storage_sqlite", "storage_jsonl"],  # in case DEFAULT_PLUGINS lists them
        use_entry_points=False,
        local_dir=tmp_path / "no-plugins",
        extra=[("sqlite_under_test", storage_sqlite), ("jsonl_under_test", storage_jsonl)],
    )
    cases = {
        str(tmp_path / "a.db"): SqliteStorage,
        f"sqlite://{tmp_path / 'b.db'}": SqliteStorage,
        str(tmp_path / "c.jsonl"): JsonlStorage,
        f"jsonl://{tmp_path / 'd.log'}": JsonlStorage,
    }
    for url, cls in cases.items():
        with host.open_storage(url) as store:
            assert type(store) is cls
