"""One process evaluates 200,000 tickets in a row without error or growing memory."""

from __future__ import annotations

import gc
import itertools
from pathlib import Path

import pytest

from kernel import Kernel
from tests.conftest import make_ticket

TOTAL = 200_000
WARM_UP = 20_000
ALLOWED_GROWTH_MB = 8.0


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 2**20


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_200k_tickets_in_one_process(kernel: Kernel) -> None:
    variants = itertools.product(
        ["用工", "用地", "审批手续", "融资", "政策咨询", "用电", "其他"],
        ["本单位", "县区", "市级", "省级"],
        [[], ["人社局"], ["人社局", "住建局"], ["人社局", "住建局", "发改委"]],
        [True, False],
    )
    tickets = [
        kernel.validate(
            make_ticket(
                ticket_id=f"S-{i}",
                category=category,
                assessment__authority_level=level,
                assessment__departments=departments,
                assessment__needs_territory=territory,
                assessment__municipal_funds=not territory,
            )
        )
        for i, (category, level, departments, territory) in enumerate(variants)
    ]
    grades: dict[str, int] = {}
    baseline = 0.0
    for i in range(TOTAL):
        if i == WARM_UP:
            gc.collect()
            baseline = rss_mb()
        result = kernel.evaluate(tickets[i % len(tickets)])
        assert result.complete
        grades[result.grade.grade or "-"] = grades.get(result.grade.grade or "-", 0) + 1
    gc.collect()
    growth = rss_mb() - baseline
    assert sum(grades.values()) == TOTAL
    assert set(grades) == {"A", "B", "C", "D"}
    assert growth < ALLOWED_GROWTH_MB, (
        f"memory grew by {growth:.1f} MB over {TOTAL - WARM_UP} tickets"
    )
