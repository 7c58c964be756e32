"""Roster import: the 《包抓企业基本情况表》 (one row per assisted enterprise) into ledger events.

:func:`read_roster` reads a ``.csv`` or ``.xlsx`` file into :class:`RosterRow` objects;
:func:`roster_events` checks every row against the reference data and turns the good rows into
``enterprise.registered`` / ``enterprise.changed`` events, to be submitted to the ledger.

Policy:

* A file with some bad rows still imports its good rows; every bad row is listed with its row
  and column, and is not imported. The CLI offers ``--strict`` to import nothing when any row is
  bad (check :attr:`RosterResult.ok` before submitting).
* A row is all or nothing: one bad cell rejects the whole row.
* A credit code given twice in one file: the first row counts, each later row is rejected.
* An empty optional cell means "not stated": it leaves the stored value as it is (a roster cannot
  clear a field). The working group is compared as a set, so its order does not matter.
* Event ids are deterministic, so importing the same file again adds nothing:
  ``roster:{code}:registered`` and ``roster:{code}:{date}:{digest}``, where the digest is the
  SHA-1 of the changed fields together with the state they change (the previous values and the
  number of earlier changes), so that changing a field back and forth is never mistaken for a
  duplicate.
* Reading: the header is the first row naming the credit-code column (title rows above it are
  skipped; a header merged downward over two rows is read as one); rows whose recognised cells
  are all empty are skipped; a merged cell in the data area counts for every row it covers.
* A unit may be written as its id (``商务局``) or its full name in units.yaml (``市商务局``);
  the ledger stores the id.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import openpyxl
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

from kernel.errors import InputError, Problem, ProblemsError
from kernel.inputs.contracts import describe_value
from kernel.inputs.creditcode import ALPHABET, check_character
from kernel.ledger.events import OFFICE, Event, EventInvalid, validate_event
from kernel.ledger.projection import ASSIGNMENT_FIELDS, Enterprise
from kernel.rules.reference import Reference

SHEET_NAME = "包抓企业基本情况表"

# Canonical field -> accepted header names (the first is the one used in messages).
HEADERS: dict[str, tuple[str, ...]] = {
    "credit_code": ("统一社会信用代码", "信用代码", "社会信用代码"),
    "name": ("企业名称", "企业"),
    "territory": ("所在县区", "县区", "属地"),
    "industry": ("所属行业", "行业"),
    "lead_unit": ("牵头部门", "包抓单位", "牵头单位"),
    "lead_leader": ("包抓领导", "牵头领导"),
    "working_group": ("工作专班", "专班成员单位", "工作专班成员单位"),
    "plan": ("包抓方案", "方案"),
    "liaison_cadre": ("对口服务干部", "联络干部", "服务干部"),
    "employees": ("从业人数",),
    "effective_date": ("生效日期", "变更日期"),
}
REQUIRED = ("credit_code", "name", "territory", "lead_unit", "lead_leader")
# Columns every Chinese table has and nobody needs a warning about.
SILENT_HEADERS = frozenset({"序号"})
TEXT_FIELDS = ("name", "industry", "lead_leader", "liaison_cadre", "plan")
# The order of fields in an event payload.
PAYLOAD_FIELDS = ASSIGNMENT_FIELDS

_SYNONYMS = {name: key for key, names in HEADERS.items() for name in names}
_MARKS = re.compile(r"[\s*＊※:：]+")
_BRACKETS = re.compile(r"[（(【\[][^）)】\]]*[）)】\]]")
_SEPARATORS = re.compile(r"[、,，;；\s]+")
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?E\+?\d+$")
_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$"
)
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_REGION = range(2, 8)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Column:
    """A recognised column: its field, 1-based number and header as written (spaces removed)."""

    field: str
    index: int
    header: str


@dataclass(frozen=True)
class RosterSheet:
    """What was learnt from a file's header, shared by all its rows."""

    path: str
    sheet: str | None  # worksheet title; None for CSV
    header_row: int
    columns: dict[str, Column]
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class RosterRow:
    """One data row: its row number as Excel shows it and its non-empty cells by field."""

    row: int
    values: dict[str, Any]
    sheet: RosterSheet

    def get(self, name: str) -> Any:
        """The cell value of field ``name`` (None when empty or the column is absent)."""
        return self.values.get(name)

    def column(self, name: str) -> Column | None:
        """The column of field ``name``, if the file has it."""
        return self.sheet.columns.get(name)


def read_roster(path: Path) -> list[RosterRow]:
    """Read a roster from ``.csv`` or ``.xlsx``; raise :class:`ProblemsError` when unreadable."""
    shown = str(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        hint = "旧版 .xls 格式不能读取，请在 Excel 中另存为 .xlsx" if suffix == ".xls" else ""
        message = hint or f"不支持的文件类型 '{path.suffix}'，名册应为 .xlsx 或 .csv 文件"
        raise ProblemsError([Problem(shown, 0, 0, "FILE-FORMAT", message)])
    if not path.is_file():
        raise ProblemsError([Problem(shown, 0, 0, "FILE-MISSING", "文件不存在")])
    try:
        if suffix == ".csv":
            return _build(_csv_table(path), [], shown, None)
        return _read_xlsx(path, shown)
    except (
        OSError,
        zipfile.BadZipFile,
        InvalidFileException,
        KeyError,
        ElementTree.ParseError,
    ) as exc:
        detail = (
            exc.strerror if isinstance(exc, OSError) and exc.strerror else "不是有效的 .xlsx 文件"
        )
        raise ProblemsError(
            [Problem(shown, 0, 0, "FILE-UNREADABLE", f"无法读取文件：{detail}")]
        ) from None


def _csv_table(path: Path) -> list[list[Any]]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return [list(record) for record in csv.reader(io.StringIO(text, newline=""))]
    raise ProblemsError(
        [Problem(str(path), 1, 1, "FILE-ENCODING", "文件既不是 UTF-8 也不是 GB18030 编码")]
    )


def _read_xlsx(path: Path, shown: str) -> list[RosterRow]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = [s for s in book.worksheets if hasattr(s, "iter_rows")]
        if not sheets:
            raise ProblemsError([Problem(shown, 0, 0, "HEADER-MISSING", "文件中没有工作表")])
        named = [s for s in sheets if _MARKS.sub("", s.title) == SHEET_NAME]
        sheet = (named or sheets)[0]
        reset = getattr(sheet, "reset_dimensions", None)
        if callable(reset):
            reset()  # some writers record a wrong sheet size; read every row
        table = [list(row) for row in sheet.iter_rows(values_only=True)]
        title = sheet.title
    finally:
        book.close()
    return _build(table, _merged_ranges(path, title), shown, title)


def _merged_ranges(path: Path, title: str) -> list[tuple[int, int, int, int]]:
    """Merged ranges (min_col, min_row, max_col, max_row) of one sheet.

    openpyxl's read-only mode does not expose merges, so they are read from the sheet's XML.
    """

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rid = next(
            (
                value
                for el in workbook.iter()
                if local(el.tag) == "sheet" and el.get("name") == title
                for key, value in el.attrib.items()
                if local(key) == "id"
            ),
            None,
        )
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        target = next((el.get("Target") for el in rels if el.get("Id") == rid), None)
        if rid is None or not target:
            return []
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        ranges: list[tuple[int, int, int, int]] = []
        with archive.open(member) as source:
            for _, element in ElementTree.iterparse(source):
                name = local(element.tag)
                if name == "mergeCell" and element.get("ref"):
                    c1, r1, c2, r2 = range_boundaries(str(element.get("ref")))
                    if c1 and r1 and c2 and r2:
                        ranges.append((c1, r1, c2, r2))
                elif name == "row":
                    element.clear()
        return ranges


def _header_key(text: str) -> str | None:
    """The field a header names, or None."""
    plain = _MARKS.sub("", text)
    return _SYNONYMS.get(plain) or _SYNONYMS.get(_BRACKETS.sub("", plain))


def _display(text: str) -> str:
    return _MARKS.sub("", text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(row: Sequence[Any], index: int) -> Any:
    return row[index - 1] if index - 1 < len(row) else None


def _build(
    table: list[list[Any]],
    merges: list[tuple[int, int, int, int]],
    path: str,
    title: str | None,
) -> list[RosterRow]:
    """Find the header, map the columns and collect the non-empty data rows."""
    start = next(
        (
            i
            for i, row in enumerate(table, 1)
            if any(isinstance(v, str) and _header_key(v) == "credit_code" for v in row)
        ),
        None,
    )
    if start is None:
        where = f"工作表「{title}」中" if title else ""
        names = "、".join(HEADERS["credit_code"])
        raise ProblemsError(
            [Problem(path, 0, 0, "HEADER-MISSING", f"{where}找不到表头：没有一行含有 {names} 之一")]
        )
    # A header merged downward (a two-level header such as 四个一 → 牵头部门, 包抓领导, …) spans
    # several rows; each column takes the lowest header text that names a field.
    bottom = max([start] + [r2 for _, r1, _, r2 in merges if r1 <= start <= r2])
    width = max((len(row) for row in table[start - 1 : bottom]), default=0)
    columns: dict[str, Column] = {}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for index in range(1, width + 1):
        texts = [
            str(v).strip()
            for row in table[start - 1 : bottom]
            if not _blank(v := _cell(row, index))
        ]
        if not texts:
            continue
        known = [(t, k) for t in reversed(texts) if (k := _header_key(t)) is not None]
        if not known:
            if _display(texts[-1]) not in SILENT_HEADERS:
                warnings.append(
                    Problem(
                        path,
                        start,
                        index,
                        "UNKNOWN-COLUMN",
                        f"未识别的列「{_display(texts[-1])}」，已忽略",
                    )
                )
            continue
        text, key = known[0]
        if key in columns:
            first = columns[key]
            problems.append(
                Problem(
                    path,
                    start,
                    index,
                    "DUPLICATE-COLUMN",
                    f"第 {index} 列「{_display(text)}」与第 {first.index} 列「{first.header}」"
                    "是同一项，请删去其中一列",
                )
            )
            continue
        columns[key] = Column(key, index, _display(text))
    for key in REQUIRED:
        if key not in columns:
            others = "、".join(HEADERS[key][1:])
            also = f"（也可写作 {others}）" if others else ""
            problems.append(
                Problem(
                    path, start, 0, "MISSING-COLUMN", f"表头中没有「{HEADERS[key][0]}」列{also}"
                )
            )
    if problems:
        raise ProblemsError(problems, f"名册表头有 {len(problems)} 个问题")

    # A merged cell in the data area holds its value in the top-left cell only: fill the rest.
    filled: dict[tuple[int, int], Any] = {}
    for c1, r1, c2, r2 in merges:
        if r1 > bottom and r1 <= len(table):
            value = _cell(table[r1 - 1], c1)
            for r in range(r1, r2 + 1):
                for c in range(c1, c2 + 1):
                    filled[(r, c)] = value
    sheet = RosterSheet(path, title, start, columns, tuple(warnings))
    rows: list[RosterRow] = []
    for number in range(bottom + 1, len(table) + 1):
        raw = table[number - 1]
        if all(_blank(_cell(raw, c.index)) for c in columns.values()):
            continue
        values: dict[str, Any] = {}
        for key, col in columns.items():
            value = filled.get((number, col.index), _cell(raw, col.index))
            if not _blank(value):
                values[key] = value.strip() if isinstance(value, str) else value
        rows.append(RosterRow(number, values, sheet))
    return rows


# --------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class RosterCounts:
    """How the rows of a roster were handled."""

    registered: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        """The number of data rows."""
        return self.registered + self.changed + self.unchanged + self.rejected

    def as_dict(self) -> dict[str, int]:
        """A JSON-ready form."""
        return {
            "registered": self.registered,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
        }


@dataclass(frozen=True)
class RosterResult:
    """The events of the good rows, the problems of the bad ones, and the counts."""

    events: tuple[Event, ...]
    problems: tuple[Problem, ...]
    counts: RosterCounts
    warnings: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no row was rejected."""
        return not self.problems

    @property
    def summary(self) -> str:
        """A one-line Chinese summary."""
        c = self.counts
        return (
            f"共 {c.total} 行：新登记 {c.registered} 户，变更 {c.changed} 户，"
            f"无变化 {c.unchanged} 户，有问题 {c.rejected} 行"
        )


@dataclass
class _Row:
    """The checked content of one row."""

    code: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    date: dt.date | None = None  # the effective date, when given and valid
    bad_date: bool = False
    problems: list[Problem] = field(default_factory=list)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Checker:
    """Checks rows against the reference data; problems are located in ``source``."""

    def __init__(self, reference: Reference, source: str) -> None:
        self.reference = reference
        self.source = source
        self.names = {
            u.name: u.id for u in reference.units.values() if u.name not in reference.units
        }

    def unit_id(self, value: str) -> str:
        """The unit id for an id or a full unit name (unknown values are returned as given)."""
        return value if value in self.reference.units else self.names.get(value, value)

    def problem(self, row: RosterRow, key: str, code: str, message: str) -> Problem:
        """A problem located at the cell of field ``key`` in ``row``."""
        col = row.column(key)
        return Problem(self.source, row.row, col.index if col else 0, code, message)

    @staticmethod
    def label(row: RosterRow, key: str) -> str:
        """The header of field ``key`` as the file writes it, in 「」."""
        col = row.column(key)
        return f"「{col.header if col else HEADERS[key][0]}」"

    def check(self, row: RosterRow) -> _Row:
        """Parse and check one row's cells."""
        out = _Row()

        def problem(key: str, code: str, message: str) -> None:
            out.problems.append(self.problem(row, key, code, message))

        def label(key: str) -> str:
            return self.label(row, key)

        for key in REQUIRED:
            if _blank(row.get(key)):
                problem(key, "MISSING-VALUE", f"{label(key)}为空，此项必填")

        raw_code = row.get("credit_code")
        if not _blank(raw_code):
            found = _credit_code(raw_code)
            if isinstance(found, tuple):
                problem("credit_code", found[0], f"{label('credit_code')}的值{found[1]}")
            else:
                out.code = found

        for key in TEXT_FIELDS:
            if not _blank(row.get(key)):
                out.payload[key] = _text(row.get(key))

        for key, ref in (("territory", "territories"), ("lead_unit", "units")):
            if _blank(row.get(key)):
                continue
            value = self.unit_id(_text(row.get(key)))
            bad = self.reference.check(ref, value)
            if bad is None:
                out.payload[key] = value
            else:
                problem(key, bad[0], f"{label(key)}的值{bad[1]}")

        if not _blank(row.get("working_group")):
            units: list[str] = []
            for part in _SEPARATORS.split(_text(row.get("working_group"))):
                if not part:
                    continue
                value = self.unit_id(part)
                bad = self.reference.check("units", value)
                if bad is not None:
                    problem("working_group", bad[0], f"{label('working_group')}中{bad[1]}")
                elif value not in units:
                    units.append(value)
            out.payload["working_group"] = units

        raw = row.get("employees")
        if not _blank(raw):
            number = _employees(raw)
            if number is None:
                problem(
                    "employees",
                    "NUMBER-VALUE",
                    f"{label('employees')}的值 {describe_value(_shown(raw))} 不是非负整数",
                )
            else:
                out.payload["employees"] = number

        raw = row.get("effective_date")
        if not _blank(raw):
            out.date = _date(raw)
            if out.date is None:
                out.bad_date = True
                problem(
                    "effective_date",
                    "DATE-VALUE",
                    f"{label('effective_date')}的值 {describe_value(_shown(raw))} "
                    "不是有效日期（格式如 2026-03-01）",
                )
        return out


def _shown(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _credit_code(raw: Any) -> str | tuple[str, str]:
    """The normalised code, or (problem code, message after 「header」的值)."""
    shown = describe_value(_text(raw) if not isinstance(raw, float) else raw)
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(raw))).lstrip("'`").upper()
    if isinstance(raw, float) or _SCIENTIFIC.match(text):
        return (
            "CREDIT-CODE-FORMAT",
            f" {shown} 是数值，Excel 已丢失末尾数字；请把该列设为“文本”格式后重新填写",
        )
    if len(text) != 18:
        return "CREDIT-CODE-FORMAT", f" {shown} 有 {len(text)} 位，应为 18 位"
    bad = list(dict.fromkeys(ch for ch in text if ch not in ALPHABET))
    if bad:
        chars = "、".join(f"'{ch}'" for ch in bad)
        return (
            "CREDIT-CODE-FORMAT",
            f" {shown} 含有不允许的字符 {chars}（只能是数字和除 I、O、Z、S、V 以外的大写字母）",
        )
    if not all(text[i].isdigit() for i in _REGION):
        return "CREDIT-CODE-FORMAT", f" {shown} 的第 3～8 位（行政区划码）应为数字"
    expected = check_character(text[:17])
    if text[17] != expected:
        return "CREDIT-CODE", f" {shown} 的校验位不正确，应为 '{expected}'"
    return text


def _employees(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, float):
        return int(raw) if raw.is_integer() and raw >= 0 else None
    text = unicodedata.normalize("NFKC", str(raw)).strip().replace(",", "").removesuffix("人")
    return int(text) if text.isascii() and text.isdigit() else None


def _date(raw: Any) -> dt.date | None:
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _changes(payload: Mapping[str, Any], current: Enterprise) -> dict[str, Any]:
    """The fields of ``payload`` that differ from the enterprise's assignment."""
    changed: dict[str, Any] = {}
    for key in PAYLOAD_FIELDS:
        if key not in payload:
            continue
        old, new = current.get(key), payload[key]
        same = set(old or ()) == set(new) if key == "working_group" else old == new
        if not same:
            changed[key] = new
    return changed


def _digest(changed: Mapping[str, Any], current: Enterprise) -> str:
    basis = {
        "set": changed,
        "from": {key: current.get(key) for key in changed},
        "earlier_changes": len(current.changes),
    }
    text = json.dumps(basis, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def roster_events(
    rows: Iterable[RosterRow],
    reference: Reference,
    existing: Mapping[str, Enterprise],
    *,
    day: dt.date,
    actor: str = OFFICE,
    source: str,
) -> RosterResult:
    """Check every row and turn the good ones into enterprise events.

    ``existing`` is the ledger's current enterprises (``Ledger.project().enterprises``);
    ``day`` dates the events of rows without an effective date; ``source`` names the file in
    problems and in the events' note. Bad rows are reported, never raised.
    """
    bad_actor = reference.check("units", actor)
    if bad_actor is not None:
        raise InputError(f"经办单位{bad_actor[1]}")
    checker = _Checker(reference, source)
    seen: dict[str, int] = {}
    events: list[Event] = []
    problems: list[Problem] = []
    warnings: dict[int, tuple[Problem, ...]] = {}
    registered = changed = unchanged = rejected = 0
    for row in rows:
        warnings.setdefault(id(row.sheet), row.sheet.warnings)
        checked = checker.check(row)
        code, when = checked.code, checked.date or day
        if code is not None:
            first = seen.setdefault(code, row.row)
            if first != row.row:
                checked.problems.append(
                    checker.problem(
                        row,
                        "credit_code",
                        "DUPLICATE-CREDIT-CODE",
                        f"{checker.label(row, 'credit_code')}的值 '{code}' 与第 {first} 行重复",
                    )
                )
        current = existing.get(code) if code is not None else None
        if current is not None and not checked.bad_date and when < current.registered_on:
            since = f"早于该企业的登记日期 {current.registered_on}"
            if checked.date is not None:
                header = checker.label(row, "effective_date")
                found = checker.problem(
                    row, "effective_date", "DATE-ORDER", f"{header}的值 '{when}' {since}"
                )
            else:
                found = Problem(source, row.row, 0, "DATE-ORDER", f"导入日期 {when} {since}")
            checked.problems.append(found)
        if checked.problems or code is None:
            rejected += 1
            problems.extend(sorted(checked.problems))
            continue
        payload = {k: checked.payload[k] for k in PAYLOAD_FIELDS if k in checked.payload}
        if current is None:
            kind, event_id = "enterprise.registered", f"roster:{code}:registered"
        else:
            payload = _changes(payload, current)
            if not payload:
                unchanged += 1
                continue
            digest = _digest(payload, current)
            kind, event_id = "enterprise.changed", f"roster:{code}:{when.isoformat()}:{digest}"
        data = {
            "event_id": event_id,
            "type": kind,
            "date": when.isoformat(),
            "actor": actor,
            "enterprise": code,
            "note": f"{source} 第 {row.row} 行",
            "payload": payload,
        }
        try:
            event = validate_event(data, reference)
        except EventInvalid as exc:  # a safety net: the checks above should prevent this
            rejected += 1
            problems.extend(Problem(source, row.row, 0, p.code, p.message) for p in exc.problems)
            continue
        events.append(event)
        if current is None:
            registered += 1
        else:
            changed += 1
    shown = [
        Problem(source, p.line, p.col, p.code, p.message)
        for group in warnings.values()
        for p in group
    ]
    return RosterResult(
        tuple(events),
        tuple(problems),
        RosterCounts(registered, changed, unchanged, rejected),
        tuple(shown),
    )
