"""The compiled event and ticket validators (fastjsonschema) never accept what jsonschema refuses.

``schema_problems`` asks the compiled validator first and trusts its yes; these tests hold it
to the reference validator's answers on the shipped examples, on the hostile values of the
fuzz suite put at every place of every example event, and on hand-made edge cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.inputs.contracts import (
    COMPILED,
    COMPILED_KEYWORDS,
    compiled_kind,
    fast_valid,
    kind_parts,
    load_schema,
    validator,
)

ROOT = Path(__file__).resolve().parents[1]
EVENTS = [
    json.loads(line)
    for line in (ROOT / "examples" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
HOSTILE: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    1.0,
    10**30,
    "",
    " ",
    "yesterday",
    "2026-02-30",
    "2026-13-01",
    "2026-1-1",
    "2026-01-01T09:00:00",
    "2026-01-01 25:00",
    "２０２６-01-01",
    "x" * 5000,
    "a\nb",
    "a\u202eb",
    "\x00",
    [],
    [1, True],
    ["a", "a"],
    {},
    {"x": 1},
    [[[]]],
]


def keywords(value: Any, under_names: bool = False) -> Iterator[str]:
    """Every keyword of a schema (the names of properties and definitions are not keywords;
    a definition that only groups named definitions, like ``$defs/assignment``, neither)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not under_names:
                yield key
            group = under_names and isinstance(item, dict) and "type" not in item
            yield from keywords(item, key in ("properties", "$defs") or group)
    elif isinstance(value, list):
        for item in value:
            yield from keywords(item)


def places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, (*path, index))


def put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = put(value[head], rest, new)
    return copy


def reference_valid(name: str, data: Any) -> bool:
    return not any(True for _ in validator(name).iter_errors(data))


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_compiled_schemas_use_only_keywords_both_validators_share(name: str) -> None:
    assert set(keywords(load_schema(name))) <= COMPILED_KEYWORDS


def test_every_example_event_is_accepted_by_both() -> None:
    for event in EVENTS:
        assert reference_valid("event", event)
        assert fast_valid("event", event)


def test_mutated_events_are_never_accepted_by_the_compiled_validator_alone() -> None:
    checked = accepted = 0
    for event in EVENTS:
        for path in places(event):
            for value in HOSTILE:
                data = put(event, path, value)
                fast = fast_valid("event", data)
                assert not fast or reference_valid("event", data), (path, value)
                checked += 1
                accepted += fast
    assert checked > 1000 and accepted > 0  # the corpus has both verdicts


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recorded_at", "yesterday"),
        ("date", "2026-02-30"),
        ("date", "2026/03/02"),
        ("note", "很长" * 5000),
        ("event_id", "E\n1"),
        ("actor", ""),
    ],
)
def test_hardened_refusals_are_refused_by_both(field: str, value: Any) -> None:
    event = {**EVENTS[0], field: value}
    assert not reference_valid("event", event)
    assert not fast_valid("event", event)


def test_the_compiled_validator_fills_in_no_defaults() -> None:
    event = json.loads(json.dumps(EVENTS[0]))
    before = json.dumps(event, sort_keys=True)
    assert fast_valid("event", event)
    assert json.dumps(event, sort_keys=True) == before


def test_each_type_validator_agrees_with_the_reference_on_every_payload() -> None:
    kinds = sorted(kind_parts("event"))
    assert "ticket.collected" in kinds
    for event in EVENTS:
        for kind in kinds:
            data = {**event, "type": kind}
            assert fast_valid("event", data) == reference_valid("event", data), (kind, event)


def test_property_names_and_maximum_are_held_alike() -> None:
    route = {"primary": "汉台区", "co_handlers": [], "feedback_owner": "商务局"}
    graded = {
        "event_id": "G-1",
        "type": "ticket.graded",
        "date": "2026-03-02",
        "actor": "助商稳企办",
        "ticket_id": "T-1",
        "payload": {"grade": "B", "route": route, "by_grade": {"A": {"primary": "市人社局"}}},
    }
    assert fast_valid("event", graded) and reference_valid("event", graded)
    wrong = {**graded, "payload": {**graded["payload"], "by_grade": {"E": {}}}}
    assert not fast_valid("event", wrong) and not reference_valid("event", wrong)
    for kind in kind_parts("event"):
        for workdays in (0, 1, 250, 251):
            data = {**graded, "type": kind, "payload": {"workdays": workdays, "reason": "x"}}
            assert fast_valid("event", data) == reference_valid("event", data), (kind, workdays)


def test_compiling_leaves_the_published_schemas_as_they_are() -> None:
    before = json.dumps(load_schema("event"), sort_keys=True)
    compiled_kind.cache_clear()
    for kind in kind_parts("event"):
        compiled_kind("event", kind)
    for event in EVENTS:
        fast_valid("event", event)
    assert json.dumps(load_schema("event"), sort_keys=True) == before
