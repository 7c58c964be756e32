"""Shared fixtures: the default rule set, a compiled kernel, and a ticket builder."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel import Kernel, load_rules
from kernel.rules.model import RuleSet

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"

BASE_TICKET: dict[str, Any] = {
    "ticket_id": "T-0001",
    "collected_on": "2026-03-02",
    "category": "用工",
    "summary": "招工难",
    "enterprise": {
        "credit_code": "91610700MA6YT2A0X4",
        "name": "汉中市汉运物流有限公司",
        "territory": "汉台区",
        "lead_unit": "商务局",
        "lead_leader": "张明",
    },
    "assessment": {"authority_level": "本单位"},
}


def make_ticket(**changes: Any) -> dict[str, Any]:
    """A valid ticket with changes; nested keys use ``enterprise__name=...`` style."""
    ticket = copy.deepcopy(BASE_TICKET)
    for key, value in changes.items():
        node = ticket
        *parents, leaf = key.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return ticket


@pytest.fixture(scope="session")
def ruleset() -> RuleSet:
    return load_rules(RULES)


@pytest.fixture(scope="session")
def kernel(ruleset: RuleSet) -> Iterator[Kernel]:
    k = Kernel(ruleset)
    yield k
    k.close()


@pytest.fixture
def ticket() -> Callable[..., dict[str, Any]]:
    return make_ticket


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the default rules."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target
