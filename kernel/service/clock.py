"""The service's only reading of the wall clock (as ``kernel/cli/clock.py`` is the CLI's).

Routes take "now" from :attr:`kernel.service.context.ServiceContext.clock`, which is this
function unless a test gives another; the kernel below always receives the date as an argument.
"""

from __future__ import annotations

import datetime as dt


def wall_clock() -> dt.datetime:
    """Now, timezone-aware, in the machine's local zone (China Standard Time in deployment)."""
    return dt.datetime.now().astimezone()
