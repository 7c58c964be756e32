"""One table, four outputs: a terminal table (tabulate), JSON, CSV for Excel, and .xlsx."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from kernel.errors import InputError

FORMATS = ("text", "json", "csv", "xlsx")


@dataclass(frozen=True)
class Table:
    """Rows under Chinese headers; ``keys`` are the JSON field names of the columns."""

    title: str
    keys: tuple[str, ...]
    headers: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: the columns a terminal shows (all of them when empty); files always get every column
    brief: tuple[str, ...] = ()

    def records(self) -> list[dict[str, Any]]:
        """Rows as JSON objects keyed by ``keys``."""
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]


def cell(value: Any) -> Any:
    """A value as a spreadsheet or terminal cell: lists joined with 、, booleans as 是/否."""
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else value


def render(table: Table, fmt: str) -> str:
    """The table as text, JSON or CSV (for xlsx use :func:`write_xlsx`)."""
    if fmt == "json":
        return json.dumps(table.records(), ensure_ascii=False, indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(table.headers)
        writer.writerows([cell(v) for v in row] for row in table.rows)
        return "\ufeff" + buffer.getvalue()  # BOM: Excel then reads UTF-8 correctly
    picked = [table.keys.index(k) for k in table.brief] if table.brief else range(len(table.keys))
    headers = [table.headers[i] for i in picked]
    body = tabulate([[cell(row[i]) for i in picked] for row in table.rows], headers=headers)
    return f"{table.title}\n{body}" if table.rows else f"{table.title}\n（无）"


def write_xlsx(tables: Sequence[Table], path: Path) -> None:
    """Write each table to a sheet of one workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    first = True
    for table in tables:
        sheet = workbook.active if first else workbook.create_sheet()
        assert sheet is not None
        first = False
        sheet.title = table.title[:31] or "Sheet"
        sheet.append(list(table.headers))
        for header_cell in sheet[1]:
            header_cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([cell(v) if not isinstance(v, int | float) else v for v in row])
        for i, header in enumerate(table.headers, start=1):
            width = max(
                [len(str(header)) * 2] + [len(str(cell(r[i - 1]))) * 2 for r in table.rows[:200]]
            )
            sheet.column_dimensions[get_column_letter(i)].width = min(max(width, 8), 60)
        sheet.freeze_panes = "A2"
    try:
        workbook.save(path)
    except OSError as exc:
        raise InputError(f"无法写入 {path}：{exc.strerror}") from exc


def emit(table: Table, fmt: str, output: Path | None) -> str | None:
    """Write the table to ``output`` or return the text to print (xlsx needs ``output``)."""
    if fmt == "xlsx":
        if output is None:
            raise InputError("xlsx 格式需要用 --output 指定文件")
        write_xlsx([table], output)
        return None
    return text_or_file(render(table, fmt), output)


def text_or_file(text: str, output: Path | None) -> str | None:
    """Return ``text`` to print, or write it to ``output`` and return None."""
    if output is None:
        return text
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"无法写入 {output}：{exc.strerror}") from exc
    return None
