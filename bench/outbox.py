"""Benchmark 5: draining the outbox -- one ``huhang notify`` run over thousands of notices.

A SQLite ledger in a temporary folder gets as many notices as the demo's year queues (4,111),
each for one ``file`` notifier, and ``huhang notify`` runs as a subprocess (wall clock: what an
office waits for). The run must deliver all of them; each delivery costs two disk syncs (the
notifier's line and the ledger's record of the outcome).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import RULES, Report, Settings
from bench.startup import huhang

SECTION = "outbox"
#: what the demo's year queues with the default rules and seed
DEMO_NOTICES = 4111


def queue(folder: Path, count: int) -> None:
    """A ledger whose outbox holds ``count`` notices for the notifier ``发件箱``."""
    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules
    from kernel.storage.contract import Notice
    from kernel.storage.sqlite import SqliteStorage

    notices = [
        Notice(
            f"督办:HZ-{n:05d}:T-RESOLVE#1:汉台区",
            "supervision",
            "汉台区",
            f"办理单 HZ-{n:05d}「交办后按等级限期办结」超期",
            "请于 3 个工作日内办结并反馈。",
            dt.date(2026, 3, 2),
            f"HZ-{n:05d}",
        )
        for n in range(count)
    ]
    with SqliteStorage(str(folder / "huhang.db")) as store:
        Ledger(store, load_rules(RULES).reference, notifiers=["发件箱"]).add_notices(notices)
    (folder / "huhang.yaml").write_text(
        "notifiers:\n  - {name: 发件箱, type: file, path: notices.jsonl}\n", encoding="utf-8"
    )


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Time one run of ``huhang notify`` that delivers the whole outbox."""
    count = 1000 if settings.quick else DEMO_NOTICES
    walls = []
    for _ in range(1 if settings.quick else 3):
        with tempfile.TemporaryDirectory(prefix="huhang-bench-outbox-") as name:
            folder = Path(name)
            queue(folder, count)
            env = dict(os.environ, HUHANG_PROGRESS="0", HUHANG_RULES=str(RULES))
            start = time.perf_counter()
            subprocess.run(
                [*huhang(), "notify"], cwd=folder, env=env, check=True, capture_output=True
            )
            walls.append(time.perf_counter() - start)
            sent = len((folder / "notices.jsonl").read_text(encoding="utf-8").splitlines())
            if sent != count:
                raise AssertionError(f"huhang notify delivered {sent} of {count} notices")
            log(f"outbox: {count:,} notices in {walls[-1]:.1f} s")
    report.summary(
        SECTION,
        f"huhang notify, {count:,} notices to a file in one run, wall",
        walls,
        "s",
        note=f"{min(walls) / count * 1000:.1f} ms per notice at best",
    )
