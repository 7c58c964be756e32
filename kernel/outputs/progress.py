"""A plain progress bar on stderr, for long ingests and simulations."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

PROGRESS_ENV = "HUHANG_PROGRESS"  # "1" forces the bar on (e.g. in tests), "0" off


class Progress:
    """``导入 [########------------]  40%  4,000/10,000``, redrawn at most ten times a second."""

    def __init__(
        self, total: int, label: str, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self._drawn = 0.0
        forced = os.environ.get(PROGRESS_ENV)
        self.enabled = forced == "1" or (forced != "0" and self.stream.isatty())

    def advance(self, count: int = 1) -> None:
        """Count ``count`` more items; redraw if enough time has passed."""
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self._drawn >= 0.1 or self.done >= self.total):
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {share:4.0%}  {self.done:,}/{self.total:,}")
        self.stream.flush()

    def close(self) -> None:
        """Finish the line."""
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
