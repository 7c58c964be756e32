"""One table, several outputs: a terminal table, JSON, CSV files and an .xlsx workbook.

A table declares the kind of each column (:data:`TEXT`, :data:`NUMBER`, :data:`PERCENT`,
:data:`DATE`, :data:`YES_NO`, :data:`LIST`) instead of each writer guessing from the cells: in a
workbook a date column holds real date cells, a number column numbers, a yes/no column 是/否; in
text and CSV the same columns read ``2026-03-01``, ``4.98``, ``是``. Rows keep the typed values
(``datetime.date``, ``int``/``float``, ``bool``, lists) so JSON keeps them too.

Text from users never becomes a spreadsheet formula: a text cell beginning with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written as text (xlsx) or behind a ``'`` (CSV).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from kernel.errors import InputError
from kernel.escape import FORMULA_START as ESCAPE_FORMULA_START
from kernel.escape import visible
from kernel.vocabulary import yes_no

FORMATS = ("text", "json", "csv", "xlsx")

#: column kinds
TEXT = "text"
NUMBER = "number"
PERCENT = "percent"  # a share between 0 and 1, shown as 85.0%
DATE = "date"
YES_NO = "yes_no"
LIST = "list"  # a list of values, joined with 、
KINDS = frozenset({TEXT, NUMBER, PERCENT, DATE, YES_NO, LIST})

#: what a spreadsheet reads as the start of a formula
FORMULA_START = ESCAPE_FORMULA_START  # what a spreadsheet reads as the start of a formula
#: characters Excel refuses in sheet names (and, with the path separators, in file names)
_UNSAFE_NAME = re.compile(r'[\[\]:*?/\\<>|"\x00-\x1f]')
#: control characters a workbook cannot hold (written as \\u001b)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
#: the widest a workbook column is made (characters; longer text wraps on screen)
MAX_WIDTH = 50


@dataclass(frozen=True)
class Table:
    """Rows under Chinese headers; ``keys`` are the JSON field names of the columns."""

    title: str
    keys: tuple[str, ...]
    headers: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    #: the columns a terminal shows (all of them when empty); files always get every column
    brief: tuple[str, ...] = ()
    #: the kind of each column, by key; a column not named here is :data:`TEXT`
    kinds: Mapping[str, str] = field(default_factory=dict)
    #: the sheet's name in a workbook and the file's name among CSV files (default: the title)
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.headers):
            raise ValueError(
                f"table {self.title!r}: {len(self.keys)} keys, {len(self.headers)} headers"
            )
        unknown = set(self.kinds) - set(self.keys)
        if unknown:
            raise ValueError(f"table {self.title!r}: kinds for unknown columns {sorted(unknown)}")
        bad = set(self.kinds.values()) - KINDS
        if bad:
            raise ValueError(f"table {self.title!r}: unknown column kinds {sorted(bad)}")

    @classmethod
    def of(
        cls,
        title: str,
        columns: Sequence[tuple[str, str] | tuple[str, str, str]],
        rows: list[tuple[Any, ...]],
        *,
        brief: tuple[str, ...] = (),
        name: str = "",
    ) -> Table:
        """A table from ``(key, header)`` or ``(key, header, kind)`` column declarations."""
        return cls(
            title=title,
            keys=tuple(c[0] for c in columns),
            headers=tuple(c[1] for c in columns),
            rows=rows,
            brief=brief,
            kinds={c[0]: c[2] for c in columns if len(c) == 3 and c[2] != TEXT},
            name=name,
        )

    def kind(self, key: str) -> str:
        """The kind of one column."""
        return self.kinds.get(key, TEXT)

    def column_kinds(self) -> tuple[str, ...]:
        """The kind of every column, in order."""
        return tuple(self.kind(k) for k in self.keys)

    def records(self) -> list[dict[str, Any]]:
        """Rows as JSON objects keyed by ``keys`` (typed values; dates become ISO text in JSON)."""
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    def text_rows(self) -> list[list[str]]:
        """Every cell as the text a terminal, Markdown or CSV shows."""
        kinds = self.column_kinds()
        return [[shown(v, k) for v, k in zip(row, kinds, strict=True)] for row in self.rows]

    @property
    def sheet_name(self) -> str:
        """A name Excel accepts for the sheet: no ``[]:*?/\\``, at most 31 characters."""
        return _UNSAFE_NAME.sub("_", self.name or self.title)[:31].strip("' ") or "Sheet"


def cell(value: Any) -> Any:
    """A value as a spreadsheet or terminal cell: lists joined with 、, booleans as 是/否,
    control characters escaped."""
    if isinstance(value, list | tuple):
        return visible("、".join(str(v) for v in value), one_line=True)
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, str):
        return visible(value, one_line=True)
    return "" if value is None else value


def number_text(value: float) -> str:
    """``40``, ``4.98``, ``0.5``: no trailing zeros, no exponent for office-sized numbers."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def shown(value: Any, kind: str = TEXT) -> str:
    """The text of a cell of the given kind, as a terminal, Markdown or CSV shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, list | tuple):
        return "、".join(shown(v) for v in value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return f"{value:.1%}" if kind == PERCENT else number_text(value)
    return visible(str(value), one_line=True)  # input's control characters shown escaped


def formula_safe(text: str) -> str:
    """CSV text that no spreadsheet runs as a formula (``'`` in front when it would)."""
    return "'" + text if text.startswith(FORMULA_START) else text


def render(table: Table, fmt: str) -> str:
    """The table as text, JSON or CSV (for xlsx use :func:`write_xlsx`)."""
    if fmt == "json":
        return json.dumps(table.records(), ensure_ascii=False, indent=2, default=_json_default)
    if fmt == "csv":
        # to be printed (print adds the last newline) through the escaping stream, which writes
        # a CR inside a text as \u000d: LF line ends (a file gets CRLF: write_csv)
        return csv_text(table, lineterminator="\n").removesuffix("\n")
    picked = [table.keys.index(k) for k in table.brief] if table.brief else range(len(table.keys))
    if not table.rows:
        return f"{table.title}\n（无）"
    return f"{table.title}\n{text_table(table, picked)}"


def text_table(table: Table, picked: Iterable[int] | None = None, tablefmt: str = "simple") -> str:
    """The rows as an aligned text or Markdown table (numbers right-aligned)."""
    columns = list(picked) if picked is not None else list(range(len(table.keys)))
    kinds = table.column_kinds()
    rows = table.text_rows()
    return tabulate(
        [[row[i] for i in columns] for row in rows],
        headers=[table.headers[i] for i in columns],
        tablefmt=tablefmt,
        disable_numparse=True,
        colalign=["right" if kinds[i] in (NUMBER, PERCENT) else "left" for i in columns],
    )


def csv_text(table: Table, lineterminator: str = "\r\n") -> str:
    """The table as CSV for Excel: UTF-8 with a BOM, CRLF, formulas kept as text."""
    buffer = io.StringIO()
    buffer.write("\ufeff")  # BOM: Excel then reads UTF-8 correctly
    _write_csv_rows(csv.writer(buffer, lineterminator=lineterminator), table)
    return buffer.getvalue()


def write_csv(table: Table, output: Path) -> None:
    """Write the table to ``output`` as :func:`csv_text` gives it, a row at a time (every cell
    is already escaped and formula-safe: the file's CRLF stays as it is)."""
    try:
        with output.open("w", encoding="utf-8", newline="") as stream:
            stream.write("\ufeff")
            _write_csv_rows(csv.writer(stream, lineterminator="\r\n"), table)
    except OSError as exc:
        raise InputError(f"无法写入 {output}：{exc.strerror}") from exc


def _write_csv_rows(writer: Any, table: Table) -> None:
    """The header and every row, each cell as shown and formula-safe; one row's texts at a time."""
    writer.writerow([formula_safe(h) for h in table.headers])
    kinds = table.column_kinds()
    safe = [k in (NUMBER, PERCENT, DATE) for k in kinds]
    columns = list(zip(kinds, safe, strict=True))
    for row in table.rows:
        writer.writerow(
            [
                shown(v, k) if plain else formula_safe(shown(v, k))
                for v, (k, plain) in zip(row, columns, strict=True)
            ]
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def file_names(tables: Sequence[Table], suffix: str) -> list[str]:
    """One distinct, safe file name per table: its sheet name plus ``suffix``."""
    names: list[str] = []
    for table in tables:
        stem = table.sheet_name
        candidate, n = stem, 2
        while f"{candidate}{suffix}" in names:
            candidate, n = f"{stem}-{n}", n + 1
        names.append(f"{candidate}{suffix}")
    return names


def write_csv_files(tables: Sequence[Table], output: Path) -> list[str]:
    """Each table as its own CSV file, in the folder ``output`` or in ``output`` as a .zip.

    Returns the file names written. A folder is created when missing; files of the same name
    in it are replaced, other files are left alone.
    """
    names = file_names(tables, ".csv")
    texts = [csv_text(t).encode("utf-8") for t in tables]
    try:
        if output.suffix.lower() == ".zip":
            with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, data in zip(names, texts, strict=True):
                    archive.writestr(name, data)
        else:
            if output.exists() and not output.is_dir():
                raise InputError(
                    f"{output} 是文件：多张表的 CSV 要写入文件夹或 .zip 文件（如 --output 报表.zip）"
                )
            output.mkdir(parents=True, exist_ok=True)
            for name, data in zip(names, texts, strict=True):
                (output / name).write_bytes(data)
    except OSError as exc:
        raise InputError(f"无法写入 {output}：{exc.strerror or exc}") from exc
    return names


def display_width(text: str) -> int:
    """Columns ``text`` takes on screen: Chinese characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


_NUMBER_FORMATS = {DATE: "yyyy-mm-dd", PERCENT: "0.0%", NUMBER: "General"}


def _xlsx_value(value: Any, kind: str) -> Any:
    """The cell value of one column kind: dates, numbers and 是/否 typed, the rest text."""
    if value is None:
        return None
    if kind == DATE:
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                return value
    if kind in (NUMBER, PERCENT) and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", shown(value, kind))


def write_xlsx(tables: Sequence[Table], path: Path) -> None:
    """Write each table to a sheet of one workbook, ready to filter, sort, sum and print.

    Each sheet has a bold, frozen header row with an autofilter, columns as wide as their
    content (up to :data:`MAX_WIDTH`), typed cells, and a page setup for printing: A4
    landscape, one page wide, the header row repeated on every page, the table's title at the
    top and 第 N 页 at the bottom.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    workbook = Workbook()
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    taken: set[str] = set()
    for index, table in enumerate(tables):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        name, n = table.sheet_name, 2
        while name in taken:
            name, n = f"{table.sheet_name[:28]}-{n}", n + 1
        taken.add(name)
        sheet.title = name
        kinds = table.column_kinds()
        sheet.append([str(h) for h in table.headers])
        for header_cell in sheet[1]:
            header_cell.font = bold
            header_cell.fill = fill
            header_cell.alignment = Alignment(vertical="center")
        widths = [display_width(str(h)) for h in table.headers]
        for row_number, row in enumerate(table.rows, start=2):
            for column, (value, kind) in enumerate(zip(row, kinds, strict=True), start=1):
                target = sheet.cell(row=row_number, column=column)
                target.value = _xlsx_value(value, kind)
                if isinstance(target.value, str):
                    target.data_type = "s"  # text from users: never a formula
                    if target.value.startswith(FORMULA_START):
                        target.quotePrefix = True
                elif kind in _NUMBER_FORMATS and target.value is not None:
                    target.number_format = _NUMBER_FORMATS[kind]
                if row_number <= 500:
                    text = shown(value, kind)
                    widths[column - 1] = max(widths[column - 1], display_width(text))
        for column, width in enumerate(widths, start=1):
            letter = get_column_letter(column)
            sheet.column_dimensions[letter].width = min(max(width + 2, 8), MAX_WIDTH)
            if width > MAX_WIDTH:
                for (target,) in sheet.iter_rows(
                    min_row=2, min_col=column, max_col=column, max_row=sheet.max_row
                ):
                    target.alignment = wrap
        last = get_column_letter(max(len(table.headers), 1))
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{last}{max(sheet.max_row, 1)}"
        sheet.print_title_rows = "1:1"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        sheet.print_options.gridLines = True
        header, footer = sheet.oddHeader, sheet.oddFooter
        if header is not None and footer is not None:
            header.center.text = _header_text(table.title)
            footer.center.text = "第 &P 页，共 &N 页"
    try:
        workbook.save(path)
    except OSError as exc:
        raise InputError(f"无法写入 {path}：{exc.strerror}") from exc


def _header_text(title: str) -> str:
    # & starts a code in Excel's page headers; && is a literal ampersand
    return title.replace("&", "&&")


def emit(table: Table, fmt: str, output: Path | None) -> str | None:
    """Write the table to ``output`` or return the text to print (xlsx needs ``output``)."""
    if fmt == "xlsx":
        if output is None:
            raise InputError("xlsx 格式需要用 --output 指定文件")
        write_xlsx([table], output)
        return None
    if fmt == "csv" and output is not None:
        if output.suffix.lower() == ".zip":
            write_csv_files([table], output)
        else:
            write_csv(table, output)
        return None
    return text_or_file(render(table, fmt), output)


def text_or_file(text: str, output: Path | None) -> str | None:
    """Return ``text`` to print, or write it to ``output`` and return None."""
    if output is None:
        return text
    try:
        output.write_text(visible(text), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"无法写入 {output}：{exc.strerror}") from exc
    return None
