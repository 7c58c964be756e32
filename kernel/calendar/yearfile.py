"""Write a year of the working-day calendar as ``rules/calendar/YYYY.yaml``.

The layout is fixed (the order of keys, two-space indents, one line per value), so a file written
from a notice, read back and written again is byte-for-byte the same: the shipped files are
exactly what ``huhang calendar import`` writes.
"""

from __future__ import annotations

import json

import yaml

from kernel.calendar.workdays import CalendarYear
from kernel.inputs.sourcefile import SAFE_LOADER

__all__ = ["SCHEMA_COMMENT", "render_year"]

SCHEMA_COMMENT = "# yaml-language-server: $schema=../../kernel/schemas/calendar.schema.json"


def _scalar(text: str) -> str:
    """A plain YAML scalar when it reads back as the same string, else a double-quoted one."""
    if text and "\n" not in text and text == text.strip():
        try:
            if yaml.load(f"k: {text}", Loader=SAFE_LOADER) == {"k": text}:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(text, ensure_ascii=False)


def render_year(item: CalendarYear) -> str:
    """The YAML text of one year."""
    lines = [
        SCHEMA_COMMENT,
        f"# {item.year} 年工作日历（全国统一放假安排）",
        f"year: {item.year}",
        f"source: {_scalar(item.source)}",
        f"published: {item.published.isoformat()}",
    ]
    if item.note:
        lines.append(f"note: {_scalar(item.note)}")
    if item.amendments:
        lines.append("amendments:")
        for amendment in item.amendments:
            lines += [
                f"  - source: {_scalar(amendment.source)}",
                f"    published: {amendment.published.isoformat()}",
                f"    summary: {_scalar(amendment.summary)}",
            ]
    lines.append("holidays:")
    for holiday in item.holidays:
        lines += [
            f"  - name: {_scalar(holiday.name)}",
            f"    from: {holiday.start.isoformat()}",
            f"    to: {holiday.end.isoformat()}",
        ]
        if holiday.note:
            lines.append(f"    note: {_scalar(holiday.note)}")
    lines.append("makeup_workdays:" if item.makeup_workdays else "makeup_workdays: []")
    for makeup in item.makeup_workdays:
        lines += [f"  - date: {makeup.day.isoformat()}", f"    name: {_scalar(makeup.name)}"]
        if makeup.note:
            lines.append(f"    note: {_scalar(makeup.note)}")
    return "\n".join(lines) + "\n"
