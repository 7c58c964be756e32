"""Shared set-up of the tests of levels (tests/test_levels.py) and 上下联动
(tests/test_linkage.py): the example county folder, its events, rule folders copied and
re-pointed, and the two ledgers of a problem the city dispatched to the county."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kernel.cli.main import main
from kernel.ledger.ledger import Ledger
from kernel.rules.model import RuleSet
from kernel.storage.sqlite import SqliteStorage
from tests.conftest import ROOT

CITY = ROOT / "rules"
HANTAI = ROOT / "examples" / "levels" / "hantai"
EVENTS = ROOT / "examples" / "levels" / "events"
#: the package name of the city's rules installed as a package
CITY_PACKAGE = "hanzhong_city_rules"


def set_extends(county: Path, target: str) -> None:
    """Point a county folder's ``level.yaml`` at another upper folder (``extends:``)."""
    level = county / "level.yaml"
    text = level.read_text(encoding="utf-8")
    level.write_text(
        re.sub(r"^extends: .*$", f"extends: {target}", text, count=1, flags=re.M),
        encoding="utf-8",
    )


def install_city_package(site: Path, monkeypatch: pytest.MonkeyPatch, city: Path = CITY) -> Path:
    """The city's rule folder as the installed package ``hanzhong_city_rules`` (its folder
    ``rules``) under ``site``, put on ``sys.path``; its rule folder."""
    package = site / CITY_PACKAGE
    shutil.copytree(city, package / "rules")
    (package / "__init__.py").write_text('"""The city\'s rule folder as a package."""\n')
    monkeypatch.syspath_prepend(str(site))
    return package / "rules"


def county_scenario(folder: Path, county: Path) -> Path:
    """tests/scenarios/county-referral.yaml run on ``county`` with its feedback limit
    overridden to 3 working days (the expected due date moved with it), written to
    ``folder``."""
    scenario = (ROOT / "tests" / "scenarios" / "county-referral.yaml").read_text(encoding="utf-8")
    scenario = scenario.replace(
        "  dir: ../../examples/levels/hantai\n",
        f"  dir: {county}\n  override:\n"
        "    - {file: deadlines.yaml, path: 'clocks[T-FEEDBACK].limit', value: 3}\n",
    ).replace(
        "T-FEEDBACK#1: {state: met, due: 2026-03-30}", "T-FEEDBACK#1: {state: met, due: 2026-04-01}"
    )
    path = folder / "county.yaml"
    path.write_text(scenario, encoding="utf-8")
    return path


def dispatched_to_county(
    folder: Path, county_rules: RuleSet, city_rules: RuleSet
) -> tuple[Ledger, Ledger]:
    """The county's (empty) and the city's ledgers in ``folder``, the city's problem
    HZ-2026-0101 graded and dispatched to the county (examples/levels/events/city-dispatch)."""
    county_db, city_db = str(folder / "hantai.db"), str(folder / "city.db")
    dispatch = str(EVENTS / "city-dispatch.jsonl")
    assert main(["ingest", dispatch, "--grade", "--db", city_db, "--as-of", "2026-03-20"]) == 0
    return (
        Ledger(SqliteStorage(county_db), county_rules.reference),
        Ledger(SqliteStorage(city_db), city_rules.reference),
    )


def county_split(county: Ledger) -> None:
    """The county office splits the dispatched copy among its units
    (examples/levels/events/hantai-split)."""
    split = str(EVENTS / "hantai-split.jsonl")
    assert main(["ingest", split, "--rules", str(HANTAI), "--db", county.storage.url]) == 0


def city_answer(n: int, ticket: str, rating: str) -> list[dict[str, object]]:
    """The city's feedback to the enterprise on ``ticket`` (23 March) and its rating
    (24 March), events ``HZ-D-000{n}`` and ``HZ-D-000{n + 1}``."""
    return [
        {"event_id": f"HZ-D-{n:04d}", "type": "ticket.feedback_given", "date": "2026-03-23",
         "actor": "工信局", "ticket_id": ticket, "payload": {}},
        {"event_id": f"HZ-D-{n + 1:04d}", "type": "ticket.rated", "date": "2026-03-24",
         "actor": "助商稳企办", "ticket_id": ticket, "payload": {"rating": rating}},
    ]  # fmt: skip
