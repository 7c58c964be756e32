"""Built-in calendar source: the YAML files in ``<rules>/calendar/``."""

from __future__ import annotations

from pathlib import Path

from kernel.calendar.workdays import WorkCalendar
from kernel.hookspecs import hookimpl


@hookimpl
def huhang_calendar(rules_dir: Path) -> WorkCalendar | None:
    """Read ``rules_dir/calendar/*.yaml``; None when the folder does not exist."""
    folder = rules_dir / "calendar"
    if not folder.is_dir():
        return None
    return WorkCalendar.from_dir(folder)
