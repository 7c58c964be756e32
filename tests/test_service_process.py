"""A real ``huhang serve`` process: killed with SIGKILL under load, restarted, everything resent.

Twenty clients send 10,000 events in batches, with deliberate duplicates (each batch repeats
events of an earlier one) and retries; the server is killed midway; after a restart every batch
is sent again. Every event must then be stored exactly once, with its content. The test runs on
the embedded SQLite ledger and on PostgreSQL (``$HUHANG_PG_DSN``, in a schema of its own; skipped
without a server unless ``HUHANG_PG_REQUIRED`` is set, as in tests/test_postgres.py).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kernel.testing.serve import free_port, wait_until_serving
from tests.service_support import CODE_B, CODE_C, EVENTS, NOW

CLIENTS = 20
EVENTS_TOTAL = 10_000
BATCH = 50
#: the server is killed once this many events were acknowledged
KILL_AFTER = EVENTS_TOTAL // 3
PG_DSN = os.environ.get("HUHANG_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_REQUIRED = bool(os.environ.get("HUHANG_PG_REQUIRED"))


def _start(db: str, port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kernel", "serve", "--db", db, "--port", str(port), *extra],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=log.parent,
    )
    wait_until_serving(
        process, port, timeout=30, output=lambda: log.read_text(encoding="utf-8", errors="replace")
    )
    return process


def _postgres_url() -> str:
    """A new schema's URL on the test server, or skip (fail when PostgreSQL is required)."""
    from kernel.storage.postgres import split_url

    problem = ""
    try:
        import psycopg

        with psycopg.connect(split_url(PG_DSN)[0], connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except ImportError:
        problem = "psycopg is not installed (pip install 'huhang[postgres]')"
    except Exception as exc:
        problem = f"no PostgreSQL server answers at HUHANG_PG_DSN ({type(exc).__name__})"
    if problem:
        if PG_REQUIRED:
            pytest.fail(f"{problem} (HUHANG_PG_REQUIRED is set)", pytrace=False)
        pytest.skip(problem)
    schema = f"huhang_test_{secrets.token_hex(6)}"
    return f"{PG_DSN}{'&' if '?' in PG_DSN else '?'}schema={schema}"


def _drop_schema(url: str) -> None:
    import psycopg
    from psycopg import sql

    from kernel.storage.postgres import split_url

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(split_url(PG_DSN)[0], autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass
class Served:
    """A ledger for ``huhang serve --db``: its URL, an office token and a reader of its events."""

    db: str
    token: str
    stored: Callable[[], list[Any]]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    from kernel.plugins import get_plugin_manager
    from kernel.service.context import open_service
    from kernel.service.tokens import create_token

    db = str(tmp_path / "ledger.db") if request.param == "sqlite" else _postgres_url()
    context = open_service(db=db, create=True)
    token = create_token(
        context.ledger.storage, name="load", unit="助商稳企办", role="office", now=NOW
    ).token
    context.close()

    def stored() -> list[Any]:
        storage, _ = get_plugin_manager().open_store(db, create=False)
        try:
            return list(storage.events())
        finally:
            storage.close()

    try:
        yield Served(db, token, stored)
    finally:
        if request.param == "postgresql":
            _drop_schema(db)


def _contacts() -> list[dict[str, Any]]:
    registered = [e for e in EVENTS if e["type"] == "enterprise.registered"]
    out = list(registered)
    for i in range(EVENTS_TOTAL - len(registered)):
        code, unit = (CODE_B, "人社局") if i % 2 else (CODE_C, "发改委")
        out.append(
            {
                "event_id": f"LOAD-{i:05d}",
                "type": "contact.recorded",
                "date": f"2026-11-{1 + i % 28:02d}",
                "actor": unit,
                "enterprise": code,
                "payload": {"by": "liaison_cadre", "person": "赵敏", "method": "电话"},
                "note": f"第 {i} 次联系",
            }
        )
    return out


def _send_all(
    url: str,
    token: str,
    batches: list[list[dict[str, Any]]],
    acknowledged: list[int],
    stop_on_error: bool,
) -> list[str]:
    """Send every batch from CLIENTS threads; returns the problems seen (statuses, rejections)."""
    problems: list[str] = []
    lock = threading.Lock()
    queue = list(enumerate(batches))

    def client() -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    index, batch = queue.pop(0)
                body = batch + batches[index // 2][:3]  # duplicates of an earlier batch
                for attempt in range(3):
                    try:
                        answer = http.post("/api/v1/events", json=body)
                    except httpx.HTTPError:
                        if stop_on_error:
                            return
                        time.sleep(0.2 * (attempt + 1))
                        continue
                    if answer.status_code != 200:
                        with lock:
                            problems.append(f"{answer.status_code} {answer.text[:200]}")
                        return
                    results = answer.json()["results"]
                    rejected = [r for r in results if r["status"] == "rejected"]
                    with lock:
                        problems.extend(json.dumps(r, ensure_ascii=False) for r in rejected)
                        acknowledged[0] += len(batch)
                    break

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return problems


def test_killed_server_stores_every_resent_event_exactly_once(
    ledger: Served, tmp_path: Path
) -> None:
    db, token = ledger.db, ledger.token
    events = _contacts()
    batches = [events[:2]] + [events[i : i + BATCH] for i in range(2, len(events), BATCH)]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = _start(db, port, log)
    acknowledged = [0]
    try:
        assert not _send_all(url, token, batches[:1], acknowledged, stop_on_error=False)

        def killer() -> None:
            while acknowledged[0] < KILL_AFTER and server.poll() is None:
                time.sleep(0.005)
            os.kill(server.pid, signal.SIGKILL)

        watcher = threading.Thread(target=killer)
        watcher.start()
        _send_all(url, token, batches[1:], acknowledged, stop_on_error=True)
        watcher.join()
        assert server.wait(timeout=10) == -signal.SIGKILL
        assert KILL_AFTER <= acknowledged[0] < len(events), "the kill came too late"
        server = _start(db, port, log)
        again = _send_all(url, token, batches, [0], stop_on_error=False)
        assert again == [], again[:5]
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    stored = ledger.stored()
    ids = [e.event_id for e in stored]
    assert len(ids) == len(set(ids)) == len(events)
    sent = {e["event_id"]: e for e in events}
    for event in stored:
        expected = dict(sent[event.event_id], recorded_by="load（助商稳企办，办公室）")
        assert json.loads(event.to_json()) == json.loads(json.dumps(expected, sort_keys=True))


def test_several_workers_share_the_ledger(ledger: Served, tmp_path: Path) -> None:
    """``--workers 2``: each worker opens the ledger from the environment ``serve`` leaves."""
    db, token = ledger.db, ledger.token
    port = free_port()
    server = _start(db, port, tmp_path / "workers.log", "--workers", "2")
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
        ) as http:
            stored = http.post("/api/v1/events", json=EVENTS, timeout=60).json()
            assert stored["accepted"] == len(EVENTS)
            for _ in range(8):  # whichever worker answers has every event
                listed = http.get("/api/v1/tickets", timeout=30).json()
                assert [t["ticket_id"] for t in listed["items"]] == ["HZ-2026-0002", "HZ-2026-0003"]
        # /metrics from whichever worker answers counts every worker (a new connection each time)
        accepted = f'huhang_events_total{{result="accepted",reason=""}} {len(EVENTS)}\n'
        listed_8 = 'route="/api/v1/tickets",status="200"} 8\n'
        deadline, streak = time.monotonic() + 15, 0
        while streak < 6:
            assert time.monotonic() < deadline, "the workers' metrics were not added up"
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            streak = streak + 1 if accepted in text and listed_8 in text else 0
            time.sleep(0.2)
        folder = _metrics_folder(server.pid)
        assert len(list(folder.glob("worker-*.json"))) == 2  # each worker writes its counters
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    assert not folder.exists()  # one run's counters: gone when serve ends


def _metrics_folder(pid: int) -> Path:
    """The metrics folder ``huhang serve`` gave its workers (read from a worker's environment)."""
    from kernel.service.metrics import ENV_DIR

    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        for entry in environ:
            if entry.startswith(f"{ENV_DIR}=".encode()):
                return Path(entry.split(b"=", 1)[1].decode())
    raise AssertionError(f"no worker of huhang serve has {ENV_DIR}")


def test_waiting_for_a_server_that_exits_or_never_answers_fails_and_says_why() -> None:
    from kernel.testing.serve import ServeFailed

    port = free_port()
    exits = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ServeFailed, match="exited with code 3:\nno database"):
        wait_until_serving(exits, port, timeout=30, output=lambda: "no database")
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = time.monotonic()
    with pytest.raises(ServeFailed, match=r"did not answer within 0\.5 s$"):
        wait_until_serving(silent, port, timeout=0.5)
    assert silent.poll() is not None and time.monotonic() - started < 10  # killed
