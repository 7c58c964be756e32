"""Prometheus metrics in the text exposition format, kept in the worker process.

With one worker (``huhang serve``) the counters are that process's. With ``--workers N`` every
worker is a :class:`SharedMetrics`: it writes its counters to a file of its own in a folder that
``huhang serve`` makes for the run (:data:`ENV_DIR`) at most every :data:`FLUSH_SECONDS`, and a
scrape, whichever worker answers it, adds up its own live counters and the other workers' files,
so ``/metrics`` shows the whole server (the other workers' part at most a second old). A worker
that uvicorn replaced keeps its file, so totals never go down during a run; a new run of ``huhang
serve`` starts from zero, as Prometheus expects of a restarted target. Across several hosts each
host is its own target. The outbox backlog is read from the ledger at scrape time.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

#: the folder of the workers' counter files (set by ``huhang serve --workers N``)
ENV_DIR = "HUHANG_METRICS_DIR"
#: a worker writes its counters at most this often
FLUSH_SECONDS = 1.0

#: upper bounds of the request latency histogram, in seconds
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """The service's counters (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[tuple[str, str], int] = defaultdict(int)
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[int]] = {}
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.sweeps = 0
        self.sweep_seconds = 0.0
        self.last_sweep_seconds = 0.0
        #: when the last sweep ended (seconds since the epoch; only to pick the latest worker's)
        self.last_sweep_at = 0.0

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON (what a worker writes for the others)."""
        with self._lock:
            return {
                "events": [[*k, n] for k, n in self.events.items()],
                "requests": [[*k, n] for k, n in self.requests.items()],
                "latency": [[*k, list(c), self.latency_sum[k]] for k, c in self.latency.items()],
                "sweeps": self.sweeps,
                "sweep_seconds": self.sweep_seconds,
                "last_sweep_seconds": self.last_sweep_seconds,
                "last_sweep_at": self.last_sweep_at,
            }

    def add(self, snapshot: dict[str, Any]) -> None:
        """Add another worker's counters (a :meth:`snapshot`) to these."""
        with self._lock:
            for result, reason, n in snapshot["events"]:
                self.events[(result, reason)] += int(n)
            for method, route, status, n in snapshot["requests"]:
                self.requests[(method, route, status)] += int(n)
            for method, route, counts, total in snapshot["latency"]:
                mine = self.latency.setdefault((method, route), [0] * (len(BUCKETS) + 1))
                for i, n in enumerate(counts[: len(mine)]):
                    mine[i] += int(n)
                self.latency_sum[(method, route)] += float(total)
            self.sweeps += int(snapshot["sweeps"])
            self.sweep_seconds += float(snapshot["sweep_seconds"])
            if float(snapshot["last_sweep_at"]) > self.last_sweep_at:
                self.last_sweep_at = float(snapshot["last_sweep_at"])
                self.last_sweep_seconds = float(snapshot["last_sweep_seconds"])

    def event(self, result: str, reason: str = "") -> None:
        """Count one submitted event: accepted, duplicate or rejected (with a reason code)."""
        with self._lock:
            self.events[(result, reason)] += 1

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        key = (method, route)
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            counts = self.latency.setdefault(key, [0] * (len(BUCKETS) + 1))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            counts[-1] += 1
            self.latency_sum[key] += seconds

    def sweep(self, seconds: float) -> None:
        """Record one sweep's duration."""
        with self._lock:
            self.sweeps += 1
            self.sweep_seconds += seconds
            self.last_sweep_seconds = seconds
            self.last_sweep_at = time.time()

    def render(self, outbox: dict[str, int]) -> str:
        """The exposition text; ``outbox`` counts deliveries by status."""
        lines: list[str] = []
        with self._lock:
            lines += [
                "# HELP huhang_events_total Events submitted over the API, by result and reason.",
                "# TYPE huhang_events_total counter",
            ]
            for (result, reason), n in sorted(self.events.items()):
                lines.append(
                    f'huhang_events_total{{result="{_label(result)}",reason="{_label(reason)}"}} {n}'
                )
            lines += [
                "# HELP huhang_http_requests_total Requests answered, by route and status.",
                "# TYPE huhang_http_requests_total counter",
            ]
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(
                    f'huhang_http_requests_total{{method="{method}",route="{_label(route)}",'
                    f'status="{status}"}} {n}'
                )
            lines += [
                "# HELP huhang_http_request_duration_seconds Request latency by route.",
                "# TYPE huhang_http_request_duration_seconds histogram",
            ]
            for (method, route), counts in sorted(self.latency.items()):
                labels = f'method="{method}",route="{_label(route)}"'
                for bound, n in zip(BUCKETS, counts, strict=False):
                    lines.append(
                        f'huhang_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                        f"{int(n)}"
                    )
                lines.append(
                    f'huhang_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} '
                    f"{int(counts[-1])}"
                )
                lines.append(
                    f"huhang_http_request_duration_seconds_sum{{{labels}}} "
                    f"{self.latency_sum[(method, route)]:.6f}"
                )
                lines.append(
                    f"huhang_http_request_duration_seconds_count{{{labels}}} {int(counts[-1])}"
                )
            lines += [
                "# HELP huhang_sweep_duration_seconds Deadline sweeps run over the API.",
                "# TYPE huhang_sweep_duration_seconds summary",
                f"huhang_sweep_duration_seconds_sum {self.sweep_seconds:.6f}",
                f"huhang_sweep_duration_seconds_count {self.sweeps}",
                "# HELP huhang_sweep_last_duration_seconds The last sweep's duration.",
                "# TYPE huhang_sweep_last_duration_seconds gauge",
                f"huhang_sweep_last_duration_seconds {self.last_sweep_seconds:.6f}",
            ]
        lines += [
            "# HELP huhang_outbox_backlog Outbox deliveries by status.",
            "# TYPE huhang_outbox_backlog gauge",
        ]
        for status, n in sorted(outbox.items()):
            lines.append(f'huhang_outbox_backlog{{status="{_label(status)}"}} {n}')
        return "\n".join(lines) + "\n"


class SharedMetrics(Metrics):
    """One worker's counters of ``huhang serve --workers N``; a scrape shows every worker's.

    ``worker`` names this worker's file in ``folder`` (the process id by default).
    """

    def __init__(self, folder: Path, worker: str | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.worker = worker or str(os.getpid())
        self._written: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        """This worker's file."""
        return self.folder / f"worker-{self.worker}.json"

    def flush(self) -> None:
        """Write this worker's counters if they changed (atomically: the others never see half)."""
        snapshot = self.snapshot()
        if snapshot == self._written:
            return
        part = self.path.with_suffix(".part")
        part.write_text(json.dumps(snapshot), encoding="utf-8")
        os.replace(part, self.path)
        self._written = snapshot

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            with contextlib.suppress(OSError):
                self.flush()

    def close(self) -> None:
        """Stop writing (the file stays: its counts are part of the run's totals)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self.flush()

    def render(self, outbox: dict[str, int]) -> str:
        """The exposition text of every worker: this one's live counters and the others' files."""
        total = Metrics()
        total.add(self.snapshot())
        for path in sorted(self.folder.glob("worker-*.json")):
            if path == self.path:
                continue
            try:
                total.add(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a worker's file being replaced right now: its counts come next scrape
        return total.render(outbox)
