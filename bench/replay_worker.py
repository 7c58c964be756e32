"""One replay measurement in a fresh process (so its peak RSS is its own).

``python -m bench.replay_worker DB MODE [--wall] [--no-gc]`` prints one JSON object:

* ``floor`` -- the I/O floor: ``SELECT body FROM events ORDER BY seq`` over every row, each
  body fetched into Python and nothing else done with it;
* ``replay`` -- ``Ledger.project()`` (which streams ``SqliteStorage.events`` into
  ``Projector.feed``), then ``ClockEvaluator.evaluate`` for every ticket as of 31 December,
  then the year's assessment;
* ``stream`` -- the same work in one streaming pass (:mod:`kernel.assessment.stream`);
* ``steps`` -- the streaming pass's steps, each pass doing one step more than the one before:
  reading and decoding, + projecting (each ticket let go at its last event), + its clocks,
  + the facts and scores (the whole ``stream`` pass).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import resource
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import RULES, YEAR


def _rss_kib() -> int:
    """Peak resident set size of this process, in KiB.

    ``VmHWM`` belongs to the process's own address space; ``ru_maxrss`` would also count the
    parent's size at the fork, which Linux carries across ``execve``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def floor(path: str, now: Callable[[], float]) -> dict[str, Any]:
    """Read every body in ledger order, as the storage backend's query does."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    start = now()
    rows = 0
    size = 0
    for (body,) in conn.execute("SELECT body FROM events ORDER BY seq"):
        rows += 1
        size += len(body)
    seconds = now() - start
    conn.close()
    return {"events": rows, "seconds": seconds, "bytes": size, "maxrss_kib": _rss_kib()}


def score_year(
    projector: Any, ledger: Any, ruleset: Any, as_of: dt.date, clocks: dict[str, Any]
) -> int:
    """The year-end assessment of every unit in scope (rules/scoring.yaml); returns the count.

    The clocks evaluated by the previous stage are handed to ``FactCollector``, which would
    otherwise evaluate them a second time.
    """
    from kernel.assessment.scoring import FactCollector, score_period

    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    events = [e for e in ledger.events() if e.date <= as_of]
    tallies = collector.tallies(projector, events, as_of, clocks=clocks)
    assessment = score_period(
        f"{as_of.year} 年",
        dt.date(as_of.year, 1, 1),
        as_of,
        tallies,
        ruleset.scoring,
        ruleset.reference,
    )
    return len(assessment.units)


def replay(path: str, now: Callable[[], float]) -> dict[str, Any]:
    """Project the whole ledger, then evaluate every ticket's clocks as of year end."""
    from kernel.clocks.compute import ClockEvaluator
    from kernel.errors import CalendarError
    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules
    from kernel.storage.sqlite import SqliteStorage

    ruleset = load_rules(RULES)
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    evaluator = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    storage = SqliteStorage(path)
    ledger = Ledger(storage, ruleset.reference)
    as_of = dt.date(YEAR, 12, 31)
    baseline = _rss_kib()

    start = now()
    projector = ledger.project()
    projected = now()
    results: dict[str, Any] = {}
    failures = 0
    first_failure = ""
    for ticket_id, state in projector.tickets.items():
        try:
            results[ticket_id] = evaluator.evaluate(state, as_of)
        except CalendarError as exc:  # kernel bug: an open D ticket as of any December day
            failures += 1
            first_failure = first_failure or f"{ticket_id}: {exc}"
    clocked = now()
    units = score_year(projector, ledger, ruleset, as_of, results)
    scored = now()
    events = storage.count()
    storage.close()
    instances = sum(len(r.instances) for r in results.values())
    return {
        "events": events,
        "tickets": len(projector.tickets),
        "enterprises": len(projector.enterprises),
        "clock_instances": instances,
        "clock_failures": failures,
        "units_scored": units,
        "first_failure": first_failure,
        "seconds_project": projected - start,
        "seconds_clocks": clocked - projected,
        "seconds_scoring": scored - clocked,
        "seconds": scored - start,
        "baseline_rss_kib": baseline,
        "maxrss_kib": _rss_kib(),
    }


def stream(path: str, now: Callable[[], float]) -> dict[str, Any]:
    """The same work in one streaming pass (:mod:`kernel.assessment.stream`): each ticket's
    clocks and facts at its last event, then the ticket is let go."""
    from kernel.assessment.scoring import FactCollector
    from kernel.assessment.stream import stream_assess
    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules
    from kernel.storage.sqlite import SqliteStorage

    ruleset = load_rules(RULES)
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    assert ruleset.scoring is not None
    storage = SqliteStorage(path)
    ledger = Ledger(storage, ruleset.reference)
    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    baseline = _rss_kib()
    start = now()
    assessment, stats = stream_assess(collector, ledger, str(YEAR))
    seconds = now() - start
    storage.close()
    return {
        "events": stats.events,
        "tickets": stats.tickets,
        "enterprises": stats.enterprises,
        "clock_instances": stats.clock_instances,
        "units_scored": len(assessment.units),
        "seconds": seconds,
        "baseline_rss_kib": baseline,
        "maxrss_kib": _rss_kib(),
    }


def steps(path: str, now: Callable[[], float]) -> dict[str, Any]:
    """Seconds of four passes over the ledger, each one step more than the one before."""
    from kernel.assessment.scoring import FactCollector
    from kernel.assessment.stream import stream_assess
    from kernel.ledger.ledger import Ledger, Projector, paused_gc
    from kernel.rules.load import load_rules
    from kernel.storage.sqlite import SqliteStorage

    ruleset = load_rules(RULES)
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    assert ruleset.scoring is not None
    storage = SqliteStorage(path)
    ledger = Ledger(storage, ruleset.reference)
    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    evaluator = collector.evaluator
    as_of = dt.date(YEAR, 12, 31)
    last = storage.ticket_last_seqs()[1]

    def decode() -> int:
        count = 0
        for _ in ledger.events():
            count += 1
        return count

    def project(clocks: bool) -> int:
        projector = Projector(ruleset.reference)
        for event in ledger.events():
            projector.feed(event)
            ticket_id = event.ticket_id
            if ticket_id is not None and (event.seq or 0) >= last.get(ticket_id, 0):
                state = projector.tickets.pop(ticket_id, None)
                if clocks and state is not None:
                    evaluator.evaluate(state, as_of)
        return 0

    seconds: dict[str, float] = {}
    events = 0
    for name, step in (
        ("decode", decode),
        ("project", lambda: project(False)),
        ("clocks", lambda: project(True)),
        ("facts", lambda: len(stream_assess(collector, ledger, str(YEAR))[0].units)),
    ):
        start = now()
        with paused_gc():
            done = step()
        seconds[name] = now() - start
        events = done if name == "decode" else events
    storage.close()
    return {"events": events, "seconds": seconds, "maxrss_kib": _rss_kib()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay_worker")
    parser.add_argument("db")
    parser.add_argument("mode", choices=("floor", "replay", "stream", "steps"))
    parser.add_argument("--wall", action="store_true")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="experiment: replay with the cyclic garbage collector disabled",
    )
    args = parser.parse_args(argv)
    if args.no_gc:
        gc.disable()
    now = time.perf_counter if args.wall else time.process_time
    modes = {"floor": floor, "replay": replay, "stream": stream, "steps": steps}
    result = modes[args.mode](args.db, now)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
