"""Build the default Word templates in rules/templates/ (run once; staff then edit them in Word).

The layout follows 党政机关公文格式 (GB/T 9704-2012): A4, margins 37/35/28/26 mm, the issuing
office's mark in red over a red rule, the 文号, a 2号 title, 3号仿宋 body at 22 lines a page,
headings 一、 in 黑体 and （一） in 楷体, the office and date at the end, and page numbers
"— N —" in 4号宋体, outside on odd and even pages. Fields are Jinja tags that docxtpl fills
(the field list is in the documentation and ``huhang validate`` checks it).

    python scripts/make_templates.py [DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph

TITLE_FONT, BODY_FONT, HEAD_FONT, SUB_FONT, NUMBER_FONT = (
    "方正小标宋简体",
    "仿宋_GB2312",
    "黑体",
    "楷体_GB2312",
    "宋体",
)
SIZE_2, SIZE_3, SIZE_4 = Pt(22), Pt(16), Pt(14)
RED = RGBColor(0xE0, 0x00, 0x00)
LINE = Pt(28.95)  # 22 lines in the 225 mm type area
OFFICE = "汉中市助商稳企工作领导小组办公室"


def _font(
    run: object, name: str, size: Pt, *, bold: bool = False, color: RGBColor | None = None
) -> None:
    run.font.name = name  # type: ignore[attr-defined]
    run.font.size = size  # type: ignore[attr-defined]
    run.font.bold = bold  # type: ignore[attr-defined]
    if color is not None:
        run.font.color.rgb = color  # type: ignore[attr-defined]
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()  # type: ignore[attr-defined]
    for attr in ("w:eastAsia", "w:ascii", "w:hAnsi"):
        fonts.set(qn(attr), name)


def _para(
    doc: Document,
    text: str,
    font: str = BODY_FONT,
    size: Pt = SIZE_3,
    *,
    align: WD_ALIGN_PARAGRAPH | None = None,
    indent: bool = False,
    bold: bool = False,
    color: RGBColor | None = None,
) -> Paragraph:
    paragraph = doc.add_paragraph()
    fmt = paragraph.paragraph_format
    fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    fmt.line_spacing = LINE
    fmt.space_before = fmt.space_after = Pt(0)
    if indent:
        fmt.first_line_indent = Pt(32)  # two characters of 3号
    if align is not None:
        paragraph.alignment = align
    if text:
        _font(paragraph.add_run(text), font, size, bold=bold, color=color)
    return paragraph


def _red_rule(paragraph: Paragraph) -> None:
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (
        ("w:val", "single"),
        ("w:sz", "12"),
        ("w:space", "4"),
        ("w:color", "E00000"),
    ):
        bottom.set(qn(key), value)
    borders.append(bottom)
    paragraph._p.get_or_add_pPr().append(borders)


def _page_number(paragraph: Paragraph) -> None:
    _font(paragraph.add_run("— "), NUMBER_FONT, SIZE_4)
    run = paragraph.add_run()
    _font(run, NUMBER_FONT, SIZE_4)
    for kind, text in (("begin", None), (None, " PAGE "), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        run._r.append(element)
    _font(paragraph.add_run(" —"), NUMBER_FONT, SIZE_4)


def _setup(doc: Document, *, landscape: bool = False) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = Mm(297), Mm(210)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    section.footer_distance = Mm(20)
    doc.settings.odd_and_even_pages_header_footer = True
    odd = section.footer.paragraphs[0]
    odd.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    _page_number(odd)
    even = section.even_page_footer.paragraphs[0]
    even.alignment = WD_ALIGN_PARAGRAPH.LEFT
    _page_number(even)
    style = doc.styles["Normal"]
    _font(style, BODY_FONT, SIZE_3)


def _head(doc: Document, number_line: str) -> None:
    _para(doc, OFFICE, TITLE_FONT, Pt(26), align=WD_ALIGN_PARAGRAPH.CENTER, color=RED)
    _para(doc, "")
    rule = _para(doc, number_line, align=WD_ALIGN_PARAGRAPH.CENTER)
    _red_rule(rule)
    _para(doc, "")


TABLE_SIZE = Pt(12)


def _table(
    doc: Document, headers: list[str], fields: list[str], loop: str, size: Pt = TABLE_SIZE
) -> None:
    table = doc.add_table(rows=4, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        _font(cell.paragraphs[0].add_run(text), HEAD_FONT, size)
    _font(
        table.rows[1].cells[0].paragraphs[0].add_run(f"{{%tr for r in {loop} %}}"), BODY_FONT, size
    )
    for cell, name in zip(table.rows[2].cells, fields, strict=True):
        _font(cell.paragraphs[0].add_run(f"{{{{ r.{name} }}}}"), BODY_FONT, size)
    _font(table.rows[3].cells[0].paragraphs[0].add_run("{%tr endfor %}"), BODY_FONT, size)


def _closing(doc: Document) -> None:
    _para(doc, "")
    _para(doc, OFFICE, align=WD_ALIGN_PARAGRAPH.RIGHT)
    _para(doc, "{{ date }}", align=WD_ALIGN_PARAGRAPH.RIGHT)


def monthly_notice() -> Document:
    """The monthly 通报: 服务动态, the 通报名单, overdue work, the agenda and missed contacts."""
    doc = Document()
    _setup(doc)
    _head(doc, "{{ doc_number }}")
    _para(doc, "{{ title }}", TITLE_FONT, SIZE_2, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "")
    _para(doc, "各县区助商稳企办，市级有关部门：")
    _para(doc, "现将{{ month }}助商稳企·护航发展工作开展情况及问题办理情况通报如下。", indent=True)
    _para(doc, "一、服务动态", HEAD_FONT)
    _para(doc, "{%p for line in summary %}", indent=True)
    _para(doc, "{{ line }}", indent=True)
    _para(doc, "{%p endfor %}", indent=True)
    _para(doc, "二、问题办理通报", HEAD_FONT)
    _para(doc, "{{ notice_text }}", indent=True)
    _table(
        doc,
        ["编号", "企业", "时限", "到期日", "超期", "责任单位"],
        ["ticket_id", "enterprise", "clock", "due", "overdue_workdays", "units"],
        "notice",
    )
    _para(doc, "三、月末超期问题", HEAD_FONT)
    _para(doc, "{{ overdue_text }}", indent=True)
    _table(
        doc,
        ["编号", "企业", "时限", "到期日", "超期", "责任单位"],
        ["ticket_id", "enterprise", "clock", "due", "overdue_workdays", "units"],
        "overdue",
    )
    _para(doc, "四、下一步工作", HEAD_FONT)
    _para(
        doc,
        "请各责任单位对照通报名单逐项整改，按时办结并向企业反馈，整改情况于下月 5 日前报助商稳企办。",
        indent=True,
    )
    _closing(doc)
    return doc


def agenda() -> Document:
    """The 调度会 agenda: the problems that need the city's departments to meet."""
    doc = Document()
    _setup(doc, landscape=True)
    _head(doc, "{{ doc_number }}")
    _para(doc, "{{ title }}", TITLE_FONT, SIZE_2, align=WD_ALIGN_PARAGRAPH.CENTER)
    _para(doc, "")
    _para(doc, "{{ agenda_text }}", indent=True)
    _table(
        doc,
        ["编号", "企业", "县区", "类别", "等级", "问题", "主办单位", "协办单位", "状态"],
        [
            "ticket_id",
            "enterprise",
            "territory",
            "category",
            "grade",
            "summary",
            "primary",
            "co_handlers",
            "status",
        ],
        "agenda",
        Pt(10.5),
    )
    _closing(doc)
    return doc


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "rules" / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    monthly_notice().save(folder / "monthly.docx")
    agenda().save(folder / "agenda.docx")
    print(f"wrote {folder}/monthly.docx and agenda.docx")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
