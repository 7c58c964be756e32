"""Roster import: reading CSV/XLSX rosters, every row problem located, events, idempotency."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from kernel import load_rules
from kernel.errors import InputError, Problem, ProblemsError
from kernel.inputs.creditcode import complete
from kernel.ledger.events import Event
from kernel.ledger.ledger import DUPLICATE, Ledger
from kernel.ledger.projection import Enterprise, apply_enterprise
from kernel.roster.importer import RosterCounts, RosterResult, RosterRow, read_roster, roster_events
from kernel.rules.reference import Reference
from kernel.storage.memory import MemoryStorage
from tests.conftest import RULES

DAY = dt.date(2026, 3, 2)
CODES = [complete(f"91610700MA{n:07d}") for n in range(1, 30)]
C0, C1, C2, C3, C4 = CODES[:5]
HEADER = [
    "序号",
    "统一社会信用代码",
    "企业名称",
    "所在县区",
    "所属行业",
    "牵头部门",
    "包抓领导",
    "工作专班",
    "包抓方案",
    "对口服务干部",
    "从业人数",
    "生效日期",
    "备注",
]


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_rules(RULES).reference


def line(n: int, code: str, **changes: str) -> list[str]:
    """One CSV data row (all cells text), in HEADER order."""
    cells = {
        "name": f"汉中市测试企业{n}有限公司",
        "territory": "汉台区",
        "industry": "装备制造",
        "lead_unit": "工信局",
        "lead_leader": "张明",
        "working_group": "人社局、税务局",
        "plan": f"包抓方案〔2026〕{n}号",
        "liaison_cadre": "李华",
        "employees": "120",
        "date": "",
        "note": "",
    }
    cells.update(changes)
    return [str(n), code, *cells.values()]


def write_csv(
    path: Path, rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8", header: bool = True
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def payload(n: int, **changes: Any) -> dict[str, Any]:
    """The event payload of ``line(n, ...)`` with its defaults."""
    data: dict[str, Any] = {
        "name": f"汉中市测试企业{n}有限公司",
        "territory": "汉台区",
        "industry": "装备制造",
        "employees": 120,
        "lead_unit": "工信局",
        "lead_leader": "张明",
        "liaison_cadre": "李华",
        "working_group": ["人社局", "税务局"],
        "plan": f"包抓方案〔2026〕{n}号",
    }
    data.update(changes)
    return data


def run(
    path: Path,
    reference: Reference,
    existing: dict[str, Enterprise] | None = None,
    *,
    day: dt.date = DAY,
) -> RosterResult:
    return roster_events(read_roster(path), reference, existing or {}, day=day, source=path.name)


def project(
    events: Sequence[Event], existing: dict[str, Enterprise] | None = None
) -> dict[str, Enterprise]:
    """Enterprises after ``events`` (what the ledger's projector would show)."""
    state = dict(existing or {})
    for event in events:
        code = str(event.enterprise)
        state[code] = apply_enterprise(state.get(code), event)
    return state


# --------------------------------------------------------------------------- every problem kind


def test_messy_file_reports_every_bad_row(tmp_path: Path, reference: Reference) -> None:
    wrong_check = C2[:17] + ("0" if C2[17] != "0" else "1")
    path = write_csv(
        tmp_path / "roster.csv",
        [
            line(1, C0),  # row 2: good
            line(2, ""),  # row 3
            line(3, "91610700MA000000"),  # row 4
            line(4, wrong_check),  # row 5
            line(5, C0, name="重复企业"),  # row 6
            line(6, CODES[6], territory="汉台"),  # row 7
            line(7, CODES[7], territory="商务局"),  # row 8
            line(8, CODES[8], lead_unit="商务"),  # row 9
            line(9, CODES[9], working_group="人社局、人设局，税物局"),  # row 10
            line(10, CODES[10], lead_leader=""),  # row 11
            line(11, CODES[11], name=""),  # row 12
            line(12, CODES[12], employees="约200"),  # row 13
            line(13, CODES[13], date="2026-13-01"),  # row 14
            line(14, "91610700MAI000001X", lead_leader=" "),  # row 15: two problems
            line(15, "9.16107E+17"),  # row 16
            line(16, "91A10700MA00000011"),  # row 17
            [""] * len(HEADER),  # row 18: blank, skipped
            line(17, C1, employees="1,200人", date="2026/3/1", note="新增"),  # row 19: good
        ],
    )
    result = run(path, reference)
    code_header = "「统一社会信用代码」"

    def p(row: int, col: int, code: str, message: str) -> Problem:
        return Problem("roster.csv", row, col, code, message)

    assert list(result.problems) == [
        p(3, 2, "MISSING-VALUE", f"{code_header}为空，此项必填"),
        p(4, 2, "CREDIT-CODE-FORMAT", f"{code_header}的值 '91610700MA000000' 有 16 位，应为 18 位"),
        p(
            5,
            2,
            "CREDIT-CODE",
            f"{code_header}的值 '{wrong_check}' 的校验位不正确，应为 '{C2[17]}'",
        ),
        p(6, 2, "DUPLICATE-CREDIT-CODE", f"{code_header}的值 '{C0}' 与第 2 行重复"),
        p(
            7,
            4,
            "UNKNOWN-TERRITORY",
            "「所在县区」的值 '汉台' 不是已登记的县区，是否想写 '汉台区'？",
        ),
        p(8, 4, "UNKNOWN-TERRITORY", "「所在县区」的值 '商务局' 是市级部门，不是县区"),
        p(9, 6, "UNKNOWN-UNIT", "「牵头部门」的值 '商务' 不是已登记的单位，是否想写 '商务局'？"),
        p(10, 8, "UNKNOWN-UNIT", "「工作专班」中 '人设局' 不是已登记的单位，是否想写 '人社局'？"),
        p(10, 8, "UNKNOWN-UNIT", "「工作专班」中 '税物局' 不是已登记的单位，是否想写 '税务局'？"),
        p(11, 7, "MISSING-VALUE", "「包抓领导」为空，此项必填"),
        p(12, 3, "MISSING-VALUE", "「企业名称」为空，此项必填"),
        p(13, 11, "NUMBER-VALUE", "「从业人数」的值 '约200' 不是非负整数"),
        p(14, 12, "DATE-VALUE", "「生效日期」的值 '2026-13-01' 不是有效日期（格式如 2026-03-01）"),
        p(
            15,
            2,
            "CREDIT-CODE-FORMAT",
            f"{code_header}的值 '91610700MAI000001X' 含有不允许的字符 'I'"
            "（只能是数字和除 I、O、Z、S、V 以外的大写字母）",
        ),
        p(15, 7, "MISSING-VALUE", "「包抓领导」为空，此项必填"),
        p(
            16,
            2,
            "CREDIT-CODE-FORMAT",
            f"{code_header}的值 '9.16107E+17' 是数值，Excel 已丢失末尾数字；"
            "请把该列设为“文本”格式后重新填写",
        ),
        p(
            17,
            2,
            "CREDIT-CODE-FORMAT",
            f"{code_header}的值 '91A10700MA00000011' 的第 3～8 位（行政区划码）应为数字",
        ),
    ]
    assert result.warnings == (
        Problem("roster.csv", 1, 13, "UNKNOWN-COLUMN", "未识别的列「备注」，已忽略"),
    )
    assert result.counts == RosterCounts(registered=2, changed=0, unchanged=0, rejected=15)
    assert not result.ok
    assert [(e.enterprise, e.date, e.note) for e in result.events] == [
        (C0, DAY, "roster.csv 第 2 行"),
        (C1, dt.date(2026, 3, 1), "roster.csv 第 19 行"),
    ]
    assert result.events[1].payload["employees"] == 1200
    assert result.summary == "共 17 行：新登记 2 户，变更 0 户，无变化 0 户，有问题 15 行"
    assert (
        str(result.problems[0])
        == "roster.csv:3:2: MISSING-VALUE 「统一社会信用代码」为空，此项必填"
    )


def test_change_dated_before_registration_is_a_problem(
    tmp_path: Path, reference: Reference
) -> None:
    first = run(write_csv(tmp_path / "v1.csv", [line(1, C0, date="2026-03-01")]), reference)
    existing = project(first.events)
    later = tmp_path / "v2.csv"
    write_csv(later, [line(1, C0, lead_unit="商务局", date="2026-02-01")])
    assert list(run(later, reference, existing).problems) == [
        Problem(
            "v2.csv",
            2,
            12,
            "DATE-ORDER",
            "「生效日期」的值 '2026-02-01' 早于该企业的登记日期 2026-03-01",
        )
    ]
    write_csv(later, [line(1, C0, lead_unit="商务局", date="2026-02-31")])
    assert [p.code for p in run(later, reference, existing).problems] == ["DATE-VALUE"]
    write_csv(later, [line(1, C0, lead_unit="商务局")])
    result = run(later, reference, existing, day=dt.date(2026, 2, 27))
    assert list(result.problems) == [
        Problem("v2.csv", 2, 0, "DATE-ORDER", "导入日期 2026-02-27 早于该企业的登记日期 2026-03-01")
    ]


def test_unknown_actor_is_an_input_error(tmp_path: Path, reference: Reference) -> None:
    rows = read_roster(write_csv(tmp_path / "r.csv", [line(1, C0)]))
    with pytest.raises(InputError, match="经办单位 '稳企办' 不是已登记的单位"):
        roster_events(rows, reference, {}, day=DAY, actor="稳企办", source="r.csv")


# --------------------------------------------------------------------------- reading


def test_bom_and_gb18030_csv_read_like_utf8(tmp_path: Path) -> None:
    rows = [line(1, C0), line(2, C1, name="汉中（宁强）茶业有限公司", territory="宁强县")]
    plain = read_roster(write_csv(tmp_path / "plain.csv", rows))
    bom = read_roster(write_csv(tmp_path / "bom.csv", rows, encoding="utf-8-sig"))
    gb = read_roster(write_csv(tmp_path / "gb.csv", rows, encoding="gb18030"))
    assert (tmp_path / "bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / "gb.csv").read_bytes().decode("utf-8")

    def shape(found: list[RosterRow]) -> list[tuple[int, dict[str, Any]]]:
        return [(r.row, r.values) for r in found]

    assert shape(plain) == shape(bom) == shape(gb)
    assert plain[1].values["name"] == "汉中（宁强）茶业有限公司"
    assert plain[0].column("credit_code") is not None
    assert bom[0].sheet.columns["credit_code"].index == 2


def test_xlsx_title_rows_synonyms_merges_and_numbers(tmp_path: Path, reference: Reference) -> None:
    book = openpyxl.Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "填表说明"
    notes["A1"] = "请在第二个工作表填写"
    sheet = book.create_sheet("包抓企业基本情况表")
    sheet.append(["汉中市“助商稳企·护航发展”包抓企业基本情况表"])
    sheet.merge_cells("A1:L1")
    sheet.append(["填报单位：市助商稳企办", None, None, None, None, None, "填报日期：2026年3月2日"])
    sheet.merge_cells("A2:F2")
    sheet.append(
        [
            "序 号",
            "信用代码",
            "企　业",
            " 属地 ",
            "行业",
            "包抓单位",
            "牵头\n领导",
            "专班成员单位",
            "方案",
            "联络干部",
            "从业人数（人）",
            "变更日期",
        ]
    )
    sheet.append(
        [1, C0, "汉中市汉运物流有限公司", "汉台区", "物流", "市商务局", "张明",
         "人社局，税务局", "方案一", "李华", 350, dt.datetime(2026, 3, 1)]
    )  # fmt: skip
    sheet.append([2, C1, "汉中市天汉茶业有限公司", "西乡县", "茶叶", "农业农村局", "王强",
                  None, None, None, 80, None])  # fmt: skip
    sheet.append([3, C2, "汉中市秦巴药业有限公司", "勉县", "医药", "工信局", None,
                  None, None, None, 1200, None])  # fmt: skip
    sheet.merge_cells("G5:G6")  # one leader for two enterprises
    book.save(tmp_path / "包抓企业.xlsx")

    rows = read_roster(tmp_path / "包抓企业.xlsx")
    assert [r.row for r in rows] == [4, 5, 6]
    assert rows[0].sheet.sheet == "包抓企业基本情况表"
    assert rows[0].sheet.header_row == 3
    assert {k: (c.index, c.header) for k, c in rows[0].sheet.columns.items()} == {
        "credit_code": (2, "信用代码"),
        "name": (3, "企业"),
        "territory": (4, "属地"),
        "industry": (5, "行业"),
        "lead_unit": (6, "包抓单位"),
        "lead_leader": (7, "牵头领导"),
        "working_group": (8, "专班成员单位"),
        "plan": (9, "方案"),
        "liaison_cadre": (10, "联络干部"),
        "employees": (11, "从业人数（人）"),
        "effective_date": (12, "变更日期"),
    }
    assert rows[0].sheet.warnings == ()  # 序号 is silently ignored
    assert rows[0].get("employees") == 350
    assert rows[2].get("lead_leader") == "王强"  # filled from the merged cell above

    result = roster_events(rows, reference, {}, day=DAY, source="包抓企业.xlsx")
    assert result.ok
    assert result.events[0] == Event(
        event_id=f"roster:{C0}:registered",
        type="enterprise.registered",
        date=dt.date(2026, 3, 1),
        actor="助商稳企办",
        enterprise=C0,
        note="包抓企业.xlsx 第 4 行",
        payload={
            "name": "汉中市汉运物流有限公司",
            "territory": "汉台区",
            "industry": "物流",
            "employees": 350,
            "lead_unit": "商务局",  # the full name 市商务局 is stored as its id
            "lead_leader": "张明",
            "liaison_cadre": "李华",
            "working_group": ["人社局", "税务局"],
            "plan": "方案一",
        },
    )
    assert result.events[2].payload == {
        "name": "汉中市秦巴药业有限公司",
        "territory": "勉县",
        "industry": "医药",
        "employees": 1200,
        "lead_unit": "工信局",
        "lead_leader": "王强",
    }


def test_xlsx_two_level_header_and_numeric_credit_code(
    tmp_path: Path, reference: Reference
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Sheet1"
    sheet.append(["包抓企业基本情况表"])
    sheet.merge_cells("A1:H1")
    sheet.append(
        ["序号", "统一社会信用代码", "企业名称", "所在县区", "“四个一”包抓", None, None, None]
    )
    sheet.append([None, None, None, None, "牵头部门", "包抓领导", "工作专班", "包抓方案"])
    for ref in ("A2:A3", "B2:B3", "C2:C3", "D2:D3", "E2:H2"):
        sheet.merge_cells(ref)
    sheet.append([1, C0, "汉中市汉运物流有限公司", "汉台区", "商务局", "张明", "人社局", "方案一"])
    sheet.append([2, 9.16107001234568e17, "汉中市某公司", "汉台区", "商务局", "张明", None, None])
    book.save(tmp_path / "roster.xlsx")

    rows = read_roster(tmp_path / "roster.xlsx")
    assert [r.row for r in rows] == [4, 5]
    assert {k: c.index for k, c in rows[0].sheet.columns.items()} == {
        "credit_code": 2,
        "name": 3,
        "territory": 4,
        "lead_unit": 5,
        "lead_leader": 6,
        "working_group": 7,
        "plan": 8,
    }
    result = roster_events(rows, reference, {}, day=DAY, source="roster.xlsx")
    assert [e.enterprise for e in result.events] == [C0]
    assert list(result.problems) == [
        Problem(
            "roster.xlsx",
            5,
            2,
            "CREDIT-CODE-FORMAT",
            "「统一社会信用代码」的值 9.16107001234568e+17 是数值，Excel 已丢失末尾数字；"
            "请把该列设为“文本”格式后重新填写",
        )
    ]


def test_headers_with_notes_and_rows_after_gaps(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    headers = ["*统一社会信用代码", "企业名称（全称）", "县区", "牵头部门（包抓单位）", "包抓领导"]
    for col, text in enumerate([*headers, "联系人（企业）"], start=2):
        sheet.cell(row=3, column=col, value=text)
    sheet["B6"], sheet["C6"] = C0, "某公司"
    sheet["B9"], sheet["F9"] = C1, "张明"
    book.save(tmp_path / "gaps.xlsx")
    rows = read_roster(tmp_path / "gaps.xlsx")
    assert [(r.row, r.values) for r in rows] == [
        (6, {"credit_code": C0, "name": "某公司"}),
        (9, {"credit_code": C1, "lead_leader": "张明"}),
    ]
    assert {k: c.header for k, c in rows[0].sheet.columns.items()} == {
        "credit_code": "统一社会信用代码",
        "name": "企业名称（全称）",
        "territory": "县区",
        "lead_unit": "牵头部门（包抓单位）",
        "lead_leader": "包抓领导",
    }
    assert [(p.line, p.col, p.message) for p in rows[0].sheet.warnings] == [
        (3, 7, "未识别的列「联系人（企业）」，已忽略")
    ]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "no-header.csv",
            [["企业名称", "所在县区"], ["某公司", "汉台区"]],
            Problem(
                "no-header.csv",
                0,
                0,
                "HEADER-MISSING",
                "找不到表头：没有一行含有 统一社会信用代码、信用代码、社会信用代码 之一",
            ),
        ),
        (
            "columns.csv",
            [["统一社会信用代码", "企业名称", "县区", "包抓领导"]],
            Problem(
                "columns.csv",
                1,
                0,
                "MISSING-COLUMN",
                "表头中没有「牵头部门」列（也可写作 包抓单位、牵头单位）",
            ),
        ),
        (
            "twice.csv",
            [["统一社会信用代码", "企业名称", "县区", "牵头部门", "包抓领导", "企业"]],
            Problem(
                "twice.csv",
                1,
                6,
                "DUPLICATE-COLUMN",
                "第 6 列「企业」与第 2 列「企业名称」是同一项，请删去其中一列",
            ),
        ),
    ],
)
def test_header_problems(
    tmp_path: Path, name: str, content: list[list[str]], problem: Problem
) -> None:
    path = write_csv(tmp_path / name, content, header=False)
    with pytest.raises(ProblemsError) as caught:
        read_roster(path)
    assert [p.path for p in caught.value.problems] == [str(path)]
    assert [dataclasses.replace(p, path=name) for p in caught.value.problems] == [problem]


def test_file_problems(tmp_path: Path) -> None:
    def codes(path: Path) -> list[tuple[str, str]]:
        with pytest.raises(ProblemsError) as caught:
            read_roster(path)
        return [(p.code, p.message) for p in caught.value.problems]

    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    assert codes(tmp_path / "old.xls") == [
        ("FILE-FORMAT", "旧版 .xls 格式不能读取，请在 Excel 中另存为 .xlsx")
    ]
    assert codes(tmp_path / "missing.csv") == [("FILE-MISSING", "文件不存在")]
    (tmp_path / "bytes.csv").write_bytes(b"\xff\xfe\xfd\x80\x80")
    assert codes(tmp_path / "bytes.csv") == [
        ("FILE-ENCODING", "文件既不是 UTF-8 也不是 GB18030 编码")
    ]
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    assert codes(tmp_path / "broken.xlsx") == [
        ("FILE-UNREADABLE", "无法读取文件：不是有效的 .xlsx 文件")
    ]


# --------------------------------------------------------------------------- events


def test_clean_file_registers_every_enterprise(tmp_path: Path, reference: Reference) -> None:
    path = write_csv(
        tmp_path / "roster.csv",
        [line(1, C0), line(2, C1, employees="", date="2026-02-15"), line(3, C2, working_group="")],
    )
    result = run(path, reference)
    assert result.ok and result.warnings == (
        Problem("roster.csv", 1, 13, "UNKNOWN-COLUMN", "未识别的列「备注」，已忽略"),
    )
    assert result.counts == RosterCounts(registered=3)
    without_employees = payload(2)
    del without_employees["employees"]
    without_group = payload(3)
    del without_group["working_group"]
    assert list(result.events) == [
        Event(
            event_id=f"roster:{C0}:registered",
            type="enterprise.registered",
            date=DAY,
            actor="助商稳企办",
            enterprise=C0,
            note="roster.csv 第 2 行",
            payload=payload(1),
        ),
        Event(
            event_id=f"roster:{C1}:registered",
            type="enterprise.registered",
            date=dt.date(2026, 2, 15),
            actor="助商稳企办",
            enterprise=C1,
            note="roster.csv 第 3 行",
            payload=without_employees,
        ),
        Event(
            event_id=f"roster:{C2}:registered",
            type="enterprise.registered",
            date=DAY,
            actor="助商稳企办",
            enterprise=C2,
            note="roster.csv 第 4 行",
            payload=without_group,
        ),
    ]
    assert run(path, reference).events == result.events  # deterministic ids and content


def test_later_roster_changes_only_differing_fields(tmp_path: Path, reference: Reference) -> None:
    first = run(
        write_csv(tmp_path / "v1.csv", [line(1, C0), line(2, C1), line(3, C2), line(4, C4)]),
        reference,
    )
    existing = project(first.events)
    v2 = write_csv(
        tmp_path / "v2.csv",
        [
            line(1, C0, lead_unit="商务局", working_group="税务局；人社局"),  # group reordered
            line(2, C1),  # unchanged
            line(3, C2, employees="150", lead_leader="王强", date="2026-04-01"),
            line(5, C3),  # new
            line(4, C4, industry="", working_group=""),  # empty cells clear nothing
        ],
    )
    result = run(v2, reference, existing, day=dt.date(2026, 3, 20))
    assert result.ok
    assert result.counts == RosterCounts(registered=1, changed=2, unchanged=2, rejected=0)
    assert [(e.type, e.enterprise, e.date, e.payload) for e in result.events] == [
        ("enterprise.changed", C0, dt.date(2026, 3, 20), {"lead_unit": "商务局"}),
        (
            "enterprise.changed",
            C2,
            dt.date(2026, 4, 1),
            {"employees": 150, "lead_leader": "王强"},
        ),
        ("enterprise.registered", C3, dt.date(2026, 3, 20), payload(5)),
    ]
    ids = [e.event_id for e in result.events]
    assert re.fullmatch(rf"roster:{C0}:2026-03-20:[0-9a-f]{{10}}", ids[0])
    assert re.fullmatch(rf"roster:{C2}:2026-04-01:[0-9a-f]{{10}}", ids[1])
    assert ids[2] == f"roster:{C3}:registered"
    again = run(v2, reference, existing, day=dt.date(2026, 3, 20))
    assert again.events == result.events


def test_changing_back_and_forth_gets_new_ids(tmp_path: Path, reference: Reference) -> None:
    path = tmp_path / "r.csv"
    state = project(run(write_csv(path, [line(1, C0)]), reference).events)
    ids = []
    for unit in ("商务局", "工信局", "商务局"):
        result = run(write_csv(path, [line(1, C0, lead_unit=unit)]), reference, state)
        assert [e.payload for e in result.events] == [{"lead_unit": unit}]
        ids.append(result.events[0].event_id)
        state = project(result.events, state)
    assert len(set(ids)) == 3


# --------------------------------------------------------------------------- end to end


def test_import_reimport_and_change_through_the_ledger(tmp_path: Path) -> None:
    reference = load_rules("rules").reference
    ledger = Ledger(MemoryStorage(), reference)
    v1 = write_csv(tmp_path / "v1.csv", [line(1, C0), line(2, C1), line(3, C2)])

    first = run(v1, reference, ledger.project().enterprises)
    assert all(ledger.submit(e).accepted for e in first.events)
    assert ledger.storage.count() == 3

    # The same file again against the same snapshot: the same ids, all duplicates.
    replay = run(v1, reference, {})
    assert [ledger.submit(e).status for e in replay.events] == [DUPLICATE] * 3
    # Against the ledger's current state: nothing to do.
    fresh = run(v1, reference, ledger.project().enterprises)
    assert fresh.events == () and fresh.counts == RosterCounts(unchanged=3)
    assert ledger.storage.count() == 3

    v2 = write_csv(
        tmp_path / "v2.csv",
        [line(1, C0, lead_unit="商务局", date="2026-03-16"), line(2, C1), line(3, C2)],
    )
    changed = run(v2, reference, ledger.project().enterprises, day=dt.date(2026, 3, 20))
    assert changed.counts == RosterCounts(changed=1, unchanged=2)
    assert [ledger.submit(e).accepted for e in changed.events] == [True]
    assert [ledger.submit(e).status for e in changed.events] == [DUPLICATE]

    enterprise = ledger.project().enterprises[C0]
    assert enterprise.get("lead_unit") == "商务局"
    assert enterprise.registered_on == DAY
    assert enterprise.changes == ((dt.date(2026, 3, 16), "lead_unit", "工信局", "商务局"),)
    assert ledger.project(until=dt.date(2026, 3, 15)).enterprises[C0].get("lead_unit") == "工信局"


def test_the_import_command_replays_only_the_enterprise_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``huhang roster import`` compares the file with the enterprises replayed from their own
    events; a ledger holding tickets too is never projected whole, and the answer is the same."""
    from kernel.cli.main import main
    from kernel.cli.roster import current_enterprises
    from kernel.storage.sqlite import SqliteStorage
    from tests.conftest import ROOT

    db = str(tmp_path / "l.db")
    rules = ["--db", db, "--rules", str(RULES)]
    events = str(ROOT / "examples" / "events.jsonl")
    assert main(["ingest", events, "--grade", *rules, "--as-of", "2026-12-01"]) == 0
    v1 = write_csv(tmp_path / "v1.csv", [line(1, C0), line(2, C1)])
    v2 = write_csv(
        tmp_path / "v2.csv", [line(1, C0, lead_unit="商务局", date="2026-03-16"), line(2, C1)]
    )
    capsys.readouterr()
    whole = Ledger.project

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the whole ledger was projected")

    monkeypatch.setattr(Ledger, "project", refused)
    imported = [
        main(["roster", "import", str(path), "--date", day, *rules])
        for path, day in ((v1, "2026-03-02"), (v1, "2026-03-02"), (v2, "2026-03-20"))
    ]
    out = capsys.readouterr().out.splitlines()
    assert imported == [0, 0, 0]
    assert [x.split("，有问题")[0] for x in out] == [
        "共 2 行：新登记 2 户，变更 0 户，无变化 0 户",
        "共 2 行：新登记 0 户，变更 0 户，无变化 2 户",
        "共 2 行：新登记 0 户，变更 1 户，无变化 1 户",
    ]
    monkeypatch.setattr(Ledger, "project", whole)
    ledger = Ledger(SqliteStorage(db), load_rules(RULES).reference)
    try:
        projected = ledger.project()
        assert projected.tickets  # the ledger holds tickets as well
        assert current_enterprises(ledger) == projected.enterprises
        assert projected.enterprises[C0].get("lead_unit") == "商务局"
    finally:
        ledger.storage.close()
