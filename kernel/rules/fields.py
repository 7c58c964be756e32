"""The fields a rule condition may read, derived from the ticket schema.

A rule names a field by its dotted path (``enterprise.territory``). The catalogue knows each
field's type, its Chinese label and, for reference-valued fields, which reference list its
values come from, so that rules can be checked before anything is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from kernel.inputs.contracts import load_schema
from kernel.vocabulary import GRADES


@dataclass(frozen=True)
class FieldSpec:
    """One readable field: its path, JSON type and constraints."""

    path: str
    type: str  # string | number | integer | boolean | array | date
    label: str
    item_type: str | None = None
    ref: str | None = None  # categories | territories | departments | units
    enum: tuple[str, ...] = ()
    default: Any = None
    required: bool = False

    @property
    def numeric(self) -> bool:
        """True for number and integer fields."""
        return self.type in ("number", "integer")


def _walk(schema: dict[str, Any], prefix: str, required: bool, out: dict[str, FieldSpec]) -> None:
    needed = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        kind = sub.get("type", "string")
        is_required = required and name in needed
        if kind == "object":
            _walk(sub, f"{path}.", is_required, out)
            continue
        items = sub.get("items", {}) if kind == "array" else {}
        if kind == "string" and sub.get("format") == "date":
            kind = "date"
        out[path] = FieldSpec(
            path=path,
            type=kind,
            label=sub.get("title", path),
            item_type=items.get("type") if items else None,
            ref=sub.get("x-huhang-ref") or items.get("x-huhang-ref"),
            enum=tuple(sub.get("enum", ())),
            default=sub.get("default"),
            required=is_required,
        )


@cache
def ticket_fields() -> dict[str, FieldSpec]:
    """Every field of the ticket contract, keyed by dotted path."""
    out: dict[str, FieldSpec] = {}
    _walk(load_schema("ticket"), "", True, out)
    return out


GRADE_FIELD = FieldSpec(path="grade", type="string", label="问题等级", enum=GRADES, required=False)


def fields_for(kind: str) -> dict[str, FieldSpec]:
    """The fields visible to a rule file of ``kind``: routing also sees the grade."""
    fields = dict(ticket_fields())
    if kind == "routing":
        fields["grade"] = GRADE_FIELD
    return fields
