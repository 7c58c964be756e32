"""The read model (issue 16): ingest, rebuild, the indexed sweep, a 台账 page, the assessment.

On copies of the cached synthetic ledgers (``bench/ledgergen.py``; 10⁵ and 10⁶ events, 10⁵
only with ``--quick``):

* ``huhang ledger rebuild``: the read model from a full replay (the cache is written around
  the ledger, so its read model starts empty);
* the sweep as of 30 December (every ticket is read: nothing is marked quiet yet), then as of
  31 December (the steady state: only the open tickets) -- the target is for the latter;
* one page of 50 filtered 台账 rows (``huhang ledger --state 办理中 --limit 50``): the query,
  the page's ticket states and their clocks;
* one ticket's detail (state and timeline);
* the year's assessment (``huhang report assessment --year``, its own process: CPU time, wall
  time and peak RSS from ``wait4``) from the facts cache (:mod:`kernel.assessment.facts`): cold
  (every ticket's and enterprise's facts computed and cached), a day later (the generated
  year's next ~2,000 events submitted through ``Ledger.submit_many``: the tickets and
  enterprises they touch computed again, the others read) -- the target is for that one -- and
  again with nothing new.

Timings of one process use the suite's clock (process CPU time unless ``--wall``); ingest is
timed by the wall clock (it waits for fsync and, on PostgreSQL, for the server and the other
writers). Ingest is measured on fresh ledgers: ``Ledger.submit_many`` in batches of 500 (what
``huhang ingest`` does) on SQLite, and on PostgreSQL with 1, 2 and 4 processes each writing
the events of its own enterprises (``HUHANG_PG_DSN``; skipped without it).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import CLOCK, RULES, YEAR, Report, clock_name, load, timed
from bench.ledgergen import build_database, following, generate

SECTION = "readmodel"
PAGE_RUNS = 20
#: samples of the unit's list (its p95 is reported)
LIST_RUNS = 40
INGEST_EVENTS = 50_000
PG_EVENTS = 20_000
BATCH = 500
#: events appended before the "a day later" assessment (the 10⁶ ledger's year has about 4,000
#: events a working day)
NEXT_DAY_EVENTS = 2_000


def _ruleset() -> Any:
    from kernel.rules.load import load_rules

    return load_rules(RULES)


def _copy(path: Path, folder: Path) -> Path:
    target = folder / path.name
    shutil.copyfile(path, target)
    return target


def _ms(action: Callable[[], object], runs: int) -> list[float]:
    return [timed(action) * 1000 for _ in range(runs)]


def _now() -> float:
    return CLOCK["now"]()


def measure_ledger(size: int, report: Report, log: Callable[[str], None]) -> None:
    """Rebuild, sweeps, a 台账 page, a ticket and the assessment on a copy of one ledger."""
    from kernel.assessment.ledger_table import ledger_table
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.sweep import sweep
    from kernel.ledger.ledger import Ledger
    from kernel.ledger.readmodel import ReadModel, TicketQuery
    from kernel.storage.sqlite import SqliteStorage

    ruleset = _ruleset()
    cached = build_database(ruleset, size, log=log)
    label = f"{size:,} events"
    with tempfile.TemporaryDirectory() as folder:
        path = _copy(cached, Path(folder))
        storage = SqliteStorage(str(path))
        ledger = Ledger(storage, ruleset.reference, notifiers=["file"])
        evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
        try:
            started = _now()
            tickets, _ = ledger.rebuild_read_model()
            rebuilt = _now() - started
            log(f"{label}: read model rebuilt in {rebuilt:.1f} s ({tickets:,} tickets)")
            report.summary(
                SECTION,
                f"ledger rebuild (full replay into the read model), {label}",
                [size / rebuilt],
                "events/s",
                note=f"{tickets:,} tickets; load {load()}",
            )
            started = _now()
            first = sweep(ledger, evaluator, dt.date(YEAR, 12, 30))
            first_s = _now() - started
            log(f"{label}: first sweep {first_s:.1f} s over {first.tickets:,} tickets")
            report.summary(
                SECTION,
                f"first sweep (no ticket marked quiet yet), {label}",
                [first_s],
                "s",
                note=f"{first.tickets:,} tickets read; {first.notices:,} notices; load {load()}",
            )
            started = _now()
            second = sweep(ledger, evaluator, dt.date(YEAR, 12, 31))
            second_s = _now() - started
            log(f"{label}: next day's sweep {second_s:.2f} s over {second.tickets:,} tickets")
            report.summary(
                SECTION,
                f"huhang sweep, next day (open work only), {label}",
                [second_s],
                "s",
                target="< 2 s at 10⁶" if size >= 1_000_000 else "",
                check=(lambda v: v < 2) if size >= 1_000_000 else None,
                note=f"{second.tickets:,} of {tickets:,} tickets read; load {load()}",
            )
            model = ReadModel(ledger)
            as_of = dt.date(YEAR, 12, 31)
            query = TicketQuery(filters={"state": "dispatched"}, offset=100, limit=50)

            def page() -> None:
                found = model.tickets(query)
                states = list(model.states([t.ticket_id for t in found.items]))
                table = ledger_table(states, evaluator, as_of, part="page")
                assert len(table.rows) == len(found.items) == 50, len(table.rows)

            samples = _ms(page, PAGE_RUNS)
            report.summary(
                SECTION,
                f"one 台账 page (50 rows of 办理中, with clocks), {label}",
                samples,
                "ms",
                target="< 50 ms at 10⁶" if size >= 1_000_000 else "",
                check=(lambda v: v < 50) if size >= 1_000_000 else None,
                note=f"of {model.tickets(query).total:,} matching; load {load()}",
            )
            _unit_list(ledger, evaluator, as_of, size, report, log)
            _enterprise_reads(ledger, size, report, log)
            some = model.tickets(TicketQuery(limit=1, offset=tickets // 2)).items[0].ticket_id
            report.summary(
                SECTION,
                f"one ticket's detail (state + timeline), {label}",
                _ms(lambda: model.ticket(some), PAGE_RUNS),
                "ms",
            )
            report.summary(
                SECTION,
                f"per-unit counts (GROUP BY on the read model), {label}",
                _ms(model.unit_counts, 5),
                "ms",
            )
            cold = measure_monthly(path, size, report, log)
            measure_assessment(ledger, path, size, report, log)
            measure_monthly(path, size, report, log, cold)
        finally:
            storage.close()


@dataclass(frozen=True)
class ProcessRun:
    """One command run as its own process."""

    cpu: float  # user + system seconds
    wall: float
    rss_mib: float  # peak resident set size

    @property
    def seconds(self) -> float:
        """The suite's clock: CPU time, or wall time with ``--wall``."""
        return self.wall if clock_name() == "wall time" else self.cpu

    def words(self) -> str:
        return f"CPU {self.cpu:.2f} s, wall {self.wall:.2f} s, peak RSS {self.rss_mib:,.0f} MiB"


#: runs its arguments as a child and prints that child's CPU seconds and peak RSS (KiB). The
#: measured command must be a grandchild of the bench: Linux gives a child the parent's peak RSS
#: at the fork (``ru_maxrss`` survives ``exec``), so a command started straight from this
#: process -- which holds a ledger by then -- would report at least this process's size.
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "print(usage.ru_utime + usage.ru_stime, usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def run_process(args: list[str]) -> ProcessRun:
    """Run ``python -m kernel ARGS`` (output discarded); its CPU time, wall time and peak RSS
    (``wait4`` of that command alone, started by a small launcher: see :data:`_LAUNCHER`)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "kernel", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            check=False,
        )
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{args} failed: {errors.read().decode(errors='replace')}")
    cpu, maxrss = proc.stdout.split()
    return ProcessRun(float(cpu), wall, int(maxrss) / 1024)


#: the month whose report the bench builds (complete in both ledgers)
MONTH = f"{YEAR}-11"


def measure_monthly(
    path: Path,
    size: int,
    report: Report,
    log: Callable[[str], None],
    cold: ProcessRun | None = None,
) -> ProcessRun:
    """``huhang report monthly`` from the cached parts: cold (``cold`` None: every part
    computed and cached), else a day later (after :func:`measure_assessment` stored the next
    events) and with nothing new."""
    label = f"{size:,} events"
    command = ["report", "monthly", "--month", MONTH, "--db", str(path), "--rules", str(RULES)]
    if cold is None:
        run = run_process(command)
        log(f"{label}: monthly report, cold: {run.words()}")
        report.summary(
            SECTION,
            f"report monthly --month {MONTH}, cold (every ticket's part computed), {label}",
            [run.seconds],
            "s",
            note=f"{run.words()}; load {load()}",
        )
        return run
    for when in (f"a day later ({NEXT_DAY_EVENTS:,} new events)", "nothing new"):
        run = run_process(command)
        log(f"{label}: monthly report, {when}: {run.words()}")
        report.summary(
            SECTION,
            f"report monthly --month {MONTH}, {when}, {label}",
            [run.seconds],
            "s",
            note=f"{run.words()}; cold {cold.seconds:.1f} s, {cold.rss_mib:,.0f} MiB; load {load()}",
        )
    return cold


def measure_assessment(
    ledger: Any, path: Path, size: int, report: Report, log: Callable[[str], None]
) -> None:
    """``huhang report assessment --year`` from the facts cache: cold, a day later, unchanged."""
    label = f"{size:,} events"
    command = ["report", "assessment", "--year", str(YEAR), "--db", str(path)]
    command += ["--rules", str(RULES)]
    large = size >= 1_000_000
    cold = run_process(command)
    log(f"{label}: assessment, cold: {cold.words()}")
    report.summary(
        SECTION,
        f"report assessment --year, cold (every fact computed and cached), {label}",
        [cold.seconds],
        "s",
        note=f"{cold.words()}; load {load()}",
    )
    events = following(_ruleset(), size, NEXT_DAY_EVENTS)
    started = time.perf_counter()
    for start in range(0, len(events), BATCH):
        batch = [(e, None, ()) for e in events[start : start + BATCH]]
        for outcome in ledger.submit_many(batch):
            if isinstance(outcome, Exception):
                raise RuntimeError(f"the ledger rejected a generated event: {outcome}")
    log(f"{label}: {len(events):,} next events stored in {time.perf_counter() - started:.1f} s")
    later = run_process(command)
    log(f"{label}: assessment, a day later: {later.words()}")
    report.summary(
        SECTION,
        f"report assessment --year, a day later ({len(events):,} new events), {label}",
        [later.seconds],
        "s",
        target="< 5 s at 10⁶" if large else "",
        check=(lambda v: v < 5) if large else None,
        note=f"{later.words()}; cold {cold.seconds:.1f} s, {cold.rss_mib:,.0f} MiB; load {load()}",
    )
    report.summary(
        SECTION,
        f"peak RSS of report assessment --year, a day later, {label}",
        [later.rss_mib],
        "MiB",
        target="≤ 500 MiB at 10⁶" if large else "",
        check=(lambda v: v <= 500) if large else None,
        note=f"cold {cold.rss_mib:,.0f} MiB",
    )
    again = run_process(command)
    log(f"{label}: assessment, nothing new: {again.words()}")
    report.summary(
        SECTION,
        f"report assessment --year, nothing new (every fact cached), {label}",
        [again.seconds],
        "s",
        note=f"{again.words()}; load {load()}",
    )


def _unit_list(
    ledger: Any, evaluator: Any, as_of: dt.date, size: int, report: Report, log: Callable[..., None]
) -> None:
    """``GET /api/v1/tickets?q=…&overdue=true`` for the unit with the most tickets, after the
    sweeps (their quiet marks answer "overdue"); at 10⁵ also the list that replays (the
    service's cached projection, filtered and every matching ticket's clocks evaluated)."""
    from types import SimpleNamespace

    from kernel.ledger.readmodel import ReadModel
    from kernel.service.access import Principal
    from kernel.service.routes_tickets import list_from_read_model, list_replayed

    counts = ReadModel(ledger).unit_counts()
    unit = max(counts, key=lambda u: (sum(counts[u].values()), u))
    principal = Principal("bench", unit, "unit")
    context: Any = SimpleNamespace(
        ledger=ledger, evaluator=lambda: evaluator, today=lambda: as_of, projection=None
    )
    first = list_from_read_model(context, principal, {**_NO_FILTERS, "unit": unit}, 1, 1)["items"][
        0
    ]
    filters = {**_NO_FILTERS, "q": str(first["summary"])[:2], "overdue": True, "as_of": as_of}
    answer = list_from_read_model(context, principal, filters, 1, 50)
    label = f"{size:,} events"
    samples = _ms(lambda: list_from_read_model(context, principal, filters, 1, 50), LIST_RUNS)
    p95 = sorted(samples)[round(0.95 * (len(samples) - 1))]
    note = f"p95 {p95:.1f} ms; {unit}, q={filters['q']}: {answer['total']:,} overdue"
    if size <= 100_000:
        projector = ledger.project()
        context.projection = lambda: projector
        old = _ms(lambda: list_replayed(context, principal, filters, 1, 50), 5)
        assert list_replayed(context, principal, filters, 1, 50) == answer
        note += f"; replaying list {statistics.median(old):.0f} ms"
    log(f"{label}: a unit's list with q and overdue {statistics.median(samples):.1f} ms")
    report.summary(
        SECTION,
        f"a unit's ticket list with q and overdue (API, 50 rows), {label}",
        samples,
        "ms",
        note=f"{note}; load {load()}",
    )


def _enterprise_reads(ledger: Any, size: int, report: Report, log: Callable[..., None]) -> None:
    """``GET /api/v1/enterprises?q=…`` for the unit leading the most enterprises, one
    enterprise's page (``/enterprises/{code}``) for the office, and a unit's batch of 100
    events judged on the tickets it names (``known_states``); at 10⁵ also the replaying answers
    (the service's projection, built beforehand as the service kept it), asserted equal."""
    from collections import Counter
    from types import SimpleNamespace

    from kernel.ledger.readmodel import EnterpriseQuery, ReadModel, TicketQuery
    from kernel.service.access import Principal
    from kernel.service.routes_enterprises import (
        detail_replayed,
        enterprise_detail,
        list_from_read_model,
        list_replayed,
    )
    from kernel.service.routes_events import known_states

    model = ReadModel(ledger)
    roster = model.enterprises(EnterpriseQuery(limit=None)).items
    unit, _ = Counter(str(e.get("lead_unit")) for e in roster).most_common(1)[0]
    principal, office = Principal("bench", unit, "unit"), Principal("bench", "助商稳企办", "office")
    mine = model.enterprises(EnterpriseQuery(unit=unit, limit=None)).items
    q = str(mine[len(mine) // 2].get("name"))[:2]
    per_enterprise = model.tickets_per_enterprise()
    busiest = max(roster, key=lambda e: (per_enterprise.get(e.credit_code, 0), e.credit_code))
    tickets = model.ticket_ids(TicketQuery(units=(unit,), limit=100, by_id=True))
    batch = [{"type": "ticket.progress_reported", "ticket_id": t, "actor": unit} for t in tickets]
    context: Any = SimpleNamespace(ledger=ledger, projection=None)
    args = (None, None, q, 1, 50)
    label = f"{size:,} events"
    rows: tuple[tuple[str, Callable[[], object], Callable[[], object] | None], ...] = (
        (
            f"a unit's enterprise roster with q (API, 50 rows), {label}",
            lambda: list_from_read_model(context, principal, *args),
            lambda: list_replayed(context, principal, *args),
        ),
        (
            f"one enterprise's page (四个一, changes, contacts, tickets; API), {label}",
            lambda: enterprise_detail(context, office, busiest.credit_code),
            lambda: detail_replayed(context, office, busiest.credit_code),
        ),
        (
            f"a unit's authority over a batch of {len(batch)} events (API), {label}",
            lambda: known_states(context, principal, batch),
            None,
        ),
    )
    projector = ledger.project() if size <= 100_000 else None
    for title, new, old in rows:
        samples = _ms(new, LIST_RUNS)
        p95 = sorted(samples)[round(0.95 * (len(samples) - 1))]
        note = f"p95 {p95:.1f} ms"
        if projector is not None and old is not None:
            context.projection = lambda: projector
            assert new() == old(), title
            note += f"; replaying {statistics.median(_ms(old, 5)):.1f} ms (projection built)"
            context.projection = None
        log(f"{title}: {statistics.median(samples):.1f} ms")
        report.summary(SECTION, title, samples, "ms", note=f"{note}; load {load()}")


_NO_FILTERS: dict[str, Any] = {
    k: None
    for k in ("state", "grade", "unit", "category", "territory", "overdue", "month", "q", "as_of")
}


def _ingest(url: str, events: list[dict[str, Any]]) -> float:
    """Submit ``events`` in batches; seconds taken."""
    start, end, _ = _ingest_span(url, events)
    return end - start


def _ingest_span(url: str, events: list[dict[str, Any]]) -> tuple[float, float, list[float]]:
    """Submit ``events`` in batches; when the first batch began and the last ended (epoch), and
    how long each write transaction held the ledger lock (seconds: from the lock granted to the
    commit done)."""
    from kernel.ledger.ledger import Ledger
    from kernel.storage.postgres import PostgresStorage
    from kernel.storage.sqlite import SqliteStorage

    ruleset = _ruleset()
    storage = PostgresStorage(url) if url.startswith("postgres") else SqliteStorage(url)
    held = _time_transactions(storage)
    ledger = Ledger(storage, ruleset.reference)
    try:
        started = time.time()
        for start in range(0, len(events), BATCH):
            batch = [(e, None, ()) for e in events[start : start + BATCH]]
            for outcome in ledger.submit_many(batch):
                if isinstance(outcome, Exception):
                    raise RuntimeError(f"the ledger rejected a generated event: {outcome}")
        return started, time.time(), held
    finally:
        storage.close()


def _time_transactions(storage: Any) -> list[float]:
    """Record how long each ``storage.transaction()`` is held once entered (the lock granted,
    on PostgreSQL) until its commit returns; the list fills as transactions end."""
    held: list[float] = []
    original = storage.transaction

    @contextmanager
    def transaction() -> Iterator[Any]:
        with original() as tx:
            entered = time.perf_counter()
            yield tx
        held.append(time.perf_counter() - entered)

    storage.transaction = transaction
    return held


def _by_enterprise(events: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    """Split events into ``parts`` streams, each with every event of its enterprises (so each
    stream is legal in any interleaving with the others)."""
    owner: dict[str, str] = {}
    for event in events:
        if event.get("ticket_id") and event.get("enterprise"):
            owner.setdefault(str(event["ticket_id"]), str(event["enterprise"]))
    codes = sorted({str(e["enterprise"]) for e in events if e.get("enterprise")})
    slot = {code: i % parts for i, code in enumerate(codes)}
    out: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    for event in events:
        code = event.get("enterprise") or owner.get(str(event.get("ticket_id")))
        out[slot[str(code)]].append(event)
    return out


def _pg_url(dsn: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    return f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"


def _drop(url: str) -> None:
    import psycopg

    from kernel.storage.postgres import split_url

    conninfo, schema, _, _ = split_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def measure_ingest(report: Report, log: Callable[[str], None], quick: bool) -> None:
    """SQLite and PostgreSQL ingest through ``Ledger.submit_many``."""
    ruleset = _ruleset()
    count = INGEST_EVENTS // (2 if quick else 1)
    events = generate(ruleset, count)
    with tempfile.TemporaryDirectory() as folder:
        runs = [len(events) / _ingest(str(Path(folder) / f"i{i}.db"), events) for i in range(2)]
    log(f"SQLite ingest: {statistics.median(runs):,.0f} events/s")
    report.summary(
        SECTION,
        f"SQLite ingest (submit_many, batches of {BATCH}), {len(events):,} events",
        runs,
        "events/s",
        target="≥ 20,000",
        check=lambda v: v >= 20_000,
        note=f"load {load()}",
    )
    dsn = os.environ.get("HUHANG_PG_DSN")
    if not dsn:
        report.notes.append("readmodel: PostgreSQL ingest skipped (set HUHANG_PG_DSN)")
        return
    measure_pg_ingest(dsn, events[:PG_EVENTS], report, log)


def measure_pg_ingest(
    dsn: str, pg_events: list[dict[str, Any]], report: Report, log: Callable[[str], None]
) -> None:
    """PostgreSQL ingest with 1, 2 and 4 processes, each writing its own enterprises' events;
    and how long each batch held the ledger lock."""
    one = None
    for workers in (1, 2, 4):
        url = _pg_url(dsn)
        try:
            from kernel.storage.postgres import PostgresStorage

            PostgresStorage(url).close()  # create the schema before the clock starts
            streams = _by_enterprise(pg_events, workers)
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                spans = pool.starmap(_ingest_span, [(url, s) for s in streams])
            rate = len(pg_events) / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans))
        finally:
            _drop(url)
        one = one or rate
        held = [seconds * 1000 for _, _, times in spans for seconds in times]
        log(
            f"PostgreSQL ingest, {workers} process(es): {rate:,.0f} events/s; "
            f"lock held {statistics.median(held):.1f} ms per batch (median)"
        )
        plural = "es" if workers > 1 else ""
        report.summary(
            SECTION,
            f"PostgreSQL ingest, {workers} process{plural}, {len(pg_events):,} events",
            [rate],
            "events/s",
            target="≥ 5,000" if workers == 1 else "no slower than 1",
            check=(lambda v: v >= 5_000) if workers == 1 else (lambda v, o=one: v >= 0.9 * o),
            note=f"load {load()}",
        )
        report.summary(
            SECTION,
            f"PostgreSQL ingest, {workers} process{plural}: ledger lock held per batch of {BATCH}",
            held,
            "ms",
            note=f"{len(held)} batches; load {load()}",
        )


def _copy_to_postgres(cached: Path, url: str) -> None:
    """Copy a cached SQLite ledger's events into a new PostgreSQL schema (around the ledger, as
    the cache was written: the read model is rebuilt afterwards)."""
    import sqlite3

    import psycopg

    from kernel.storage.postgres import PostgresStorage, split_url

    PostgresStorage(url).close()
    conninfo, schema, _, _ = split_url(url)
    source = sqlite3.connect(cached)
    try:
        with psycopg.connect(conninfo) as target, target.cursor() as cur:
            cur.execute("SELECT set_config('search_path', %s, false)", (f'"{schema}"',))
            columns = "seq, event_id, type, date, ticket_id, enterprise, body"
            with cur.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {columns} FROM events ORDER BY seq"):
                    copy.write_row(row)
    finally:
        source.close()


def measure_pg_sweep(dsn: str, size: int, report: Report, log: Callable[[str], None]) -> None:
    """``huhang sweep`` on PostgreSQL (one worker claiming tickets, wall time) on a copy of a
    cached ledger: the first sweep (nothing marked quiet) and the next day's."""
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.sweep import sweep_claimed
    from kernel.ledger.ledger import Ledger
    from kernel.storage.postgres import PostgresStorage

    ruleset = _ruleset()
    cached = build_database(ruleset, size, log=log)
    url = _pg_url(dsn)
    try:
        _copy_to_postgres(cached, url)
        storage = PostgresStorage(url)
        try:
            ledger = Ledger(storage, ruleset.reference, notifiers=["file"])
            tickets, _ = ledger.rebuild_read_model()
            evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
            for day, what in ((30, "first sweep"), (31, "next day")):
                started = time.time()
                result = sweep_claimed(ledger, evaluator, dt.date(YEAR, 12, day), "bench:1")
                seconds = time.time() - started
                log(
                    f"PostgreSQL claimed sweep, {what}: {seconds:.2f} s, {result.tickets:,} tickets"
                )
                report.summary(
                    SECTION,
                    f"huhang sweep on PostgreSQL (claimed, 1 worker), {what}, {size:,} events",
                    [seconds],
                    "s",
                    note=f"{result.tickets:,} of {tickets:,} tickets read; wall; load {load()}",
                )
        finally:
            storage.close()
    finally:
        _drop(url)


def run(settings: Any, report: Report, log: Callable[[str], None]) -> None:
    """Every read-model row of the table."""
    measure_ingest(report, log, settings.quick)
    dsn = os.environ.get("HUHANG_PG_DSN")
    if dsn:
        measure_pg_sweep(dsn, 100_000, report, log)
    for size in (100_000,) if settings.quick else (100_000, 1_000_000):
        measure_ledger(size, report, log)
