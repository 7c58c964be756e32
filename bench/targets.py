"""Issue 16's table: every row with its target and PASS/FAIL, from the rows of this run.

The benchmarks measure; this module only looks their rows up and judges them against the
issue's targets (some stricter than the rows' own, which are kept for history). A row whose
benchmark did not run, or did not run at that ledger size, says how to get it.

Ledger-sized rows are shown at 10⁵ and 10⁶ events. A full run (``make bench``) measures both;
``--quick`` measures 10⁵ only, so its 10⁶ lines say "not measured". Targets stated for 10⁶
events are judged there; at 10⁵ the figure is shown for comparison.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bench.common import Report, Row, fmt

SIZES = (100_000, 1_000_000)
LARGE = 1_000_000


@dataclass(frozen=True)
class Target:
    """One row of the issue's table."""

    what: str
    target: str
    check: Callable[[float], bool]
    #: the benchmark row: (section, name); ``{size}`` stands for "1,000,000 events"
    section: str
    name: str
    unit: str
    #: measured per ledger size (else once); the target applies at 10⁶ only when ``at_large``
    sized: bool = False
    at_large: bool = False
    #: how to get the row when it is missing
    how: str = ""
    #: when the row is missing at a size: (section, name, what it is) of a lesser stand-in
    stand_in: tuple[str, str, str] | None = None
    #: the row's name starts with ``name`` and ends with ``{size}`` (words between vary)
    size_suffix: bool = False
    #: another row of the same section shown beside the value: (name, label); its note's
    #: figure of the same unit (peak RSS) or its value
    also: tuple[str, str] | None = None


TARGETS = (
    Target(
        "Ledger.submit_many (SQLite, batched)",
        "≥ 20,000 events/s",
        lambda v: v >= 20_000,
        "readmodel",
        "SQLite ingest (submit_many",
        "events/s",
        how="--only readmodel",
    ),
    Target(
        "full replay: project + clocks + the year's assessment",
        "≥ 100,000 events/s",
        lambda v: v >= 100_000,
        "replay",
        "project + clocks + assessment, streaming, {size}",
        "events/s",
        sized=True,
        how="--only replay: 10⁵ and 10⁶ in a full run, 10⁵ with --quick",
        stand_in=("scaling", "replay (project + clocks), {size}", "project + clocks only"),
    ),
    Target(
        "peak RSS of that replay",
        "≤ 500 MiB at 10⁶",
        lambda v: v <= 500,
        "replay",
        "peak RSS of the streaming replay process, {size}",
        "MiB",
        sized=True,
        at_large=True,
        how="--only replay: 10⁵ and 10⁶ in a full run, 10⁵ with --quick",
    ),
    Target(
        "huhang sweep (the next day: open work only)",
        "< 2 s at 10⁶",
        lambda v: v < 2,
        "readmodel",
        "huhang sweep, next day (open work only), {size}",
        "s",
        sized=True,
        at_large=True,
        how="--only readmodel (10⁶ in a full run)",
    ),
    Target(
        "huhang report assessment --year (a day after the last report; the first run beside it)",
        "< 5 s at 10⁶",
        lambda v: v < 5,
        "readmodel",
        "report assessment --year, a day later (",
        "s",
        sized=True,
        at_large=True,
        how="--only readmodel (10⁶ in a full run)",
        size_suffix=True,
        also=(
            "report assessment --year, cold (every fact computed and cached), {size}",
            "cold",
        ),
    ),
    Target(
        "huhang report assessment --year: peak RSS (a day later; the first run beside it)",
        "≤ 500 MiB at 10⁶",
        lambda v: v <= 500,
        "readmodel",
        "peak RSS of report assessment --year, a day later, {size}",
        "MiB",
        sized=True,
        at_large=True,
        how="--only readmodel (10⁶ in a full run)",
        also=("report assessment --year, cold (every fact computed and cached), {size}", "cold"),
    ),
    Target(
        "huhang ledger: one page of 50 filtered rows",
        "< 50 ms at 10⁶",
        lambda v: v < 50,
        "readmodel",
        "one 台账 page (50 rows of 办理中, with clocks), {size}",
        "ms",
        sized=True,
        at_large=True,
        how="--only readmodel (10⁶ in a full run)",
    ),
    Target(
        "Kernel.evaluate (grade + route) / raw durable-rules",
        "≥ 0.5",
        lambda v: v >= 0.5,
        "evaluation",
        "ratio kernel/(a) raw durable-rules",
        "x",
        how="--only evaluation",
    ),
    Target(
        "Kernel.evaluate / zen-engine",
        "≥ 1.5",
        lambda v: v >= 1.5,
        "evaluation",
        "ratio kernel/(c) zen-engine",
        "x",
        how="--only evaluation, with zen-engine installed (the bench extra)",
    ),
    Target(
        "huhang validate wall time",
        "< 0.25 s",
        lambda v: v < 0.25,
        "startup",
        "huhang validate (default rules), wall",
        "s",
        how="--only startup",
    ),
    Target(
        "PostgreSQL ingest, one process",
        "≥ 5,000 events/s",
        lambda v: v >= 5_000,
        "readmodel",
        "PostgreSQL ingest, 1 process,",
        "events/s",
        how="--only readmodel with HUHANG_PG_DSN set",
    ),
    Target(
        "PostgreSQL ingest, four processes (no slower than one)",
        "≥ 0.9 × one process",
        lambda v: v >= 0.9,
        "readmodel",
        "PostgreSQL ingest, 4 processes,",
        "x one",
        how="--only readmodel with HUHANG_PG_DSN set",
    ),
)


def _label(size: int) -> str:
    return f"{size:,} events"


def _find(report: Report, section: str, name: str) -> Row | None:
    for row in report.rows:
        if row.section == section and row.name.startswith(name):
            return row
    return None


def _sized(report: Report, target: Target, size: int) -> Row | None:
    if target.size_suffix:
        found = (
            row
            for row in report.rows
            if row.section == target.section
            and row.name.startswith(target.name)
            and row.name.endswith(_label(size))
        )
        return next(found, None)
    return _find(report, target.section, target.name.format(size=_label(size)))


def _value(report: Report, target: Target, row: Row) -> float:
    if target.unit == "x one":  # four processes against one
        one = _find(report, "readmodel", "PostgreSQL ingest, 1 process,")
        return row.value / one.value if one is not None and one.value else 0.0
    return row.value


def _also(report: Report, target: Target, size: int) -> str:
    """`` (cold 35.4 s)``: the figure of the target's ``also`` row, or nothing."""
    assert target.also is not None
    name, label = target.also
    other = _find(report, target.section, name.format(size=_label(size)))
    if other is None:
        return ""
    if target.unit == "MiB":
        found = re.search(r"peak RSS ([\d,]+) MiB", other.note)
        return f" ({label} {found.group(1)} MiB)" if found else ""
    return f" ({label} {fmt(other.value)} {other.unit})"


def lines(report: Report) -> list[tuple[str, str, str, str, str]]:
    """(issue row, ledger, measured, target, verdict) for every row of the issue's table."""
    out = []
    for target in TARGETS:
        for size in SIZES if target.sized else (None,):
            ledger = "" if size is None else f"10{'⁵' if size < LARGE else '⁶'} events"
            row = _find(report, target.section, target.name) if size is None else None
            if size is not None:
                row = _sized(report, target, size)
            if row is None and size is not None and target.stand_in is not None:
                section, name, what = target.stand_in
                other = _find(report, section, name.format(size=_label(size)))
                if other is not None and other.unit == "s" and other.value:
                    verdict = (
                        f"— ({what}, row {section}; the full figure: python -m bench {target.how})"
                    )
                    shown = f"{fmt(size / other.value)} {target.unit}"
                    out.append((target.what, ledger, shown, target.target, verdict))
                    continue
            if row is None:
                verdict = f"not measured (python -m bench {target.how})"
                out.append((target.what, ledger, "", target.target, verdict))
                continue
            value = _value(report, target, row)
            shown = f"{fmt(value)} {target.unit}"
            if target.also is not None and size is not None:
                shown += _also(report, target, size)
            if target.at_large and size != LARGE:
                verdict = "— (target stated at 10⁶)"
            else:
                verdict = "PASS" if target.check(value) else "FAIL"
            out.append((target.what, ledger, shown, target.target, verdict))
    return out


def from_json(path: str) -> Report:
    """A report read back from ``python -m bench --json`` (to print this table again)."""
    import json
    from pathlib import Path

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return Report(rows=[Row(**row) for row in data["rows"]], notes=list(data["notes"]))


def render(report: Report) -> str:
    """The issue's table as Markdown, with a count of passes and failures."""
    header = ("issue 16", "ledger", "measured (median)", "target", "verdict")
    rows = [header, *lines(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    text = []
    for index, row in enumerate(rows):
        text.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if index == 0:
            text.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    verdicts = [r[4] for r in rows[1:]]
    passed, failed = verdicts.count("PASS"), verdicts.count("FAIL")
    missing = sum(1 for v in verdicts if v.startswith("not measured"))
    text.append("")
    text.append(f"issue 16: {passed} PASS, {failed} FAIL, {missing} not measured")
    return "\n".join(text)


if __name__ == "__main__":  # python -m bench.targets out.json: the table of a recorded run
    import sys

    print(render(from_json(sys.argv[1])))
