"""Word documents: the monthly 通报 and the 调度会 agenda from the templates beside the rules."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.shared import Mm, Pt

from kernel.assessment.documents import chinese_date, document_fields
from kernel.rules.load import check_rules
from kernel.rules.templates import ROW_FIELDS, TEMPLATES, check_templates, known_fields
from tests.conftest import ROOT
from tests.test_reports import db, run  # noqa: F401 -- the scoring ledger fixture

ARTIFACTS = ROOT / "test-artifacts" / "documents"


def _rewrite(template: Path, old: str, new: str) -> None:
    """Replace text inside a .docx's document.xml."""
    with zipfile.ZipFile(template) as source:
        items = {name: source.read(name) for name in source.namelist()}
    xml = items["word/document.xml"].decode("utf-8")
    assert old in xml
    items["word/document.xml"] = xml.replace(old, new).encode("utf-8")
    with zipfile.ZipFile(template, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in items.items():
            target.writestr(name, data)


def test_shipped_templates_name_only_known_fields() -> None:
    assert check_templates(ROOT / "rules", "rules") == []
    assert {p.stem for p in (ROOT / "rules" / "templates").glob("*.docx")} == set(TEMPLATES)


def test_a_template_naming_an_unknown_field_fails_validation(rules_copy: Path) -> None:
    _rewrite(rules_copy / "templates" / "monthly.docx", "{{ title }}", "{{ titel }}")
    _rewrite(rules_copy / "templates" / "agenda.docx", "{{ r.summary }}", "{{ r.sumary }}")
    _, problems = check_rules(rules_copy)
    messages = sorted(str(p) for p in problems)
    assert any(
        m.endswith(
            "templates/monthly.docx:0:0: TEMPLATE-FIELD 模板使用了不存在的字段 titel，是否想写 'title'？"
        )
        for m in messages
    ), messages
    assert any(
        m.endswith("TEMPLATE-FIELD 模板中表格 agenda 没有列 sumary，是否想写 'summary'？")
        for m in messages
    ), messages


def test_a_broken_or_unknown_template_is_reported(rules_copy: Path) -> None:
    (rules_copy / "templates" / "monthly.docx").write_bytes(b"not a zip")
    shutil.copyfile(rules_copy / "templates" / "agenda.docx", rules_copy / "templates" / "x.docx")
    codes = {p.code for p in check_templates(rules_copy, "rules")}
    assert codes == {"TEMPLATE-FORMAT", "TEMPLATE-UNKNOWN"}


def test_the_fields_filled_are_the_fields_templates_may_name(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:

    from kernel.assessment.reports import monthly_report
    from kernel.cli.context import open_context
    from kernel.clocks.compute import ClockEvaluator

    ctx = open_context(argparse.Namespace(db=str(db)))
    try:
        rules = ctx.ruleset
        assert rules.deadlines is not None and rules.calendar is not None
        report = monthly_report(
            "2026-05",
            rules,
            ctx.ledger.project(),
            list(ctx.ledger.events()),
            ClockEvaluator(rules.deadlines, rules.calendar),
        )
    finally:
        ctx.close()
    fields = document_fields(
        report, doc_number="汉助商办发〔2026〕5号", issued=__import__("datetime").date(2026, 6, 2)
    )
    wanted = known_fields("monthly")
    assert set(wanted) <= set(fields)
    for table, columns in ROW_FIELDS.items():
        for row in fields[table]:
            assert tuple(row) == columns
    assert fields["date"] == "2026年6月2日"
    assert fields["notice"][0]["ticket_id"] == report.data["通报名单"][0]["ticket_id"]


def test_chinese_date_has_no_leading_zeros() -> None:
    assert chinese_date(dt.date(2026, 1, 5)) == "2026年1月5日"


def test_monthly_docx_in_official_layout(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "通报.docx"
    code, stdout, _ = run(
        capsys,
        "report",
        "monthly",
        "--month",
        "2026-05",
        "--format",
        "docx",
        "--output",
        str(out),
        "--doc-number",
        "汉助商办发〔2026〕5号",
        "--issued",
        "2026-06-02",
    )
    assert (code, stdout.strip()) == (0, f"已写入 {out}")
    document = Document(str(out))
    texts = [p.text for p in document.paragraphs]
    assert "汉助商办发〔2026〕5号" in texts
    assert "助商稳企·护航发展 2026 年 5 月服务动态与问题办理通报" in texts
    assert "本月走访联系企业 1 次，覆盖 1 户（在册企业 1 户）。" in texts
    assert texts[-1] == "2026年6月2日"
    assert not any("{{" in t or "{%" in t for t in texts)
    notice = document.tables[0]
    assert len(notice.rows) == 2  # the header and the one problem of 2026-05's 通报
    section = document.sections[0]
    margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
    for actual, wanted in zip(margins, (Mm(37), Mm(35), Mm(28), Mm(26)), strict=True):
        assert actual is not None and abs(actual - wanted) < Mm(0.1)  # Word stores twips
    body = next(p for p in document.paragraphs if p.text.startswith("本月走访"))
    run_ = body.runs[0]
    assert run_.font.size == Pt(16)
    fonts = run_._element.rPr.rFonts
    assert (
        fonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia")
        == "仿宋_GB2312"
    )


def test_agenda_docx_and_text(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    code, out, _ = run(capsys, "report", "agenda", "--month", "2026-05")
    assert code == 0
    assert out.splitlines()[0] == "2026 年 5 月助商稳企·护航发展调度会议程"
    target = tmp_path / "议程.docx"
    code, _, _ = run(
        capsys,
        "report",
        "agenda",
        "--month",
        "2026-05",
        "--format",
        "docx",
        "--output",
        str(target),
    )
    assert code == 0
    document = Document(str(target))
    assert len(document.tables[0].rows) == 2
    code, _, err = run(capsys, "report", "agenda", "--month", "2026-05", "--format", "docx")
    assert code == 2
    assert "Word 格式必须用 --output 指定文件" in err


def _office() -> str | None:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None and os.environ.get("HUHANG_REQUIRE_OFFICE") == "1":
        pytest.fail("LibreOffice is required here (HUHANG_REQUIRE_OFFICE=1) but not installed")
    return found


def test_documents_render_to_pages(
    db: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    office = _office()
    if office is None or shutil.which("pdftoppm") is None:
        pytest.skip("LibreOffice or pdftoppm is not installed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for kind in ("monthly", "agenda"):
        docx = tmp_path / f"{kind}.docx"
        assert (
            run(
                capsys,
                "report",
                kind,
                "--month",
                "2026-05",
                "--format",
                "docx",
                "--output",
                str(docx),
                "--doc-number",
                "汉助商办发〔2026〕5号",
                "--issued",
                "2026-06-02",
            )[0]
            == 0
        )
        subprocess.run(
            [
                office,
                "--headless",
                f"-env:UserInstallation=file://{tmp_path}/lo",
                "--convert-to",
                "pdf",
                "--outdir",
                str(tmp_path),
                str(docx),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        pdf = tmp_path / f"{kind}.pdf"
        subprocess.run(
            ["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / kind)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=False
        ).stdout
        pages = sorted(ARTIFACTS.glob(f"{kind}-*.png"))
        assert pages, f"{kind}: no page rendered"
        assert "汉中市助商稳企工作领导小组办公室" in text.replace(" ", "")
        assert re.search(r"—\s*1\s*—", text), "the page number of page 1"


def test_the_guide_lists_every_template_field() -> None:
    page = (ROOT / "docs" / "guide" / "documents.md").read_text(encoding="utf-8")
    for kind in TEMPLATES:
        assert f"`{kind}.docx`" in page
        for name, columns in known_fields(kind).items():
            assert f"`{name}`" in page, name
            for column in columns or ():
                assert f"`{column}`" in page, f"{name}.{column}"


# the fast reading of ``huhang validate`` (zipfile + regex) and docxtpl + jinja2 must agree


def _both_readings(path: Path, kind: str) -> tuple[list[Any], list[Any]]:
    from kernel.rules import templates

    def problem(code: str, message: str) -> Any:
        return (code, message)

    simple = templates.simple_tags(path)
    assert simple is not None, "the template should take the fast path"
    fast = templates._field_problems(kind, *simple, problem)
    return fast, templates._parsed_problems(path, kind, problem)


@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_fast_template_reading_agrees_with_docxtpl_on_shipped_templates(kind: str) -> None:
    fast, parsed = _both_readings(ROOT / "rules" / "templates" / f"{kind}.docx", kind)
    assert fast == parsed == []


def test_fast_template_reading_agrees_with_docxtpl_on_a_broken_template(
    rules_copy: Path,
) -> None:
    monthly = rules_copy / "templates" / "monthly.docx"
    _rewrite(monthly, "{{ title }}", "{{ titel }}")
    _rewrite(monthly, "{{ r.enterprise }}", "{{ r.enterprize }}")
    fast, parsed = _both_readings(monthly, "monthly")
    assert fast == parsed
    assert {message for _, message in fast} >= {
        "模板使用了不存在的字段 titel，是否想写 'title'？",
    }
    assert any("enterprize" in message for _, message in fast)


@pytest.mark.parametrize(
    "tag",
    ["{{ title|upper }}", "{% if title %}", "{# note #}", "{{ title", "{{  title }}"],
)
def test_tags_beyond_fields_and_loops_are_read_by_docxtpl(rules_copy: Path, tag: str) -> None:
    from kernel.rules.templates import simple_tags

    monthly = rules_copy / "templates" / "monthly.docx"
    _rewrite(monthly, "{{ title }}", tag)
    assert simple_tags(monthly) is None
    assert simple_tags(ROOT / "rules" / "templates" / "monthly.docx") is not None
