"""Word documents from the templates beside the rules: the monthly 通报 and the 调度会 agenda.

A report (:mod:`kernel.assessment.reports`) becomes the template's fields
(:mod:`kernel.rules.templates` lists them): its title, the month, the 文号 and the date of
issue, the lines of each section (``notice_text`` …) and each table's rows (``notice`` …).
docxtpl renders the template; what staff wrote around the fields stays as they wrote it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from kernel.assessment.reports import Report
from kernel.errors import InputError
from kernel.rules.templates import known_fields, template_path


def chinese_date(day: dt.date) -> str:
    """成文日期 as GB/T 9704-2012 writes it: Arabic numerals, no leading zeros."""
    return f"{day.year}年{day.month}月{day.day}日"


def document_fields(report: Report, *, doc_number: str, issued: dt.date) -> dict[str, Any]:
    """The fields of a report, as the templates name them."""
    month = str(report.data.get("month", ""))
    year_month = month.split("-")
    fields: dict[str, Any] = {
        "doc_number": doc_number,
        "date": chinese_date(issued),
        "title": report.title,
        "month": f"{year_month[0]}年{int(year_month[1])}月" if len(year_month) == 2 else month,
    }
    for section in report.sections:
        if not section.key:
            continue
        if section.key == "categories":
            fields["summary"] = list(section.lines)
        fields[f"{section.key}_text"] = "".join(section.lines)
        if section.table is not None:
            fields[section.key] = [
                {key: _shown(value) for key, value in record.items()}
                for record in section.table.records()
            ]
    return fields


def _shown(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def write_docx(
    report: Report,
    kind: str,
    rules_dir: Path,
    output: Path,
    *,
    doc_number: str,
    issued: dt.date,
) -> Path:
    """Render the ``kind`` template of ``rules_dir`` with ``report`` into ``output``."""
    from docxtpl import DocxTemplate

    template = template_path(rules_dir, kind)
    if not template.is_file():
        raise InputError(
            f"规则目录中没有 Word 模板 {template}（可从项目自带的 rules/templates/ 复制）"
        )
    fields = document_fields(report, doc_number=doc_number, issued=issued)
    wanted = known_fields(kind)
    document = DocxTemplate(str(template))
    document.render({name: fields.get(name, "") for name in wanted}, autoescape=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(output))
    return output
