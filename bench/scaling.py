"""Benchmark 3: evaluation time against rule count, replay time against ledger size.

Rule count: a temporary copy of rules/ whose grading.yaml holds N rules -- N-8 synthetic rules
(one per category x territory x department-count threshold, the way a city would refine its
grading for local cases) in front of the 8 default rules, so every ticket is still graded. Each
folder must pass ``huhang validate`` before it is timed. Per ticket: ``Kernel.evaluate``,
``Kernel.grade_only``, raw durable-rules grading (pre-encoded messages) and plain-Python grading.

Ledger size: the replay of :mod:`bench.replay` at 10⁴, 10⁵ (and 10⁶) events.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from bench import replay
from bench.common import RULES, Report, Settings, interleave
from bench.plain import PlainEvaluator
from bench.raw import RawEngine
from bench.tickets import make_tickets
from kernel.evaluation.kernel import Kernel
from kernel.evaluation.ticket import Ticket
from kernel.rules.load import load_rules

SECTION = "scaling"
GRADE_FOR_THRESHOLD = {2: "B", 3: "C", 4: "D"}


def grading_yaml(count: int, default_text: str) -> str:
    """A grading file of ``count`` rules: synthetic ones first, then the default rules."""
    reference = load_rules(RULES).reference
    categories = reference.ids("categories")
    territories = reference.ids("territories")
    default = yaml.safe_load(default_text)
    synthetic = []
    combos = [
        (threshold, territory, category)
        for threshold in (4, 3, 2)
        for territory in territories
        for category in categories
    ]
    wanted = count - len(default["rules"])
    if wanted > len(combos):
        raise ValueError(f"at most {len(combos) + len(default['rules'])} rules")
    for number, (threshold, territory, category) in enumerate(combos[:wanted], start=1):
        synthetic.append(
            {
                "id": f"G-SYN-{number:04d}",
                "title": f"{territory}{category}问题需 {threshold} 个以上部门（合成规则）",
                "clause": "BENCH 合成规则",
                "when": {
                    "all": [
                        {"field": "category", "eq": category},
                        {"field": "enterprise.territory", "eq": territory},
                        {"field": "assessment.departments", "count": {"ge": threshold}},
                    ]
                },
                "then": {"grade": GRADE_FOR_THRESHOLD[threshold]},
            }
        )
    default["rules"] = synthetic + default["rules"]
    header = "# yaml-language-server: $schema=../kernel/schemas/grading.schema.json\n"
    return header + yaml.safe_dump(default, allow_unicode=True, sort_keys=False)


def rules_folder(count: int, parent: Path) -> Path:
    """A copy of rules/ with a grading.yaml of ``count`` rules, checked by ``huhang validate``."""
    folder = parent / f"rules-{count}"
    shutil.copytree(RULES, folder)
    grading = folder / "grading.yaml"
    grading.write_text(grading_yaml(count, (RULES / "grading.yaml").read_text("utf-8")), "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "kernel", "validate", "--rules", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"huhang validate rejected {count} rules:\n{done.stdout}{done.stderr}")
    return folder


def _time_rules(
    kernel: Kernel, tickets: list[Ticket], plain: PlainEvaluator, repeats: int
) -> dict[str, list[float]]:
    raw = RawEngine(kernel, tickets)
    evaluate, grade_only = kernel.evaluate, kernel.grade_only
    return interleave(
        {
            "Kernel.evaluate": lambda: [evaluate(t) for t in tickets],
            "Kernel.grade_only": lambda: [grade_only(t) for t in tickets],
            "raw durable-rules grading": raw.run_grading,
            "plain Python grading": lambda: [plain.grade(t.values) for t in tickets],
        },
        repeats,
    )


def _slope(xs: list[float], ys: list[float]) -> float:
    """Log-log slope between the last two points (1 = linear, 0 = constant)."""
    return math.log(ys[-1] / ys[-2]) / math.log(xs[-1] / xs[-2])


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Evaluation vs rule count, replay vs ledger size."""
    base = load_rules(RULES)
    data = make_tickets(base.reference, settings.tickets)
    per_ticket: dict[str, list[float]] = {}
    counts = list(settings.rule_counts)
    with tempfile.TemporaryDirectory(prefix="huhang-bench-") as tmp:
        for count in counts:
            folder = rules_folder(count, Path(tmp))
            ruleset = load_rules(folder)
            kernel = Kernel(ruleset)
            tickets = [kernel.validate(d) for d in data]
            plain = PlainEvaluator(ruleset)
            expected = [kernel.grade_only(t) for t in tickets]
            if [plain.grade(t.values) for t in tickets] != expected:
                raise AssertionError(f"plain grading disagrees with the kernel at {count} rules")
            # Kernel.evaluate builds one explanation per rule tried before the winner: say how many.
            tried = sum(
                (d.source.index if (d := kernel.evaluate(t).grade.decision) else count)
                for t in tickets
            ) / len(tickets)
            seconds = _time_rules(kernel, tickets, plain, max(3, settings.repeats // 3))
            for name, runs in seconds.items():
                micro = [s / len(tickets) * 1e6 for s in runs]
                per_ticket.setdefault(name, []).append(sorted(micro)[len(micro) // 2])
                report.summary(
                    SECTION,
                    f"{name}, {count} grading rules",
                    micro,
                    "µs/ticket",
                    note=f"{tried:.0f} rules fail before the winner"
                    if name == "Kernel.evaluate"
                    else "",
                )
            log(f"scaling: {count} rules timed")
            kernel.close()
    for name, values in per_ticket.items():
        report.summary(
            SECTION,
            f"{name}: time at {counts[-1]} / at {counts[0]} rules",
            [values[-1] / values[0]],
            "x",
            note=f"{counts[-1] / counts[0]:.0f}x the rules; "
            f"{(values[-1] - values[0]) / (counts[-1] - counts[0]) * 1000:,.0f} ns per extra rule",
        )

    sizes = list(settings.scaling_events)
    per_event = []
    for size in sizes:
        replays, _ = replay.measure(size, settings.replay_runs(size), log)
        micro = [r["seconds"] / r["events"] * 1e6 for r in replays]
        per_event.append(sorted(micro)[len(micro) // 2])
        report.summary(
            SECTION,
            f"replay (project + clocks), {size:,} events",
            [r["seconds"] for r in replays],
            "s",
            note=f"{per_event[-1]:.1f} µs/event",
        )
    if len(sizes) >= 2:
        report.summary(
            SECTION,
            f"replay time growth {sizes[-2]:,}→{sizes[-1]:,} events",
            [
                _slope(
                    [float(s) for s in sizes],
                    [p * s for p, s in zip(per_event, sizes, strict=True)],
                )
            ],
            "log-log slope",
            note="1 = linear, > 1 worse",
        )
