"""Rule coverage of a set of scenario results: which rules fired, which never did."""

from __future__ import annotations

from collections.abc import Iterable

from kernel.tools.scenarios import ScenarioResult


def coverage_of(results: Iterable[ScenarioResult]) -> tuple[list[str], list[str]]:
    """Rule ids that fired in some scenario, and those that never did."""
    universe: set[str] = set()
    fired: set[str] = set()
    for result in results:
        universe |= result.universe
        fired |= result.fired
    return sorted(universe & fired), sorted(universe - fired)
