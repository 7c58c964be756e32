"""Excel and CSV as an office uses them: typed cells, filters, frozen headers, print setup,
one CSV file per table (issue 19, item 1)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from kernel.outputs.tables import (
    DATE,
    LIST,
    NUMBER,
    PERCENT,
    YES_NO,
    Table,
    csv_text,
    render,
    write_csv_files,
    write_xlsx,
)
from tests.test_reports import db, run  # noqa: F401 -- the scoring ledger fixture

TABLE = Table.of(
    "测试表",
    (
        ("id", "编号"),
        ("day", "日期", DATE),
        ("count", "件数", NUMBER),
        ("rate", "比率", PERCENT),
        ("flag", "是否超期", YES_NO),
        ("units", "责任单位", LIST),
    ),
    [
        ("=1+1", dt.date(2026, 3, 2), 3, 0.5, True, ["汉台区", "人社局"]),
        ("-2", None, 2.5, None, False, []),
    ],
    name="明细",
)


def column(sheet: Worksheet, header: str) -> list[object]:
    """The values under ``header`` (row 1), from row 2 down."""
    headers = [c.value for c in sheet[1]]
    index = headers.index(header) + 1
    return [sheet.cell(row, index).value for row in range(2, sheet.max_row + 1)]


def test_cells_are_typed_by_their_column(tmp_path: Path) -> None:
    write_xlsx([TABLE], tmp_path / "t.xlsx")
    sheet = load_workbook(tmp_path / "t.xlsx")["明细"]
    assert [c.value for c in sheet[1]] == ["编号", "日期", "件数", "比率", "是否超期", "责任单位"]
    assert sheet["B2"].value == dt.datetime(2026, 3, 2)
    assert sheet["B2"].number_format == "yyyy-mm-dd" and sheet["B2"].is_date
    assert (sheet["C2"].value, sheet["C3"].value) == (3, 2.5)
    assert sheet["D2"].value == 0.5 and sheet["D2"].number_format == "0.0%"
    assert (sheet["E2"].value, sheet["E3"].value) == ("是", "否")
    assert sheet["F2"].value == "汉台区、人社局"
    assert sheet["B3"].value is None and sheet["D3"].value is None
    # text from users is never a formula
    assert (sheet["A2"].value, sheet["A2"].data_type) == ("=1+1", "s")
    assert (sheet["A3"].value, sheet["A3"].data_type) == ("-2", "s")


def test_a_sheet_filters_freezes_and_prints_landscape(tmp_path: Path) -> None:
    write_xlsx([TABLE], tmp_path / "t.xlsx")
    sheet = load_workbook(tmp_path / "t.xlsx")["明细"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F3"
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.page_setup.paperSize == 9  # A4
    assert sheet.page_setup.fitToWidth == 1 and sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet["A1"].font.bold
    # a Chinese header of four characters is eight columns wide, plus a margin
    assert sheet.column_dimensions["E"].width == 10
    assert sheet.oddHeader.center.text == "测试表"


def test_text_and_csv_show_the_same_values(tmp_path: Path) -> None:
    text = render(TABLE, "text")
    assert "2026-03-02" in text and "50.0%" in text and "汉台区、人社局" in text
    lines = csv_text(TABLE).lstrip("\ufeff").splitlines()
    assert lines == [
        "编号,日期,件数,比率,是否超期,责任单位",
        "'=1+1,2026-03-02,3,50.0%,是,汉台区、人社局",
        "'-2,,2.5,,否,",
    ]


def test_csv_files_go_to_a_folder_or_a_zip(tmp_path: Path) -> None:
    other = Table.of("另一张", (("a", "甲"),), [("x",)])
    assert write_csv_files([TABLE, other, other], tmp_path / "out") == [
        "明细.csv",
        "另一张.csv",
        "另一张-2.csv",
    ]
    assert (tmp_path / "out" / "另一张.csv").read_bytes().decode() == "\ufeff甲\r\nx\r\n"
    write_csv_files([TABLE, other], tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.namelist() == ["明细.csv", "另一张.csv"]
        assert archive.read("另一张.csv").decode("utf-8") == "\ufeff甲\r\nx\r\n"


def test_a_table_refuses_kinds_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="unknown column kinds"):
        Table.of("x", (("a", "甲", "money"),), [])
    with pytest.raises(ValueError, match="unknown columns"):
        Table("x", ("a",), ("甲",), kinds={"b": DATE})


# ------------------------------------------------------------------ the commands


def test_ledger_workbook_has_dates_numbers_yes_no_and_clock_titles(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, out, _ = run(
        capsys, "ledger", "--as-of", "2026-06-30", "--format", "xlsx", "--output", "台账.xlsx"
    )
    assert code == 0, out
    sheet = load_workbook(tmp_path / "台账.xlsx")["台账"]
    assert column(sheet, "办理单编号") == ["T-1", "T-2", "T-3"]
    assert column(sheet, "收集日期") == [dt.datetime(2026, 3, 2)] * 2 + [dt.datetime(2026, 4, 1)]
    assert column(sheet, "办结日期")[:2] == [dt.datetime(2026, 3, 11), dt.datetime(2026, 4, 3)]
    assert column(sheet, "是否超期") == ["否", "是", "是"]  # T-2 was resolved two days late
    assert column(sheet, "是否改判") == ["否", "否", "否"]
    assert column(sheet, "重新办理次数") == [0, 1, 0]
    assert column(sheet, "超期工作日") == [0, 2, 40]
    assert column(sheet, "超期事项")[2] == "交办后按等级限期办结（A 5、B 10、C 20 个工作日）"
    assert column(sheet, "暂定") == ["否", "否", "否"]
    assert column(sheet, "退回次数") == [0, 0, 0]
    assert column(sheet, "批准延期工作日") == [0, 0, 0]
    assert sheet.auto_filter.ref == f"A1:AA{sheet.max_row}"


def test_assessment_workbook_has_ranking_deductions_and_indicators(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, _, _ = run(
        capsys,
        *("report", "assessment", "--year", "2026", "--format", "xlsx", "--output", "a.xlsx"),
    )
    assert code == 0
    book = load_workbook(tmp_path / "a.xlsx")
    assert book.sheetnames == ["概要", "总表", "扣分明细", "指标明细"]
    ranking = book["总表"]
    headers = [c.value for c in ranking[1]]
    assert headers[:3] == ["排名", "单位", "类别"]
    assert headers[-5:] == ["扣分", "总分", "权重", "折算分", "考核结果"]
    row = {h: ranking.cell(ranking.max_row, i + 1).value for i, h in enumerate(headers)}
    assert (row["单位"], row["排名"], row["总分"], row["折算分"]) == ("汉台区", 42, 60.5, 3.03)
    assert isinstance(row["问题办结率（40）"], int | float)
    assert all(isinstance(v, int | float) for v in column(ranking, "扣分"))
    deductions = book["扣分明细"]
    assert deductions.max_row - 1 == 10  # 3 of 商务局, 7 of 汉台区 (test_reports lists them)
    first = next(r for r in deductions.iter_rows(min_row=2, values_only=True) if r[0] == "汉台区")
    assert first == (
        "汉台区",
        dt.datetime(2026, 3, 24),
        "D-OVERDUE",
        "逾期未办结",
        1,
        "T-2",
        "交办后按等级限期办结（A 5、B 10、C 20 个工作日）",  # the clock, by its title
        "E12",
        "政策 §6.5.2 默认扣 1 分/件",
        1,
    )
    assert all(isinstance(v, dt.datetime) for v in column(deductions, "日期"))
    assert all(isinstance(v, int | float) for v in column(deductions, "扣分"))
    indicators = book["指标明细"]
    closure = [
        (n, d)
        for u, t, n, d in zip(
            column(indicators, "单位"),
            column(indicators, "指标名称"),
            column(indicators, "分子"),
            column(indicators, "分母"),
            strict=True,
        )
        if u == "汉台区" and t == "问题办结率"
    ]
    assert closure == [(2, 4)]
    assert len(column(indicators, "单位")) == 42 * (len(headers) - 8)


def test_monthly_workbook_carries_the_summary_lines(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    run(
        capsys,
        *("report", "monthly", "--month", "2026-05", "--format", "xlsx", "--output", "m.xlsx"),
    )
    book = load_workbook(tmp_path / "m.xlsx")
    assert book.sheetnames == [
        "概要",
        "问题分类",
        "通报名单",
        "超期问题",
        "调度会议程",
        "未联系企业",
        "办理过程记录",
    ]
    summary = book["概要"]
    assert ("服务动态", "本月走访联系企业 1 次，覆盖 1 户（在册企业 1 户）。") in [
        (a.value, b.value) for a, b in summary.iter_rows(min_row=2)
    ]
    listing = book["通报名单"]
    assert isinstance(column(listing, "到期日")[0], dt.datetime)
    assert isinstance(column(listing, "超期工作日")[0], int)
    assert column(listing, "责任单位") == ["汉台区"]


def test_report_csv_is_one_named_file_per_table(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, out, err = run(capsys, "report", "monthly", "--month", "2026-05", "--format", "csv")
    assert (code, out) == (2, "")
    assert "每张表一个文件" in err and "--output" in err
    code, _, err = run(
        capsys, *("report", "monthly", "--month", "2026-05", "--format", "csv", "--output", "m.csv")
    )
    assert code == 2 and "文件夹或 .zip 文件" in err
    code, out, _ = run(
        capsys, *("report", "monthly", "--month", "2026-05", "--format", "csv", "--output", "m.zip")
    )
    assert (code, out) == (0, "已写入 m.zip\n")
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        names = archive.namelist()
        notice = archive.read("通报名单.csv").decode("utf-8")
    assert names == [
        "概要.csv",
        "问题分类.csv",
        "通报名单.csv",
        "超期问题.csv",
        "调度会议程.csv",
        "未联系企业.csv",
        "办理过程记录.csv",
    ]
    assert notice.startswith("\ufeff办理单编号,企业,类别,等级,时限,到期日,超期工作日,责任单位,依据")


def test_a_provisional_date_stays_text(tmp_path: Path) -> None:
    from kernel.assessment.reports import dated

    table = Table.of(
        "到期日",
        (("due", "到期日", DATE),),
        [(dated(dt.date(2027, 1, 8), True),), (dated(dt.date(2026, 12, 30), False),)],
    )
    write_xlsx([table], tmp_path / "d.xlsx")
    sheet = load_workbook(tmp_path / "d.xlsx").active
    assert sheet is not None
    assert sheet["A2"].value == "2027-01-08（暂定）"  # not firm: no date cell to sort as one
    assert sheet["A3"].value == dt.datetime(2026, 12, 30)
