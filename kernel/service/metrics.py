"""Prometheus metrics in the text exposition format, kept in the worker process.

Counters and histograms are per worker (a scrape through a load balancer sees one worker; scrape
each worker's port, or run one worker per host). The outbox backlog is read from the ledger at
scrape time, so it is the same from every worker.
"""

from __future__ import annotations

import threading
from collections import defaultdict

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
