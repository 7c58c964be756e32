"""Benchmark 4: start-up -- ``huhang validate`` wall time and the slowest imports.

``huhang validate`` runs as a subprocess on the default rules (the console script of the venv),
timed by wall clock, since start-up is what a person waits for. The kernel's bytecode is
written first, as installing the package does: an editable checkout run with
``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every kernel module it imports on every
start. ``python -X importtime``
on the same command lists the modules whose import costs the most (self time, and cumulative
time for top-level packages), and one in-process run splits the command into import, rule
loading and the rest.
"""

from __future__ import annotations

import compileall
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import ROOT, Report, Settings

SECTION = "startup"
_LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")

SPLIT = """
import time
t0 = time.perf_counter()
import kernel.cli.main
t1 = time.perf_counter()
from kernel.rules.load import check_rules
ruleset, problems = check_rules()
t2 = time.perf_counter()
assert ruleset is not None and not problems
print(t1 - t0, t2 - t1)
"""


def huhang() -> list[str]:
    """The ``huhang`` console script next to this interpreter (``python -m kernel`` if absent)."""
    script = Path(sys.executable).with_name("huhang")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kernel"]


def importtime() -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for every import of ``huhang validate``."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "kernel", "validate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            rows.append((int(own), int(cumulative), (len(indent) - 1) // 2, name))
    return rows


def cache_bytecode() -> None:
    """Write the kernel's bytecode into its ``__pycache__`` folders, as ``pip install`` does.

    ``compileall`` writes it even under ``PYTHONDONTWRITEBYTECODE``; a module edited later is
    compiled again when imported, as without a cache.
    """
    compileall.compile_dir(ROOT / "kernel", quiet=1)


def run(settings: Settings, report: Report, log: Callable[[str], None]) -> None:
    """Time ``huhang validate`` and list the slowest imports."""
    cache_bytecode()
    command = [*huhang(), "validate"]
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)  # warm the file cache
    walls = []
    for _ in range(settings.startup_repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    report.summary(
        SECTION,
        "huhang validate (default rules), wall",
        walls,
        "s",
        target="< 0.25",
        check=lambda v: v < 0.25,
    )
    imports, loading = [], []
    for _ in range(max(3, settings.startup_repeats // 2)):
        done = subprocess.run(
            [sys.executable, "-c", SPLIT], cwd=ROOT, capture_output=True, text=True, check=True
        )
        first, second = (float(x) for x in done.stdout.split())
        imports.append(first)
        loading.append(second)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = time.perf_counter() - started
    report.summary(SECTION, "  of which: import kernel.cli.main", imports, "s")
    report.summary(SECTION, "  of which: check_rules (load + check + calendar)", loading, "s")
    report.summary(SECTION, "  of which: bare interpreter start", [bare], "s")

    rows = importtime()
    top_self = sorted(rows, reverse=True)[:8]
    packages: dict[str, int] = {}
    for own, _, _, name in rows:
        root = name.split(".")[0]
        packages[root] = packages.get(root, 0) + own
    top_packages = sorted(packages.items(), key=lambda kv: -kv[1])[:8]
    total = sum(own for own, _, _, _ in rows)
    report.summary(SECTION, "  import time, all modules (-X importtime)", [total / 1e6], "s")
    report.notes.append(
        "startup: import time of `huhang validate` by top-level package (sum of self ms): "
        + ", ".join(f"{name} {us / 1000:.0f}" for name, us in top_packages)
    )
    report.notes.append(
        "startup: slowest modules by self time (ms): "
        + ", ".join(f"{name} {own / 1000:.1f}" for own, _, _, name in top_self)
    )
    log("startup: done")
