"""One vocabulary: the kernel's fixed words are defined in kernel/vocabulary.py and nowhere else."""

from __future__ import annotations

import re

import pytest

from kernel import vocabulary
from kernel.inputs.contracts import load_schema
from tests.conftest import ROOT

SOURCES = sorted(p for p in (ROOT / "kernel").rglob("*.py") if p.name != "vocabulary.py")


@pytest.mark.parametrize(
    "pattern",
    [
        r'\(\s*"A",\s*"B",\s*"C",\s*"D"\s*\)',  # the grades
        r'"dispatched":\s*"[^\x00-\x7f]',  # ticket state words
        r'"breached":\s*"[^\x00-\x7f]',  # clock state words
        r'"supervision":\s*"[^\x00-\x7f]',  # escalation / notice words
        r'"feedback_owner":\s*"[^\x00-\x7f]',  # clock owner and route slot words
        r'"ticket\.rated":\s*"[^\x00-\x7f]',  # event type words
    ],
)
def test_no_module_defines_a_vocabulary_again(pattern: str) -> None:
    found = [str(p.relative_to(ROOT)) for p in SOURCES if re.search(pattern, p.read_text("utf-8"))]
    assert found == [], f"define these words in kernel/vocabulary.py: {found}"


def test_every_event_type_and_state_has_a_word() -> None:
    types = set(load_schema("event")["properties"]["type"]["enum"])
    assert types == set(vocabulary.EVENT_TYPE_WORDS)
    assert all(vocabulary.TICKET_STATE_WORDS.values())
    assert set(vocabulary.ESCALATION_WORDS) <= set(vocabulary.NOTICE_KIND_WORDS)


def test_escalation_and_notice_words_differ_only_where_the_kernel_recommends() -> None:
    differ = {
        k
        for k, word in vocabulary.ESCALATION_WORDS.items()
        if vocabulary.NOTICE_KIND_WORDS[k] != word
    }
    assert differ == {"interview"}
    assert vocabulary.NOTICE_KIND_WORDS["interview"] == "约谈建议"
    assert vocabulary.EVENT_TYPE_WORDS["interview.recommended"] == "约谈建议"


def test_yes_no() -> None:
    assert (vocabulary.yes_no(True), vocabulary.yes_no(False)) == ("是", "否")
