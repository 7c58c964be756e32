"""Durability of the file backends with real processes: kill -9, concurrent writers, versions."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.storage.contract import Storage
from kernel.storage.jsonl import JsonlStorage
from kernel.storage.sqlite import SCHEMA_VERSION, SqliteStorage
from kernel.testing.storage_contract import append, make_event

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = {"sqlite": (SqliteStorage, "ledger.db"), "jsonl": (JsonlStorage, "ledger.jsonl")}

# The writer: one event per transaction (read-check-insert, as the ledger does), then prints
# the acknowledged id. With a "go" file it waits for it first, so two writers start together.
WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
from kernel.storage.jsonl import JsonlStorage
from kernel.storage.sqlite import SqliteStorage
from kernel.ledger.events import Event
import datetime as dt

backend, url, prefix, start, count, go = sys.argv[1:7]
store = {{"sqlite": SqliteStorage, "jsonl": JsonlStorage}}[backend](url)
if go != "-":
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
for i in range(int(start), int(start) + int(count)):
    event_id = f"{{prefix}}{{i:06d}}"
    event = Event(
        event_id=event_id, type="ticket.progress_reported", date=dt.date(2026, 3, 2),
        actor="商务局", ticket_id=f"T-{{i % 50}}", enterprise="91610700MA6YT2A0X4",
        payload={{"i": i, "进展": "已协调人社局组织专场招聘会" * 3}},
    )
    with store.transaction() as tx:
        if tx.get(event_id) is None:
            tx.insert(event)
    print(event_id, flush=True)
store.close()
"""


@pytest.fixture
def writer(tmp_path: Path) -> Path:
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT)), encoding="utf-8")
    return script


def start_writer(
    script: Path, backend: str, url: str, prefix: str, start: int, count: int, go: str = "-"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), backend, url, prefix, str(start), str(count), go],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def open_store(backend: str, url: str) -> Storage:
    cls, _ = BACKENDS[backend]
    return cls(url)


def assert_prefix(store: Storage, prefix: str, acknowledged: list[str]) -> int:
    """The store holds ids ``prefix000000 …`` in order, with seq 1..n, covering every ack."""
    stored = list(store.events())
    n = len(stored)
    assert [e.seq for e in stored] == list(range(1, n + 1))
    assert [e.event_id for e in stored] == [f"{prefix}{i:06d}" for i in range(n)]
    assert all(e.payload["i"] == i for i, e in enumerate(stored))
    assert n >= len(acknowledged)
    assert acknowledged == [e.event_id for e in stored[: len(acknowledged)]]
    assert store.count() == n
    return n


# ---------------------------------------------------------------------- kill -9


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_kill_9_loses_nothing_acknowledged(backend: str, tmp_path: Path, writer: Path) -> None:
    url = str(tmp_path / BACKENDS[backend][1])
    child = start_writer(writer, backend, url, "K-", 0, 20_000)
    assert child.stdout is not None
    acknowledged: list[str] = []
    deadline = time.monotonic() + 30
    while len(acknowledged) < 3_000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    os.kill(child.pid, signal.SIGKILL)
    rest, errors = child.communicate()
    acknowledged += [line for line in rest.split("\n")[:-1]]  # a cut-off last line is no ack
    assert child.returncode == -signal.SIGKILL, errors
    assert len(acknowledged) >= 3_000, errors

    if backend == "sqlite":
        raw = sqlite3.connect(url)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for seq, body in raw.execute("SELECT seq, body FROM events ORDER BY seq"):
            assert Event.from_dict(json.loads(body), seq=seq).seq == seq  # no partial event
        raw.close()
    else:
        lines = Path(url).read_bytes().split(b"\n")
        for line in lines[:-1]:
            json.loads(line)  # every complete line is a whole event
    with open_store(backend, url) as store:
        n = assert_prefix(store, "K-", acknowledged)
        assert append(store, make_event("after-crash")) == [n + 1]
    if backend == "jsonl":  # the next writer cut off any torn tail: every line parses now
        lines = Path(url).read_bytes().split(b"\n")
        assert lines[-1] == b""
        assert [json.loads(line)["event_id"] for line in lines[-2:-1]] == ["after-crash"]
        assert len(lines) - 1 == n + 1


TORN = """
import os, sys
sys.path.insert(0, {root!r})
from kernel.storage.jsonl import JsonlStorage
from kernel.testing.storage_contract import make_event

store = JsonlStorage(sys.argv[1])
for i in range(5):
    with store.transaction() as tx:
        tx.insert(make_event(f"ok-{{i}}"))
real_write = os.write

def torn_write(fd, data):
    data = bytes(data)
    if b"torn-" in data:  # die half-way through writing a three-event transaction
        real_write(fd, data[: len(data) // 2])
        os._exit(3)
    return real_write(fd, data)

os.write = torn_write
with store.transaction() as tx:
    for i in range(3):
        tx.insert(make_event(f"torn-{{i}}", payload={{"text": "半途而废" * 50}}))
"""


def test_jsonl_torn_multi_event_commit_is_undone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.jsonl"
    script = tmp_path / "torn.py"
    script.write_text(TORN.format(root=str(ROOT)), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert b"torn-0" in path.read_bytes()  # the first event of the torn commit reached the file
    with JsonlStorage(str(path)) as store:
        assert [e.event_id for e in store.events()] == [f"ok-{i}" for i in range(5)]
        with caplog.at_level(logging.WARNING, logger="huhang.storage.jsonl"):
            assert append(store, make_event("next")) == [6]
        assert "未写完的提交" in caplog.text
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [
        *(f"ok-{i}" for i in range(5)),
        "next",
    ]


def test_jsonl_truncated_last_line_is_ignored_with_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.jsonl"
    with JsonlStorage(str(path)) as store:
        append(store, make_event("E-1"), make_event("E-2"))
    whole = make_event("E-3").to_json().encode()
    with path.open("ab") as f:
        f.write(whole[: len(whole) // 2])
    with caplog.at_level(logging.WARNING, logger="huhang.storage.jsonl"):
        store = JsonlStorage(str(path))
    with store:
        assert "不完整" in caplog.text
        assert [e.event_id for e in store.events()] == ["E-1", "E-2"]
        assert append(store, make_event("E-3")) == [3]
    assert [json.loads(line)["event_id"] for line in path.read_text().splitlines()] == [
        "E-1",
        "E-2",
        "E-3",
    ]


def test_jsonl_hand_written_file_without_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "import.ndjson"
    path.write_text(
        make_event("E-1").to_json() + "\n" + make_event("E-2").to_json(), encoding="utf-8"
    )
    with JsonlStorage(f"jsonl:{path}") as store:
        assert [e.event_id for e in store.events()] == ["E-1", "E-2"]
        assert append(store, make_event("E-3")) == [3]
        assert [e.seq for e in store.events()] == [1, 2, 3]
    assert len(path.read_text().splitlines()) == 3


def test_jsonl_bad_line_in_the_middle_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(
        make_event("E-1").to_json() + "\n{oops\n" + make_event("E-3").to_json() + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="不是 JSON 对象"):
        JsonlStorage(str(path))
    path.write_text(make_event("E-1").to_json() + "\n" + make_event("E-1").to_json() + "\n")
    with pytest.raises(InputError, match="第 2 行的事件编号 E-1 与第 1 行重复"):
        JsonlStorage(str(path))


# ---------------------------------------------------------------------- concurrent writers


def run_together(
    writer: Path, backend: str, url: str, jobs: list[tuple[str, int, int]], go: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Start writers, release them at once when all are ready, wait for all."""
    open_store(backend, url).close()  # create the store first (as `huhang init` would)
    children = [start_writer(writer, backend, url, p, s, c, str(go)) for p, s, c in jobs]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
    go.touch()
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_two_processes_append_at_once(backend: str, tmp_path: Path, writer: Path) -> None:
    url = str(tmp_path / BACKENDS[backend][1])
    results = run_together(
        writer, backend, url, [("A-", 0, 2_000), ("B-", 0, 2_000)], tmp_path / "go"
    )
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
        assert len(result.stdout.split()) == 2_000  # every id acknowledged
    with open_store(backend, url) as store:
        stored = list(store.events())
        assert store.count() == 4_000
        assert [e.seq for e in stored] == list(range(1, 4_001))
        assert {e.event_id for e in stored} == {f"{p}-{i:06d}" for p in "AB" for i in range(2_000)}
        # fairness: neither writer waits for the other to finish (plain SQLite locking would
        # let the first one run to the end, switching once or twice)
        switches = sum(a.event_id[0] != b.event_id[0] for a, b in itertools.pairwise(stored))
        assert switches >= 5
        for p in "AB":  # each writer's events keep their order
            mine = [e.payload["i"] for e in stored if e.event_id.startswith(p)]
            assert mine == list(range(2_000))


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "jsonl"])
def test_two_processes_submit_the_same_ids(backend: str, tmp_path: Path, writer: Path) -> None:
    url = str(tmp_path / BACKENDS[backend][1])
    results = run_together(writer, backend, url, [("S-", 0, 500), ("S-", 0, 500)], tmp_path / "go")
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "locked" not in result.stderr
    with open_store(backend, url) as store:
        assert_prefix(store, "S-", [f"S-{i:06d}" for i in range(500)])
        assert store.count() == 500


# ---------------------------------------------------------------------- schema versions


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with SqliteStorage(str(path)) as store:
        append(store, make_event("E-1"))
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(InputError) as caught:
        SqliteStorage(f"sqlite://{path}")
    message = str(caught.value)
    assert f"结构版本为 {SCHEMA_VERSION + 1}" in message
    assert f"只支持到版本 {SCHEMA_VERSION}" in message
    assert str(path) in message


def test_sqlite_refuses_files_that_are_not_ledgers(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE customers (name TEXT)")
    raw.close()
    with pytest.raises(InputError, match="不是护航账本数据库"):
        SqliteStorage(str(other))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match="不是可用的 SQLite 账本数据库"):
        SqliteStorage(str(junk))
    with pytest.raises(InputError, match="不存在"):
        SqliteStorage(str(tmp_path / "missing" / "ledger.db"))


def test_sqlite_file_settings(tmp_path: Path) -> None:
    with SqliteStorage(str(tmp_path / "ledger.db")) as store:
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 30_000
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            SCHEMA_VERSION,
        )
