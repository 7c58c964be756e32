"""Word templates beside the rules (``rules/templates/*.docx``): the fields each may name.

Policy staff change a document's wording and layout in Word; the fields are Jinja tags that
docxtpl fills (``{{ title }}``, ``{%tr for r in notice %}`` … ``{{ r.enterprise }}``). This
module knows which fields exist for each template and reports a template that names another,
with the template's file name, the field, and a did-you-mean. The assessment layer fills the
same fields (:mod:`kernel.assessment.documents`); a test keeps the two in step.
"""

from __future__ import annotations

import re
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
    simple = simple_tags(path)
    if simple is not None:  # plain fields and loops only: no need for docxtpl and jinja2
        names, loops, attrs = simple
        return _field_problems(kind, names, loops, attrs, problem)
    return _parsed_problems(path, kind, problem)


def _parsed_problems(path: Path, kind: str, problem: Any) -> list[Problem]:
    """The fields of a template as docxtpl and jinja2 read it (any template)."""
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
    loops: dict[str, str] = {}
    for loop in tree.find_all(nodes.For):
        if isinstance(loop.target, nodes.Name) and isinstance(loop.iter, nodes.Name):
            loops[loop.target.name] = loop.iter.name
    names = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load"}
    attrs = [
        (attr.node.name, attr.attr)
        for attr in tree.find_all(nodes.Getattr)
        if isinstance(attr.node, nodes.Name)
    ]
    return _field_problems(kind, names, loops, attrs, problem)


def _field_problems(
    kind: str,
    names: set[str],
    loops: dict[str, str],
    attrs: list[tuple[str, str]],
    problem: Any,
) -> list[Problem]:
    """Fields a template names (loaded names, loop target -> table, name.attr) that do not exist."""
    fields = known_fields(kind)
    problems: list[Problem] = []
    for name in sorted(names):
        if name in loops or name in fields:
            continue
        hint = did_you_mean(name, list(fields))
        problems.append(problem("TEMPLATE-FIELD", f"模板使用了不存在的字段 {name}{hint}"))
    for base, column in attrs:
        if base in loops:
            table = loops[base]
            columns = fields.get(table)
            if columns is not None and column not in columns:
                hint = did_you_mean(column, list(columns))
                problems.append(
                    problem(
                        "TEMPLATE-FIELD",
                        f"模板中表格 {table} 没有列 {column}{hint}",
                    )
                )
    return sorted(set(problems))


# docxtpl's first clean-up of the XML (``DocxTemplate.patch_xml``): join ``{<tags>{`` and drop
# the run boundaries inside a tag, so ``{{ fie</w:t>…<w:t>ld }}`` reads ``{{ field }}``
_JOIN = re.compile(r"(?<={)(<[^>]*>)+(?=[\{%\#])|(?<=[%\}\#])(<[^>]*>)+(?=\})", re.DOTALL)
_INSIDE = re.compile(r"{%(?:(?!%}).)*|{#(?:(?!#}).)*|{{(?:(?!}}).)*", re.DOTALL)
_RUNS = re.compile(r"</w:t>.*?(<w:t>|<w:t [^>]*>)", re.DOTALL)
_BODY = re.compile(r"<w:body\b[^>]*>(.*)</w:body>", re.DOTALL)
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TAG = re.compile(
    rf"{{{{ ?(?P<name>{_IDENT})(?:\.(?P<attr>{_IDENT}))? ?}}}}"
    rf"|{{%(?:tr|tc|p)? for (?P<target>{_IDENT}) in (?P<iter>{_IDENT}) %}}"
    r"|{%(?:tr|tc|p)? (?P<end>endfor) %}"
)
_MARKS = re.compile(r"{{|{%|{#|}}|%}|#}")


def simple_tags(
    path: Path,
) -> tuple[set[str], dict[str, str], list[tuple[str, str]]] | None:
    """The fields of a template whose every tag is a plain field or a loop, read from the XML.

    Returns what :func:`_parsed_problems` would find (loaded names, loop target -> table, and
    ``name.attr`` pairs) when each tag is ``{{ name }}``, ``{{ row.column }}``, ``{%tr for row in
    table %}`` or ``{%tr endfor %}`` (loops balanced); otherwise None, and docxtpl and jinja2 read
    the template (filters, conditions, comments, a broken file or tag all take that path).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            xml = archive.read("word/document.xml").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError, RuntimeError, ValueError):
        return None
    body = _BODY.search(xml)
    if body is None or "&#" in xml or "<![CDATA[" in xml:  # lxml would rewrite these
        return None
    source = _JOIN.sub("", body.group(1))
    source = _INSIDE.sub(lambda m: _RUNS.sub("", m.group(0)), source)
    names: set[str] = set()
    loops: dict[str, str] = {}
    attrs: list[tuple[str, str]] = []
    depth = 0
    for tag in _TAG.finditer(source):
        if tag["name"] is not None:
            names.add(tag["name"])
            if tag["attr"] is not None:
                attrs.append((tag["name"], tag["attr"]))
        elif tag["target"] is not None:
            depth += 1
            names.add(tag["iter"])
            loops[tag["target"]] = tag["iter"]
        else:
            depth -= 1
            if depth < 0:
                return None
    if depth != 0 or _MARKS.search(_TAG.sub("", source)) is not None:
        return None
    return names, loops, attrs


def template_source(path: Path) -> str:
    """The Jinja source of a .docx template, as docxtpl will render it."""
    from docxtpl import DocxTemplate

    template: Any = DocxTemplate(str(path))
    template.init_docx()
    return str(template.patch_xml(template.get_xml()))
