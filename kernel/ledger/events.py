"""Ledger events: one type per step of a problem's life (docs/policy.md §2) and of an enterprise's
"四个一" assignment. An event is validated against ``event.schema.json`` and the reference
data before it may enter the ledger; whether it is a legal *transition* is the projection's
business (:mod:`kernel.ledger.projection`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from kernel.errors import ProblemsError
from kernel.inputs.contracts import describe_value, fast_valid, schema_problems
from kernel.inputs.creditcode import check_character, well_formed
from kernel.inputs.creditcode import is_valid as credit_code_valid
from kernel.inputs.sourcefile import PathKey, SourceDoc, field_name
from kernel.ledger.eventtypes import EVENT_TYPES
from kernel.rules.reference import Reference

TICKET_EVENTS = frozenset(t for t in EVENT_TYPES if t.startswith("ticket."))
ENTERPRISE_EVENTS = frozenset({"enterprise.registered", "enterprise.changed"})
OFFICE = "助商稳企办"
#: the start of the id of every event that 上下联动 writes (kernel/linkage)
LINK_PREFIX = "联动"
RATINGS = ("满意", "基本满意", "不满意")


def decode_stored(body: str | bytes, seq: int) -> Event:
    """The event stored as JSON ``body`` at ``seq`` (orjson; the json module for what orjson
    refuses but json.dumps may have written, such as NaN)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = json.loads(body)
    return Event.from_stored(data, seq)


#: orjson leaves to the json module (by raising TypeError) what it would write differently
#: or what the json module refuses: subclasses of the JSON types, dates, dataclasses
_ORJSON = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
#: in orjson's output, what may differ from the json module's: a float below 1e-4 (written
#: 0.0000… or …e-7 where json writes …e-05) and null (NaN and infinities are null in orjson)
_MAYBE_DIFFERENT = re.compile(rb"null|e-|0\.0000")


def canonical_json(data: dict[str, Any]) -> str:
    """``json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))`` -- the
    stored body of an event -- by orjson when its bytes are surely the same (no float below
    1e-4, no null, only plain JSON types with str keys and 64-bit integers), else by json."""
    try:
        out = orjson.dumps(data, option=_ORJSON)
    except TypeError:  # a big integer, a non-str key, a subclass, a date …: json decides
        out = b"null"
    if _MAYBE_DIFFERENT.search(out) is None:
        return out.decode()
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _day(text: str) -> dt.date:
    """An ISO date (a ledger has a few hundred distinct days and a million events)."""
    return dt.date.fromisoformat(text)


_new = object.__new__
_set = object.__setattr__


class EventInvalid(ProblemsError):
    """An event that does not meet its schema or names unknown units or enterprises."""


@dataclass(frozen=True)
class Event:
    """One immutable ledger entry. ``seq`` is the ledger's order, set when it is stored."""

    event_id: str
    type: str
    date: dt.date
    actor: str
    payload: dict[str, Any] = field(default_factory=dict)
    ticket_id: str | None = None
    enterprise: str | None = None
    person: str | None = None
    note: str | None = None
    recorded_at: str | None = None
    #: who entered it over the API: the token's principal (``名称（单位，角色）``)
    recorded_by: str | None = None
    seq: int | None = field(default=None, compare=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], seq: int | None = None) -> Event:
        """Build from a mapping that has passed :func:`validate_event` (or came from storage)."""
        day = data["date"]
        get = data.get
        # every field set at once, without the frozen __init__'s one setattr per field
        event = object.__new__(cls)
        object.__setattr__(
            event,
            "__dict__",
            {
                "event_id": str(data["event_id"]),
                "type": str(data["type"]),
                "date": day if isinstance(day, dt.date) else _day(str(day)),
                "actor": str(data["actor"]),
                "payload": dict(get("payload") or {}),
                "ticket_id": get("ticket_id"),
                "enterprise": get("enterprise"),
                "person": get("person"),
                "note": get("note"),
                "recorded_at": get("recorded_at"),
                "recorded_by": get("recorded_by"),
                "seq": seq,
            },
        )
        return event

    @classmethod
    def from_stored(cls, data: dict[str, Any], seq: int) -> Event:
        """Build from the freshly decoded JSON of a stored event: it was validated on the way
        in, so nothing is converted or copied (replays decode every event of the ledger).

        The fields are set in one step, as the frozen dataclass's ``__init__`` would set them
        one by one (it has no ``__post_init__``): a third of the decoding time.
        """
        get = data.get
        event = _new(cls)
        _set(
            event,
            "__dict__",
            {
                "event_id": data["event_id"],
                "type": data["type"],
                "date": _day(data["date"]),
                "actor": data["actor"],
                "payload": get("payload") or {},
                "ticket_id": get("ticket_id"),
                "enterprise": get("enterprise"),
                "person": get("person"),
                "note": get("note"),
                "recorded_at": get("recorded_at"),
                "recorded_by": get("recorded_by"),
                "seq": seq,
            },
        )
        return event

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what the JSON-lines format and the API exchange); no ``seq``."""
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "type": self.type,
            "date": self.date.isoformat(),
            "actor": self.actor,
        }
        for key in ("ticket_id", "enterprise", "person", "note", "recorded_at", "recorded_by"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["payload"] = self.payload
        return out

    def to_json(self) -> str:
        """Canonical JSON text, used to compare a resubmitted event with the stored one."""
        return canonical_json(self.to_dict())

    def content_json(self) -> str:
        """:meth:`to_json` without ``recorded_by``: what a resubmission must repeat to be a
        duplicate (the same event sent again through another channel is still the same)."""
        data = self.to_dict()
        data.pop("recorded_by", None)
        return canonical_json(data)

    @property
    def label(self) -> str:
        """The Chinese name of the event type."""
        return EVENT_TYPES.get(self.type, self.type)


def validate_event(
    data: Any, reference: Reference, *, doc: SourceDoc | None = None, prefix: PathKey = ()
) -> Event:
    """Check one event's structure and references; raise :class:`EventInvalid`.

    A good event (the usual case) is checked by the compiled schema and the reference look-ups
    alone; the located problems of a bad one are worked out from its document (a new one
    named ``<event>`` when none is given)."""
    if not isinstance(data, dict):
        doc = doc or SourceDoc(path="<event>", data=data)
        problem = doc.problem(
            prefix, "SCHEMA-TYPE", "事件应为映射（键: 值），实际为 " + describe_value(data)
        )
        raise EventInvalid([problem], "事件有 1 个问题")
    earlier = doc.problems_under(prefix) if doc is not None else []
    issues = _reference_issues(data, reference) + _nul_issues(data)
    if not earlier and not issues and fast_valid("event", data):
        return Event.from_dict(data)
    doc = doc or SourceDoc(path="<event>", data=data)
    problems = earlier + schema_problems(doc, "event", data=data, prefix=prefix)
    for path, code, text in issues:
        where = (*prefix, *path)
        problems.append(doc.problem(where, code, field_name(where) + text))
    if problems:
        raise EventInvalid(problems, f"事件有 {len(problems)} 个问题")
    return Event.from_dict(data)


#: what an event's text may not hold: PostgreSQL's text columns cannot store NUL, so it is
#: refused on every backend alike (a file's reader refuses it already, the API's JSON does not)
_NUL_TEXT = " 中有不允许的控制字符 U+0000（NUL）；请删除它"


def _nul_issues(data: dict[str, Any]) -> list[Issue]:
    """Where a key or a text of ``data`` holds NUL (U+0000); one serialisation in the usual
    case (orjson writes NUL as ``\\u0000``), a walk only when it is there or cannot be told."""
    try:
        if b"\\u0000" not in orjson.dumps(data):
            return []
    except TypeError:  # a value orjson does not write (a date, a big integer): walk
        pass
    issues: list[Issue] = []

    def walk(value: Any, path: PathKey) -> None:
        if isinstance(value, str):
            if "\x00" in value:
                issues.append((path, "INPUT-CONTROL-CHAR", _NUL_TEXT))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and "\x00" in key:
                    issues.append((path, "INPUT-CONTROL-CHAR", " 的键" + _NUL_TEXT[1:]))
                walk(item, (*path, key))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, (*path, index))

    walk(data, ())
    return issues


def _listed(value: Any) -> list[Any]:
    """The items of a list of units; nothing for any other value (its schema problem says so)."""
    return value if isinstance(value, list) else []


#: a reference problem: where in the event (without the document's prefix), its code, and the
#: message's text after the field's name
Issue = tuple[PathKey, str, str]


def _reference_issues(data: dict[str, Any], reference: Reference) -> list[Issue]:
    issues: list[Issue] = []

    def check(ref: str, value: Any, path: PathKey) -> None:
        if isinstance(value, str):
            found = reference.check(ref, value)
            if found is not None:
                code, text = found
                issues.append((path, code, f" 的值{text}"))

    check("units", data.get("actor"), ("actor",))
    code = data.get("enterprise")
    if isinstance(code, str) and well_formed(code) and not credit_code_valid(code):
        expected = check_character(code[:17])
        issues.append(
            (
                ("enterprise",),
                "CREDIT-CODE",
                f" {describe_value(code)} 的校验位不正确，应为 '{expected}'",
            )
        )
    payload = data.get("payload")
    if not isinstance(payload, dict):
        return issues
    kind = data.get("type") if isinstance(data.get("type"), str) else None
    if kind in ENTERPRISE_EVENTS:
        check("territories", payload.get("territory"), ("payload", "territory"))
        check("units", payload.get("lead_unit"), ("payload", "lead_unit"))
        for i, unit in enumerate(_listed(payload.get("working_group"))):
            check("units", unit, ("payload", "working_group", i))
    if kind == "ticket.collected":
        check("categories", payload.get("category"), ("payload", "category"))
    route = payload.get("route")
    if isinstance(route, dict):
        for slot in ("primary", "feedback_owner"):
            check("units", route.get(slot), ("payload", "route", slot))
        for slot in ("co_handlers", "coordinators"):
            for i, unit in enumerate(_listed(route.get(slot))):
                check("units", unit, ("payload", "route", slot, i))
    check("units", payload.get("unit"), ("payload", "unit"))
    return issues
