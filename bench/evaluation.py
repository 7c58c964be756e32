"""Benchmark 1: evaluation throughput, against raw durable-rules, plain Python and zen-engine.

Every contender evaluates the same ~1,000 distinct tickets (:mod:`bench.tickets`), validated
once before timing. Before anything is timed, each baseline must give the kernel's answer on
every ticket: the same grade, primary handler, co-handlers, feedback owner, coordinators and
flags (the raw engine: the same first grading rule and the same set of routing rules).
Contenders run interleaved, one pass over the tickets each per round, so ratios are per round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from bench.common import RULES, YEAR, Report, Settings, interleave, ratios
from bench.ledgergen import ticket_states
from bench.plain import Outcome, PlainEvaluator
from bench.raw import RawEngine
from bench.tickets import make_tickets
from kernel.clocks.compute import ClockEvaluator
from kernel.evaluation.decisions import Evaluation
from kernel.evaluation.kernel import Kernel
from kernel.rules.load import load_rules

SECTION = "evaluation"
GRADING = frozenset({"grade_only", "raw grading", "plain grading", "zen grading"})
#: the clocks are read as of the last day of November: a monthly-notice run, mid-life for most
#: of the histories (the replay benchmark reads them as of 31 December)
AS_OF = dt.date(YEAR, 11, 30)


def outcome(evaluation: Evaluation) -> Outcome:
    """The kernel's decision in the form every baseline returns."""
    route = evaluation.route
    return Outcome(
        grade=evaluation.grade.grade,
        primary=route.primary.unit if route.primary else None,
        co_handlers=tuple(a.unit for a in route.co_handlers),
        feedback_owner=route.feedback_owner.unit if route.feedback_owner else None,
        coordinators=tuple(a.unit for a in route.coordinators),
        agenda=route.agenda,
        report_upward=route.report_upward,
    )


def _check(name: str, expected: list[Outcome], got: list[Outcome]) -> None:
    wrong = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b]
    if wrong:
        i = wrong[0]
        raise AssertionError(
            f"{name} disagrees with the kernel on {len(wrong)} tickets; first: "
            f"kernel {expected[i]} vs {name} {got[i]}"
        )


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Time every contender and add the rows."""
    ruleset = load_rules(RULES)
    kernel = Kernel(ruleset)
    tickets = [kernel.validate(d) for d in make_tickets(ruleset.reference, settings.tickets)]
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    clocks = ClockEvaluator(ruleset.deadlines, ruleset.calendar)
    states = ticket_states(ruleset, settings.tickets)
    log(f"evaluation: {len(tickets)} tickets, {len(states)} ticket states (clocks)")

    # -- the baselines must agree with the kernel before anything is timed
    expected = [outcome(kernel.evaluate(t)) for t in tickets]
    plain = PlainEvaluator(ruleset)
    _check("plain Python", expected, [plain.evaluate(t.values) for t in tickets])
    raw = RawEngine(kernel, tickets)
    for ticket, (first, fired) in zip(tickets, raw.run(), strict=True):
        evaluation = kernel.evaluate(ticket)
        decision = evaluation.grade.decision
        assert decision is not None and first == decision.source.index
        assert sorted(set(fired)) == [d.source.index for d in evaluation.route.matched]
    zen: Any = None
    try:
        from bench.zen_graph import ZenEvaluator

        zen = ZenEvaluator(ruleset)
    except ImportError:
        report.notes.append("zen-engine is not installed: `.venv/bin/pip install zen-engine`")
    if zen is not None:
        _check("zen-engine", expected, [zen.evaluate(t.data) for t in tickets])
        _check(
            "zen-engine (ZenDecision)", expected, [zen.evaluate_decision(t.data) for t in tickets]
        )
        grades = [o.grade for o in expected]
        assert [zen.grade(t.data) for t in tickets] == grades
        log(
            f"evaluation: zen-engine, plain Python and raw agree with the kernel on {len(tickets)} tickets"
        )
    count = len(tickets)

    # -- contenders (one pass over the tickets each)
    evaluate = kernel.evaluate
    grade_only = kernel.grade_only
    clock = clocks.evaluate
    pairs = list(zip(tickets, states, strict=True))

    def kernel_full() -> None:
        for ticket, state in pairs:
            evaluate(ticket)
            clock(state, AS_OF)

    # Grading alone takes a few microseconds a ticket: five passes per timing keep it measurable.
    passes = 5

    def repeat(action: Callable[[], object]) -> Callable[[], None]:
        def run_passes() -> None:
            for _ in range(passes):
                action()

        return run_passes

    contenders: dict[str, Callable[[], object]] = {
        "kernel": lambda: [evaluate(t) for t in tickets],
        "kernel+clocks": kernel_full,
        "clocks": lambda: [clock(s, AS_OF) for s in states],
        "raw": raw.run,
        "plain": lambda: [plain.evaluate(t.values) for t in tickets],
        "grade_only": repeat(lambda: [grade_only(t) for t in tickets]),
        "raw grading": repeat(raw.run_grading),
        "plain grading": repeat(lambda: [plain.grade(t.values) for t in tickets]),
    }
    if zen is not None:
        contenders["zen"] = lambda: [zen.evaluate(t.data) for t in tickets]
        contenders["zen grading"] = repeat(lambda: [zen.grade(t.data) for t in tickets])
    seconds = interleave(contenders, settings.repeats)
    rate = {
        name: [count * (passes if name in GRADING else 1) / s for s in runs]
        for name, runs in seconds.items()
    }
    decision_rate: list[float] = []
    if zen is not None:  # the slow binding entry point: fewer rounds
        decision_rate = [
            count / s
            for s in interleave(
                {"zd": lambda: [zen.evaluate_decision(t.data) for t in tickets]},
                max(3, settings.repeats // 3),
            )["zd"]
        ]

    add = report.summary
    add(
        SECTION,
        "Kernel.evaluate + ClockEvaluator.evaluate",
        rate["kernel+clocks"],
        "tickets/s",
        note="grade+route+clocks",
    )
    add(SECTION, "Kernel.evaluate (grade+route)", rate["kernel"], "tickets/s")
    add(SECTION, "ClockEvaluator.evaluate alone", rate["clocks"], "tickets/s")
    add(SECTION, "(a) raw durable-rules, grade+route", rate["raw"], "tickets/s")
    add(SECTION, "(b) plain Python, grade+route", rate["plain"], "tickets/s")
    if zen is not None:
        add(SECTION, "(c) zen-engine ZenEngine.evaluate", rate["zen"], "tickets/s")
        add(SECTION, "(c') zen-engine ZenDecision.evaluate", decision_rate, "tickets/s")
    add(
        SECTION,
        "ratio kernel/(a) raw durable-rules",
        ratios(rate["kernel"], rate["raw"]),
        "x",
        target="≥ 0.50",
        check=lambda v: v >= 0.5,
    )
    add(SECTION, "ratio kernel/(b) plain Python", ratios(rate["kernel"], rate["plain"]), "x")
    if zen is not None:
        add(
            SECTION,
            "ratio kernel/(c) zen-engine",
            ratios(rate["kernel"], rate["zen"]),
            "x",
            target="≥ 1.50",
            check=lambda v: v >= 1.5,
        )
    add(SECTION, "Kernel.grade_only", rate["grade_only"], "tickets/s")
    add(SECTION, "(a) raw durable-rules, grading", rate["raw grading"], "tickets/s")
    add(SECTION, "(b) plain Python, grading", rate["plain grading"], "tickets/s")
    if zen is not None:
        add(SECTION, "(c) zen-engine, grading table", rate["zen grading"], "tickets/s")
    add(
        SECTION,
        "ratio grade_only/(a) raw grading",
        ratios(rate["grade_only"], rate["raw grading"]),
        "x",
    )
    add(
        SECTION,
        "ratio grade_only/(b) plain grading",
        ratios(rate["grade_only"], rate["plain grading"]),
        "x",
    )
    if zen is not None:
        add(
            SECTION,
            "ratio grade_only/(c) zen grading",
            ratios(rate["grade_only"], rate["zen grading"]),
            "x",
        )
    kernel.close()
