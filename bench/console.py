"""Benchmark 6: the web console's pages on the demo ledger -- server time, p50 and p95.

``huhang demo`` simulates a year of 汉中 into a SQLite ledger in a temporary folder; the console
(mounted on the service's app, as ``huhang serve`` runs it) answers in-process through
Starlette's test client, signed in as the office. Each page is requested repeatedly with
varying parameters; the time is from the request to the last byte of the answer, in the server's
process (no network). The 台账 is computed once per ledger size and date, so its first request
is timed apart (cold) from the ones that filter, sort and page the computed table.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import RULES, Report, Row, Settings
from bench.startup import huhang

SECTION = "console"
AS_OF = dt.datetime(2026, 12, 31, 9, tzinfo=dt.UTC)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    if len(samples) < 2:
        return samples[0], samples[0]
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return statistics.median(samples), cuts[18]


def _timed(client: Any, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise AssertionError(f"{path}: {response.status_code} {response.text[:200]}")
    return elapsed * 1000


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Time the 台账 (filters), a problem's page and the assessment on the demo ledger."""
    import re

    from starlette.testclient import TestClient

    from kernel.service.app import create_app
    from kernel.service.context import open_service
    from kernel.web.accounts import add_account
    from kernel.web.app import mount_console

    repeats = 10 if settings.quick else 40
    with tempfile.TemporaryDirectory(prefix="huhang-bench-console-") as name:
        folder = Path(name)
        env = dict(os.environ, HUHANG_PROGRESS="0", HUHANG_RULES=str(RULES))
        subprocess.run(
            [*huhang(), "demo", "--out", str(folder / "demo")],
            env=env,
            check=True,
            capture_output=True,
        )
        context = open_service(
            db=str(folder / "demo" / "huhang.db"), rules=RULES, clock=lambda: AS_OF
        )
        try:
            add_account(
                context.ledger.storage,
                "bench",
                "bench-password",
                principal="压测",
                unit="助商稳企办",
                role="office",
            )
            app = mount_console(create_app(context), secret=b"x" * 32)
            client = TestClient(app, base_url="https://testserver", follow_redirects=False)
            login = client.get("/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', login)
            assert token is not None
            client.post(
                "/login",
                data={"csrf": token.group(1), "name": "bench", "password": "bench-password"},
            )
            tickets = sorted(context.projection().tickets)
            log(
                f"console: demo ledger of {context.ledger.storage.count():,} events, {len(tickets):,} problems"
            )
            cold = _timed(client, "/ledger")
            filters = [
                "/ledger?grade=C",
                "/ledger?overdue=是&sort=overdue_workdays&dir=desc",
                "/ledger?territory=汉台区&month=2026-06",
                "/ledger?state=已办结&page=2",
                "/ledger?category=用工&sort=enterprise",
            ]
            ledger = [_timed(client, filters[i % len(filters)]) for i in range(repeats)]
            step = max(1, len(tickets) // repeats)
            ticket = [
                _timed(client, f"/tickets/{tickets[i * step % len(tickets)]}")
                for i in range(repeats)
            ]
            assessment = [
                _timed(client, "/reports/assessment?period=2026")
                for _ in range(max(3, repeats // 4))
            ]
        finally:
            context.close()
    report.summary(
        SECTION, "台账 page, first request (computes the 台账), server wall", [cold], "ms"
    )
    for label, samples in (
        ("台账 page with filters, sorting, pages", ledger),
        ("办理单 page (timeline, explanation, clocks)", ticket),
        ("考核 page (assessment 2026)", assessment),
    ):
        _, p95 = _percentiles(samples)
        report.summary(SECTION, f"{label}, server p50 (wall)", samples, "ms")
        report.add(Row(SECTION, f"{label}, server p95 (wall)", p95, "ms", runs=len(samples)))
