"""Shared pieces of the benchmark suite: timing, result rows, the final table, machine facts."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
CACHE = Path(__file__).resolve().parent / ".cache"
#: every synthetic history lives in this calendar year; clocks are evaluated as of its last day
YEAR = 2026


@dataclass
class Settings:
    """How long to run: ``--quick`` shrinks every repetition count and size."""

    quick: bool = False
    repeats: int = 15  # timed repetitions of each evaluation contender
    tickets: int = 1000  # distinct tickets in the evaluation mix
    replay_events: int = 1_000_000
    replay_repeats: int = 3  # for ledgers under 10⁶ events
    replay_repeats_large: int = 2  # at 10⁶ one replay takes minutes: two keep the run short
    scaling_events: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    rule_counts: tuple[int, ...] = (10, 100, 400)
    startup_repeats: int = 10

    def replay_runs(self, events: int) -> int:
        """How many times to replay a ledger of ``events`` events."""
        return self.replay_repeats_large if events >= 1_000_000 else self.replay_repeats

    @classmethod
    def make(cls, quick: bool) -> Settings:
        if not quick:
            return cls()
        return cls(
            quick=True,
            repeats=5,
            replay_events=100_000,
            replay_repeats=1,
            replay_repeats_large=1,
            scaling_events=(10_000, 100_000),
            startup_repeats=5,
        )


@dataclass
class Row:
    """One line of the final table."""

    section: str
    name: str
    value: float
    unit: str
    low: float | None = None  # spread over the repeated runs (min, max)
    high: float | None = None
    runs: int = 1
    target: str = ""
    passed: bool | None = None
    note: str = ""

    def spread(self) -> str:
        if self.low is None or self.high is None or self.runs < 2:
            return ""
        return f"{fmt(self.low)}–{fmt(self.high)}"


@dataclass
class Report:
    """Rows collected by the benchmarks, plus free-form notes printed under the table."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def summary(
        self,
        section: str,
        name: str,
        samples: list[float],
        unit: str,
        *,
        target: str = "",
        check: Callable[[float], bool] | None = None,
        note: str = "",
    ) -> Row:
        """A row from repeated samples: their median, with the min and max as the spread."""
        value = statistics.median(samples)
        return self.add(
            Row(
                section,
                name,
                value,
                unit,
                min(samples),
                max(samples),
                len(samples),
                target,
                None if check is None else check(value),
                note,
            )
        )


def fmt(value: float) -> str:
    """A number with about three significant digits, thousands separated."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def render(report: Report) -> str:
    """The one table printed at the end of a run (plain text, also valid Markdown)."""
    header = ("benchmark", "metric", "median", "spread (min–max)", "unit", "runs", "target")
    lines = [header]
    for row in report.rows:
        if row.passed is None:
            verdict = row.target
        else:
            verdict = f"{row.target} {'PASS' if row.passed else 'FAIL'}".strip()
        lines.append(
            (
                row.section,
                row.name + (f" ({row.note})" if row.note else ""),
                fmt(row.value),
                row.spread(),
                row.unit,
                str(row.runs),
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {2, 3, 5}

    def cell(text: str, i: int) -> str:
        return text.rjust(widths[i]) if i in numeric else text.ljust(widths[i])

    out = ["| " + " | ".join(cell(t, i) for i, t in enumerate(lines[0])) + " |"]
    out.append(
        "|"
        + "|".join(
            ("-" * (widths[i] + 1) + ":") if i in numeric else ("-" * (widths[i] + 2))
            for i in range(len(header))
        )
        + "|"
    )
    for line in lines[1:]:
        out.append("| " + " | ".join(cell(t, i) for i, t in enumerate(line)) + " |")
    return "\n".join(out)


#: the clock of in-process timings: process CPU time by default (``--wall`` for wall time).
#: On this shared two-core machine other people's test runs steal the CPU; the process's own
#: CPU time is what a run costs, and equals wall time on an idle machine for this
#: single-threaded work.
CLOCK: dict[str, Callable[[], float]] = {"now": time.process_time}


def use_wall_clock() -> None:
    """Time with ``time.perf_counter`` instead of process CPU time."""
    CLOCK["now"] = time.perf_counter


def clock_name() -> str:
    """Which clock timings use."""
    return "wall time" if CLOCK["now"] is time.perf_counter else "process CPU time"


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` takes, with the garbage of earlier runs collected first."""
    gc.collect()
    now = CLOCK["now"]
    start = now()
    action()
    return now() - start


def load() -> str:
    """The 1-minute load average (how busy the machine was)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # pragma: no cover
        return "?"


def interleave(contenders: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Time each contender ``repeats`` times, rotating the order every round.

    Interleaving keeps slow drifts of the machine (frequency, a neighbour's load) from
    favouring whichever contender happened to run first; ratios are then taken per round.
    """
    names = list(contenders)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(repeats):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(timed(contenders[name]))
    return seconds


def ratios(top: Iterable[float], bottom: Iterable[float]) -> list[float]:
    """Per-round ratios of two throughputs."""
    return [a / b for a, b in zip(top, bottom, strict=True)]


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total() -> str:
    """Total RAM from /proc/meminfo."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def engine_build() -> str:
    """Which build of the engine's C extension is measured: as published, or patched for 3.13.

    The published source calls ``PyEval_CallObject``; the build that
    scripts/build_engine_wheel.py patches for Python 3.13 does not, so the name is in the
    binary of the one and not of the other.
    """
    spec = util.find_spec("durable_rules_engine")
    if spec is None or spec.origin is None:
        return ""
    try:
        binary = Path(spec.origin).read_bytes()
    except OSError:
        return ""
    return " (published source)" if b"PyEval_CallObject" in binary else " (patched for 3.13)"


def machine() -> list[str]:
    """Lines describing this machine and the versions measured (the interpreter's included)."""
    versions = []
    for name in ("durable_rules", "zen-engine", "PyYAML", "jsonschema", "huhang"):
        try:
            build = engine_build() if name == "durable_rules" else ""
            versions.append(f"{name} {metadata.version(name)}{build}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    try:
        import sqlite3

        sqlite = sqlite3.sqlite_version
    except ImportError:  # pragma: no cover
        sqlite = "?"
    return [
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; RAM {memory_total()}",
        f"Python {platform.python_version()} ({sys.implementation.name}), "
        f"{platform.system()} {platform.release()}; SQLite {sqlite}",
        "Packages: " + ", ".join(versions),
    ]
