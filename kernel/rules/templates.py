"""Word templates beside the rules (``rules/templates/*.docx``): the fields each may name.

Policy staff change a document's wording and layout in Word; the fields are Jinja tags that
docxtpl fills (``{{ title }}``, ``{%tr for r in notice %}`` … ``{{ r.enterprise }}``). This
module knows which fields exist for each template and reports a template that names another,
with the template's file name, the field, and a did-you-mean. The assessment layer fills the
same fields (:mod:`kernel.assessment.documents`); a test keeps the two in step.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from kernel.errors import Problem
from kernel.inputs.suggest import did_you_mean

#: the columns of each table a template may loop over
ROW_FIELDS: dict[str, tuple[str, ...]] = {
    "categories": ("category", "count", "A", "B", "C", "D"),
    "notice": (
        "ticket_id",
        "enterprise",
        "category",
        "grade",
        "clock",
        "due",
        "overdue_workdays",
        "units",
        "step",
    ),
    "overdue": ("ticket_id", "enterprise", "clock", "due", "overdue_workdays", "units"),
    "agenda": (
        "ticket_id",
        "enterprise",
        "territory",
        "category",
        "grade",
        "summary",
        "primary",
        "co_handlers",
        "status",
    ),
    "missed": ("enterprise", "name", "lead_unit", "lead_leader", "liaison_cadre"),
    "steps": ("ticket_id", "enterprise", "step", "date", "actor", "detail"),
}
#: fields every document has: the header, the title and the signature
COMMON_FIELDS = ("doc_number", "date", "title", "month")
#: per template (by file stem): its plain fields and its tables (each also has ``<table>_text``)
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "monthly": {
        "fields": (*COMMON_FIELDS, "summary"),
        "tables": ("categories", "notice", "overdue", "agenda", "missed", "steps"),
    },
    "agenda": {"fields": COMMON_FIELDS, "tables": ("agenda",)},
}
#: a template file larger than this is refused before it is read
MAX_TEMPLATE_BYTES = 5 * 1024 * 1024


def known_fields(kind: str) -> dict[str, tuple[str, ...] | None]:
    """Top-level field -> its row fields (a table) or None (a plain value)."""
    spec = TEMPLATES[kind]
    fields: dict[str, tuple[str, ...] | None] = dict.fromkeys(spec["fields"])
    for table in spec["tables"]:
        fields[table] = ROW_FIELDS[table]
        fields[f"{table}_text"] = None
    return fields


def template_path(rules_dir: Path, kind: str) -> Path:
    """Where the template of ``kind`` lives in a rule folder."""
    return rules_dir / "templates" / f"{kind}.docx"


def check_templates(rules_dir: Path, shown: str) -> list[Problem]:
    """Every problem of the Word templates of a rule folder (none when it has no templates)."""
    folder = rules_dir / "templates"
    if not folder.is_dir():
        return []
    problems: list[Problem] = []
    for path in sorted(folder.glob("*.docx")):
        where = f"{shown}/templates/{path.name}"
        if path.stem not in TEMPLATES:
            problems.append(
                Problem(
                    where,
                    0,
                    0,
                    "TEMPLATE-UNKNOWN",
                    f"不认识的模板 {path.name}（可用：{'、'.join(f'{k}.docx' for k in TEMPLATES)}）",
                )
            )
            continue
        problems.extend(_check_one(path, path.stem, where))
    return problems


def _check_one(path: Path, kind: str, where: str) -> list[Problem]:
    def problem(code: str, message: str) -> Problem:
        return Problem(where, 0, 0, code, message)

    if path.stat().st_size > MAX_TEMPLATE_BYTES:
        return [problem("TEMPLATE-SIZE", f"模板超过 {MAX_TEMPLATE_BYTES // 1024 // 1024} MB")]
    from docx.opc.exceptions import PackageNotFoundError

    try:
        source = template_source(path)
    except (zipfile.BadZipFile, KeyError, OSError, PackageNotFoundError):
        return [problem("TEMPLATE-FORMAT", "不是有效的 Word 文档（.docx）")]
    import jinja2
    from jinja2 import nodes

    try:
        tree = jinja2.Environment().parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [problem("TEMPLATE-SYNTAX", f"模板标记有误：{exc.message}")]
    fields = known_fields(kind)
    problems: list[Problem] = []
    loops: dict[str, str] = {}
    for loop in tree.find_all(nodes.For):
        if isinstance(loop.target, nodes.Name) and isinstance(loop.iter, nodes.Name):
            loops[loop.target.name] = loop.iter.name
    for name in sorted({n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}):
        if name in loops or name in fields:
            continue
        hint = did_you_mean(name, list(fields))
        problems.append(problem("TEMPLATE-FIELD", f"模板使用了不存在的字段 {name}{hint}"))
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name in loops:
            table = loops[attr.node.name]
            columns = fields.get(table)
            if columns is not None and attr.attr not in columns:
                hint = did_you_mean(attr.attr, list(columns))
                problems.append(
                    problem(
                        "TEMPLATE-FIELD",
                        f"模板中表格 {table} 没有列 {attr.attr}{hint}",
                    )
                )
    return sorted(set(problems))


def template_source(path: Path) -> str:
    """The Jinja source of a .docx template, as docxtpl will render it."""
    from docxtpl import DocxTemplate

    template: Any = DocxTemplate(str(path))
    template.init_docx()
    return str(template.patch_xml(template.get_xml()))
