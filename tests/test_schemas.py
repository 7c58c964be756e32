"""The committed JSON Schemas: fresh, valid, and matching the default rules and the examples."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from kernel.inputs.sourcefile import read_file
from kernel.tools.schemagen import DRAFT, GENERATED, SCHEMA_DIR, render
from tests.conftest import ROOT, RULES

COMMITTED = sorted(SCHEMA_DIR.glob("*.schema.json"))
RULE_FILES = {
    name: RULES / f"{name}.yaml" for name in ("grading", "routing", "units", "categories")
}
CALENDAR_FILES = sorted((RULES / "calendar").glob("*.yaml"))
EXAMPLE_TICKETS = sorted((ROOT / "examples" / "tickets").glob("*.yaml"))
HEADER = re.compile(r"^# yaml-language-server: \$schema=(?P<target>\S+)$")


def committed(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    )
    return schema


def errors(name: str, path: Path) -> list[str]:
    """Schema errors of a YAML file, read the way the kernel reads it (dates as ISO text)."""
    validator = Draft202012Validator(
        committed(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    data = read_file(path).data
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


def test_the_expected_schemas_are_committed() -> None:
    names = {p.name.removesuffix(".schema.json") for p in COMMITTED}
    assert {*GENERATED, "ticket", "calendar"} <= names


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_schema_is_fresh(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file(), f"{path.name} is missing: run `make schemas`"
    assert path.read_text(encoding="utf-8") == render(GENERATED[name]()), (
        f"kernel/schemas/{path.name} is stale (kernel/schemagen.py changed): run `make schemas` "
        "and commit the result"
    )


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_schema_is_valid_draft_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT
    assert schema["$id"].endswith(f"/{path.name}")


@pytest.mark.parametrize("name", sorted(RULE_FILES))
def test_default_rule_file_matches_its_schema(name: str) -> None:
    assert errors(name, RULE_FILES[name]) == []


@pytest.mark.parametrize("path", CALENDAR_FILES, ids=lambda p: p.name)
def test_calendar_year_file_matches_its_schema(path: Path) -> None:
    assert errors("calendar", path) == []


@pytest.mark.parametrize("path", EXAMPLE_TICKETS, ids=lambda p: p.name)
def test_example_ticket_matches_the_ticket_schema(path: Path) -> None:
    assert errors("ticket", path) == []


def test_there_are_example_tickets_and_calendar_years() -> None:
    assert len(EXAMPLE_TICKETS) >= 5
    assert len(CALENDAR_FILES) >= 7


@pytest.mark.parametrize(
    "path", [*RULE_FILES.values(), *CALENDAR_FILES], ids=lambda p: p.relative_to(RULES).as_posix()
)
def test_rule_file_header_points_to_its_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = HEADER.match(first)
    assert match, f"{path.name} should start with '# yaml-language-server: $schema=…'"
    target = (path.parent / match["target"]).resolve()
    kind = "calendar" if path.parent.name == "calendar" else path.stem
    assert target == SCHEMA_DIR / f"{kind}.schema.json"


def test_a_defect_is_caught_by_the_schema(tmp_path: Path) -> None:
    # Guards the helper above: a schema check that accepts everything would pass every test here.
    broken = tmp_path / "grading.yaml"
    text = RULE_FILES["grading"].read_text(encoding="utf-8")
    broken.write_text(text.replace("then: {grade: D}", "then: {grade: E}", 1), encoding="utf-8")
    assert errors("grading", broken) == [
        "['rules', 0, 'then', 'grade']: 'E' is not one of ['A', 'B', 'C', 'D']"
    ]
