"""The ticket contract: 《企业问题办理单》 with its enterprise, validated before evaluation."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from kernel.errors import Problem, TicketInvalid
from kernel.inputs.contracts import describe_value, schema_problems
from kernel.inputs.creditcode import check_character, well_formed
from kernel.inputs.creditcode import is_valid as credit_code_valid
from kernel.inputs.sourcefile import (
    PathKey,
    SourceDoc,
    field_name,
    parse_text,
    read_file,
    read_stdin,
)
from kernel.rules.fields import ticket_fields
from kernel.rules.reference import Reference


@dataclass(frozen=True)
class Ticket:
    """A validated ticket: its data with defaults filled, and a flat path -> value view."""

    data: dict[str, Any]
    values: dict[str, Any]
    source: str = ""

    @property
    def ticket_id(self) -> str:
        """The ticket's own id (办理单编号)."""
        return str(self.data["ticket_id"])


@dataclass(frozen=True)
class _Shape:
    """The ticket contract's fields as paths of keys, split once (every collected ticket of a
    replay fills its defaults and is flattened)."""

    #: (parents, leaf, default) of every field with a default
    defaults: tuple[tuple[tuple[str, ...], str, Any], ...]
    #: (dotted path, keys) of every field
    paths: tuple[tuple[str, tuple[str, ...]], ...]


_ATOMIC = (str, int, float, bool, type(None))


@cache
def _shape() -> _Shape:
    fields = ticket_fields()
    defaults = []
    for path, spec in fields.items():
        if spec.default is not None:
            *parents, leaf = path.split(".")
            defaults.append((tuple(parents), leaf, spec.default))
    paths = tuple((path, tuple(path.split("."))) for path in fields)
    return _Shape(tuple(defaults), paths)


def _fill_defaults(data: dict[str, Any]) -> None:
    for parents, leaf, default in _shape().defaults:
        node: Any = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = default if isinstance(default, _ATOMIC) else copy.deepcopy(default)


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """The ticket's values keyed by dotted field path; unfilled optional fields are absent."""
    values: dict[str, Any] = {}
    for path, keys in _shape().paths:
        node: Any = data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            values[path] = node
    return values


def _semantic_problems(
    doc: SourceDoc, data: dict[str, Any], prefix: PathKey, reference: Reference
) -> list[Problem]:
    problems: list[Problem] = []
    fields = ticket_fields()
    values = flatten(data)
    keys = dict(_shape().paths)
    for path, spec in fields.items():
        if path not in values:
            continue
        value = values[path]
        where: PathKey = (*prefix, *keys[path])
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(
                doc.problem(
                    where, "TICKET-VALUE", f"{path}（{spec.label}）的值 {value} 不是有限数字"
                )
            )
        if spec.ref:
            items = value if isinstance(value, list) else [value]
            for i, item in enumerate(items):
                if not isinstance(item, str):
                    continue
                found = reference.check(spec.ref, item)
                if found is not None:
                    code, text = found
                    item_path = (*where, i) if isinstance(value, list) else where
                    problems.append(
                        doc.problem(
                            item_path, code, f"{field_name(item_path)}（{spec.label}）的值{text}"
                        )
                    )
    credit = values.get("enterprise.credit_code")
    if isinstance(credit, str) and well_formed(credit) and not credit_code_valid(credit):
        where = (*prefix, "enterprise", "credit_code")
        problems.append(
            doc.problem(
                where,
                "CREDIT-CODE",
                f"{field_name(where)}（统一社会信用代码）{describe_value(credit)} 的校验位不正确，"
                f"应为 '{check_character(credit[:17])}'",
            )
        )
    return problems


def ticket_from_doc(
    doc: SourceDoc,
    reference: Reference,
    *,
    data: Any = None,
    prefix: PathKey = (),
    take: bool = False,
) -> Ticket:
    """Validate one ticket found in ``doc`` (at ``prefix``); raise :class:`TicketInvalid`.

    The ticket holds a copy of the data, with its defaults filled in; with ``take`` the data
    itself (for a caller that built it for this ticket and keeps no other use of it).
    """
    raw = doc.data if data is None else data
    if not isinstance(raw, dict):
        problem = doc.problem(
            prefix, "SCHEMA-TYPE", "办理单应为映射（键: 值），实际为 " + describe_value(raw)
        )
        raise TicketInvalid([problem], "办理单有 1 个问题")
    problems = doc.problems_under(prefix)
    problems += schema_problems(doc, "ticket", data=raw, prefix=prefix)
    problems += _semantic_problems(doc, raw, prefix, reference)
    if problems:
        raise TicketInvalid(problems, f"办理单有 {len(problems)} 个问题")
    data_copy = raw if take else copy.deepcopy(raw)
    _fill_defaults(data_copy)
    return Ticket(data=data_copy, values=flatten(data_copy), source=doc.path)


def trusted_ticket(data: dict[str, Any], source: str = "<ticket>") -> Ticket:
    """A ticket from data that already passed the contract (a stored event): defaults only.

    ``data`` is taken over (defaults are filled into it), not copied.
    """
    _fill_defaults(data)
    return Ticket(data=data, values=flatten(data), source=source)


def validate_ticket(
    data: dict[str, Any], reference: Reference, source: str = "<ticket>", *, take: bool = False
) -> Ticket:
    """Validate a ticket given as a Python mapping (the API's entry point); ``take`` as for
    :func:`ticket_from_doc`."""
    return ticket_from_doc(SourceDoc(path=source, data=data), reference, take=take)


def read_ticket_docs(location: str) -> list[tuple[SourceDoc, Any, PathKey]]:
    """Read tickets from a YAML/JSON file or ``-`` (stdin).

    A file holds one ticket, a list of tickets, or ``{tickets: [...]}``. Returns each ticket's
    document, its data and its path inside the document.
    """
    if location == "-":
        doc = parse_text(read_stdin(), "<stdin>")
    else:
        doc = read_file(Path(location), location)
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("tickets"), list):
        return [(doc, item, ("tickets", i)) for i, item in enumerate(data["tickets"])]
    if isinstance(data, list):
        return [(doc, item, (i,)) for i, item in enumerate(data)]
    return [(doc, data, ())]
