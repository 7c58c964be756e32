"""The one place where the command line reads the wall clock.

The kernel never reads it: every computation takes an ``as_of`` date, and a command's default
for ``--as-of`` (today) and the outbox's "now" come from here.
"""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """The current moment, timezone-aware in the machine's local zone."""
    return dt.datetime.now().astimezone()


def today() -> dt.date:
    """The machine's local date: the default of every ``--as-of``."""
    return now().date()
