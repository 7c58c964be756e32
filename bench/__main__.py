"""Run the benchmark suite and print one table: ``python -m bench [--quick] [--only NAME]``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from bench.common import Report, Settings, clock_name, load, machine, render, use_wall_clock
from bench.targets import render as render_targets

BENCHMARKS = {
    "evaluation": "bench.evaluation",
    "replay": "bench.replay",
    "scaling": "bench.scaling",
    "startup": "bench.startup",
    "outbox": "bench.outbox",
    "http": "bench.http",
    "console": "bench.console",
    "readmodel": "bench.readmodel",
}


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--wall", action="store_true", help="time with wall clock instead of process CPU time"
    )
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    args = parser.parse_args(argv)
    if args.wall:
        use_wall_clock()
    load_before = load()
    settings = Settings.make(args.quick)
    report = Report()
    started = time.perf_counter()
    for name, module in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        log(f"{name}: start")
        begun = time.perf_counter()
        importlib.import_module(module).run(settings, report, log)
        log(f"{name}: done in {time.perf_counter() - begun:.1f} s")
    elapsed = time.perf_counter() - started
    print()
    print(f"Huhang benchmarks ({'quick' if settings.quick else 'full'} run, {elapsed:.0f} s)")
    for line in machine():
        print(line)
    print(
        f"In-process timings use {clock_name()}; load average {load_before} at start, "
        f"{load()} at end (2 cores: above ~1 other work shared the machine)"
    )
    print()
    print(render(report))
    if report.notes:
        print()
        for note in report.notes:
            print(f"- {note}")
    print()
    print("Issue 16's table (bench/targets.py: every row, its target, PASS/FAIL):")
    print()
    print(render_targets(report))
    failed = [row for row in report.rows if row.passed is False]
    print()
    print(
        f"targets: {sum(1 for r in report.rows if r.passed)} passed, {len(failed)} failed"
        + (" (" + "; ".join(r.name for r in failed) + ")" if failed else "")
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "quick": settings.quick,
                    "seconds": elapsed,
                    "machine": machine(),
                    "rows": [asdict(r) for r in report.rows],
                    "notes": report.notes,
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
