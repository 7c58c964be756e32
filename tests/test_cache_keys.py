"""The keys of the caches beside the read model (the sweep's quiet marks, the facts cache) say
what the cached answers depend on -- the rules' content and the calendar -- and nothing else.

Rules read through another path to the same files (a cron job's working folder, the service's)
give the same keys, so one does not throw away what the other cached; a change of a rule gives
another key.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from kernel.assessment.facts import facts_key
from kernel.assessment.scoring import FactCollector
from kernel.clocks.compute import ClockEvaluator
from kernel.clocks.index import evaluator_key
from kernel.rules.load import load_rules
from kernel.rules.model import RuleSet
from tests.conftest import RULES


def _keys(ruleset: RuleSet) -> tuple[str, str]:
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    assert ruleset.scoring is not None
    collector = FactCollector(
        ruleset.scoring, ruleset.deadlines, ruleset.calendar, ruleset.reference
    )
    return facts_key(collector), evaluator_key(ClockEvaluator(ruleset.deadlines, ruleset.calendar))


def test_the_same_rules_through_other_paths_give_the_same_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absolute = _keys(load_rules(RULES))
    monkeypatch.chdir(RULES.parent)
    relative = load_rules(Path(RULES.name))
    assert relative.deadlines is not None and not Path(relative.deadlines.path).is_absolute()
    assert _keys(relative) == absolute
    copy = tmp_path / "elsewhere" / "rules"
    shutil.copytree(RULES, copy)
    monkeypatch.chdir(tmp_path)
    assert _keys(load_rules(Path(os.path.relpath(copy, tmp_path)))) == absolute


def test_a_changed_clock_gives_other_keys(ruleset: RuleSet) -> None:
    assert ruleset.deadlines is not None
    clocks = ruleset.deadlines.clocks
    changed = dataclasses.replace(clocks[0], warn=not clocks[0].warn)
    deadlines = dataclasses.replace(ruleset.deadlines, clocks=(changed, *clocks[1:]))
    other = dataclasses.replace(ruleset, deadlines=deadlines)
    before, after = _keys(ruleset), _keys(other)
    assert before[0] != after[0] and before[1] != after[1]
