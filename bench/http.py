"""Benchmark 6: the HTTP API (``huhang serve``) beside the same work done in process.

* **Ingest**: a synthetic year's events (bench/ledgergen.py) posted in batches of 500 to a real
  ``huhang serve`` process on a fresh SQLite ledger, in events/s, beside ``ingest_events`` (what
  ``huhang ingest --grade`` runs) on another fresh ledger; both grade every report.
* **Latency** of ``POST /api/v1/explain`` and ``GET /api/v1/tickets/{id}`` at a fixed request
  rate (one request every 1/RATE s from one client, so a slow answer does not slow the
  schedule), p50 and p99, beside the same calls in process (the routes' own ``explain`` and
  ``ticket_detail`` functions). Wall clock throughout: that is what a client waits for.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RULES, Report, Row, Settings
from bench.startup import huhang
from kernel.testing.serve import free_port, wait_until_serving

SECTION = "http"
BATCH = 500
#: requests per second of the latency runs
RATE = 20


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _token(db: Path) -> str:
    from kernel.service.context import open_service
    from kernel.service.tokens import create_token

    context = open_service(db=str(db), rules=RULES, create=True)
    try:
        now = dt.datetime.now(dt.UTC)
        return create_token(
            context.ledger.storage, name="bench", unit="助商稳企办", role="office", now=now
        ).token
    finally:
        context.close()


def _serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, HUHANG_RULES=str(RULES))
    process = subprocess.Popen(
        [*huhang(), "serve", "--db", str(db), "--port", str(port)],
        cwd=db.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until_serving(process, port, timeout=60)
    return process


def _in_process_ingest(events: list[dict[str, Any]], folder: Path) -> float:
    from kernel.evaluation.kernel import Kernel
    from kernel.ledger.ingest import ingest_events
    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules
    from kernel.storage.sqlite import SqliteStorage

    ruleset = load_rules(RULES)
    with SqliteStorage(str(folder / "inprocess.db")) as storage, Kernel(ruleset) as kernel:
        ledger = Ledger(storage, ruleset.reference)
        started = time.perf_counter()
        report = ingest_events(ledger, ((e, None, ()) for e in events), kernel=kernel)
        seconds = time.perf_counter() - started
    if report.rejected:
        raise RuntimeError(
            f"in-process ingest rejected {len(report.rejected)}: {report.rejected[:2]}"
        )
    return seconds


def _fixed_rate(action: Callable[[], object], count: int) -> list[float]:
    """Latencies (ms) of ``count`` calls started every 1/RATE s (late calls start at once)."""
    latencies = []
    start = time.perf_counter()
    for i in range(count):
        due = start + i / RATE
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        began = time.perf_counter()
        action()
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


def _latency_rows(
    report: Report, what: str, http: list[float], local: list[float], note: str
) -> None:
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        h, p = _percentile(http, q), _percentile(local, q)
        report.add(
            Row(SECTION, f"{what} over HTTP, {label} at {RATE} req/s", h, "ms", runs=len(http))
        )
        report.add(
            Row(
                SECTION,
                f"{what} in process, {label}",
                p,
                "ms",
                runs=len(local),
                note=f"HTTP/in-process {h / p:.1f}×" if p > 0 else note,
            )
        )


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Ingest throughput and read latency over HTTP, each beside the in-process figure."""
    import httpx

    from bench.ledgergen import generate
    from bench.tickets import make_tickets
    from kernel.rules.load import load_rules
    from kernel.service.app import create_app  # noqa: F401 - fails early without fastapi
    from kernel.service.context import open_service
    from kernel.service.routes_tickets import explain, ticket_detail

    ruleset = load_rules(RULES)
    count = 5_000 if settings.quick else 20_000
    events = generate(ruleset, count)
    calls = 100 if settings.quick else 400
    with tempfile.TemporaryDirectory(prefix="huhang-bench-http-") as name:
        folder = Path(name)
        local_seconds = _in_process_ingest(events, folder)
        log(f"http: in-process ingest of {count:,} events in {local_seconds:.1f} s")
        db = folder / "served.db"
        token = _token(db)
        port = free_port()
        server = _serve(db, port)
        try:
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120
            ) as client:
                started = time.perf_counter()
                for i in range(0, len(events), BATCH):
                    answer = client.post("/api/v1/events", json=events[i : i + BATCH])
                    answer.raise_for_status()
                    if answer.json()["rejected"]:
                        raise RuntimeError(f"HTTP ingest rejected: {answer.json()['results'][:2]}")
                http_seconds = time.perf_counter() - started
                log(f"http: HTTP ingest of {count:,} events in {http_seconds:.1f} s")
                tickets = sorted({e["ticket_id"] for e in events if e.get("ticket_id")})
                picks = [tickets[(i * 7919) % len(tickets)] for i in range(calls)]
                ticket = make_tickets(ruleset.reference, 1)[0]
                client.get(f"/api/v1/tickets/{picks[0]}").raise_for_status()  # warm the projection
                explain_http = _fixed_rate(
                    lambda: client.post("/api/v1/explain", json=ticket).raise_for_status(), calls
                )
                reads = iter(picks)
                read_http = _fixed_rate(
                    lambda: client.get(f"/api/v1/tickets/{next(reads)}").raise_for_status(), calls
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
        context = open_service(db=str(db), rules=RULES)
        try:
            from kernel.service.access import Principal

            office = Principal("bench", "助商稳企办", "office")
            as_of = context.today()
            explain_local = _fixed_rate(lambda: explain(context, ticket), calls)
            reads = iter(picks)
            ticket_detail(context, office, picks[0], as_of)
            read_local = _fixed_rate(
                lambda: ticket_detail(context, office, next(reads), as_of), calls
            )
        finally:
            context.close()
    http_rate, local_rate = count / http_seconds, count / local_seconds
    report.add(
        Row(
            SECTION,
            f"ingest over HTTP, batches of {BATCH}, graded",
            http_rate,
            "events/s",
            note=f"{count:,} events, one client",
        )
    )
    report.add(
        Row(
            SECTION,
            "ingest in process (ingest_events, graded)",
            local_rate,
            "events/s",
            note=f"HTTP/in-process {http_rate / local_rate:.2f}×",
        )
    )
    _latency_rows(report, "explain", explain_http, explain_local, "")
    _latency_rows(report, "ticket read", read_http, read_local, "")
    report.notes.append(
        f"http: latency medians of {calls} requests at {RATE} req/s; "
        f"explain HTTP mean {statistics.mean(explain_http):.1f} ms"
    )
