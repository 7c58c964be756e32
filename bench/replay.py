"""Benchmark 2: replaying the ledger from SQLite through projection and clocks.

The ledger (:mod:`bench.ledgergen`) is cached under ``bench/.cache`` by size. Each measurement
runs in a fresh subprocess (:mod:`bench.replay_worker`), alternating the I/O floor and the
replay, so both read a warm page cache and each peak RSS belongs to one run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import CLOCK, ROOT, RULES, Report, Settings, load
from bench.ledgergen import GENERATOR_VERSION, build_database, generate, verify_prefix
from kernel.rules.load import load_rules

SECTION = "replay"
VERIFY_EVENTS = 2000
#: replay results by ledger size, shared with the scaling benchmark in the same run
RESULTS: dict[int, list[dict[str, Any]]] = {}
FLOORS: dict[int, list[dict[str, Any]]] = {}
STREAMS: dict[int, list[dict[str, Any]]] = {}
DATABASES: dict[int, str] = {}
#: the streaming pass's steps are measured at this size in every run, and at the run's own size
SMALL = 100_000
STEPS = (
    ("decode", "read + decode"),
    ("project", "project (each ticket let go at its last event)"),
    ("clocks", "clocks of each finished ticket"),
    ("facts", "facts, tallies and scores"),
)


def worker(db: str, mode: str) -> dict[str, Any]:
    """Run one measurement in a subprocess and return its JSON result."""
    command = [sys.executable, "-m", "bench.replay_worker", db, mode]
    if CLOCK["now"] is time.perf_counter:
        command.append("--wall")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"replay worker failed ({mode}, {db}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(
    events: int, repeats: int, log: Callable[[str], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(replays, floors) for a ledger of ``events`` events, cached per run."""
    if events not in RESULTS:
        ruleset = load_rules(RULES)
        db = str(build_database(ruleset, events, log=log))
        replays, floors, streams = [], [], []
        for round_no in range(repeats):
            floors.append(worker(db, "floor"))
            streams.append(worker(db, "stream"))
            replays.append(worker(db, "replay"))
            log(
                f"replay {events:,}: round {round_no + 1}/{repeats}: "
                f"stream {streams[-1]['seconds']:.1f} s, reference {replays[-1]['seconds']:.1f} s "
                f"(floor {floors[-1]['seconds']:.2f} s)"
            )
        RESULTS[events], FLOORS[events], STREAMS[events] = replays, floors, streams
        DATABASES[events] = db
    return RESULTS[events], FLOORS[events]


def streaming_rows(size: int, report: Report, log: Callable[[str], None]) -> None:
    """The streaming pass at ``size`` (measured by :func:`measure`): its throughput, its peak
    RSS, and the time of each step per event (one more run, in a fresh process)."""
    streams = STREAMS[size]
    first = RESULTS[size][0]
    add = report.summary
    add(
        SECTION,
        f"project + clocks + assessment, streaming, {size:,} events",
        [r["events"] / r["seconds"] for r in streams],
        "events/s",
        target="≥ 100,000",
        check=lambda v: v >= 100_000,
        note=(
            f"{first['tickets']:,} tickets, {first['enterprises']:,} enterprises; "
            f"kernel.assessment.stream; load {load()}"
        ),
    )
    large = size >= 1_000_000
    add(
        SECTION,
        f"peak RSS of the streaming replay process, {size:,} events",
        [r["maxrss_kib"] / 1024 for r in streams],
        "MiB",
        target="≤ 500" if large else "",
        check=(lambda v: v <= 500) if large else None,
    )
    steps = worker(DATABASES[size], "steps")
    seconds, events = steps["seconds"], steps["events"]
    log(f"replay {size:,}: steps " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    before = 0.0
    for key, what in STEPS:
        add(
            SECTION,
            f"streaming step: {what}, {size:,} events",
            [(seconds[key] - before) / events * 1e6],
            "µs/event",
            note=f"passes of {seconds[key]:.1f} s with this step and the ones above",
        )
        before = seconds[key]


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Replay the ledger of ``settings.replay_events`` events and add the rows; the streaming
    pass is also measured at 10⁵ events when the run's ledger is larger."""
    size = settings.replay_events
    for streamed in sorted({SMALL, size}):
        measure(streamed, settings.replay_runs(streamed), log)
        streaming_rows(streamed, report, log)
    replays, floors = measure(size, settings.replay_runs(size), log)
    first = replays[0]
    add = report.summary
    add(
        SECTION,
        "project + clocks + assessment, reference path (whole projection)",
        [r["events"] / r["seconds"] for r in replays],
        "events/s",
    )
    add(
        SECTION,
        "Ledger.project (read + Projector.feed)",
        [r["events"] / r["seconds_project"] for r in replays],
        "events/s",
    )
    add(
        SECTION,
        "ClockEvaluator.evaluate as of 12-31",
        [r["tickets"] / r["seconds_clocks"] for r in replays],
        "tickets/s",
        note=f"{first['clock_instances']:,} clock instances",
    )
    add(
        SECTION,
        "I/O floor: SELECT body ORDER BY seq",
        [f["events"] / f["seconds"] for f in floors],
        "events/s",
    )
    floor_ratio = [f["seconds"] / r["seconds"] for r, f in zip(replays, floors, strict=True)]
    add(
        SECTION,
        "replay throughput / I/O floor",
        floor_ratio,
        "x",
        note=f"the floor is {1 / sorted(floor_ratio)[len(floor_ratio) // 2]:,.0f}x faster",
    )
    add(
        SECTION,
        "peak RSS of the replay process",
        [r["maxrss_kib"] / 1024 for r in replays],
        "MiB",
        note=f"{first['baseline_rss_kib'] / 1024:.0f} MiB before replaying",
    )
    add(
        SECTION,
        "peak RSS of the I/O floor process",
        [f["maxrss_kib"] / 1024 for f in floors],
        "MiB",
    )
    add(
        SECTION,
        "the year's assessment (facts, tallies, scores)",
        [r["seconds_scoring"] for r in replays],
        "s",
        note=f"{first['units_scored']} units scored",
    )
    failures = first["clock_failures"]
    add(
        SECTION,
        "tickets whose clocks raise CalendarError",
        [float(r["clock_failures"]) for r in replays],
        "tickets",
        target="0 (correctness)",
        check=lambda v: v == 0,
        note="open D tickets as of 12-31",
    )
    if failures:
        report.notes.append(
            f"replay: ClockEvaluator.evaluate raised CalendarError for {failures:,} of "
            f"{first['tickets']:,} tickets as of 12-31 (a clock reached a year without "
            f"calendar data); e.g. {first['first_failure'][:120]}"
        )

    # How the cached ledger was built, and what the ledger's own write path costs.
    ruleset = load_rules(RULES)
    prefix = generate(ruleset, VERIFY_EVENTS)
    accepted, seconds = verify_prefix(ruleset, prefix)
    add(
        SECTION,
        "Ledger.submit_many (validate + check + store)",
        [accepted / seconds],
        "events/s",
        note=f"first {accepted:,} generated events, all accepted",
    )
    report.notes.append(
        f"replay: ledgers are built with SqliteStorage.transaction() + tx.insert "
        f"(generator v{GENERATOR_VERSION}); Ledger.submit_many accepted every one of the first "
        f"{accepted:,} generated events at {accepted / seconds:,.0f} events/s, which would "
        f"take {size / (accepted / seconds) / 60:.0f} min for {size:,}"
    )
