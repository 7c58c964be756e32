"""``huhang demo``: a synthetic year of 汉中's programme, run through the real kernel.

It generates about 300 enterprises (valid 统一社会信用代码, "四个一" assignments) in the
territories of ``units.yaml`` and a year of contacts and about 1,500 problems, ingests the
events into a SQLite ledger day by day through the ingest path (the rules grade every reported
ticket), runs the deadline sweep every day (warnings, 督办, 通报, 约谈 into the outbox), and
writes the 台账, the monthly reports, the annual assessment and a chart of closure rates.

Modules: :mod:`kernel.demo.generate` (the world and the day-by-day simulation),
:mod:`kernel.demo.outputs` (``run_demo``, the files and the summary), :mod:`kernel.demo.chart`
(the PNG); the command line is :mod:`kernel.cli.demo`.
"""

from __future__ import annotations

from pathlib import Path

YEAR = 2026
DEFAULT_SEED = 2026
DEFAULT_ENTERPRISES = 300
DEFAULT_PROBLEMS = 1500
DEFAULT_OUT = Path("demo-out")
