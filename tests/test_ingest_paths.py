"""The fast paths of ingest give what the plain ones gave: the stored body's bytes, reference
and credit-code verdicts, and the located messages of bad events."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

from kernel.demo.generate import generate
from kernel.errors import TicketInvalid
from kernel.inputs.creditcode import ALPHABET, WEIGHTS, check_character, is_valid, well_formed
from kernel.inputs.sourcefile import SourceDoc
from kernel.ledger.events import EventInvalid, canonical_json, validate_event
from kernel.ledger.ledger import Ledger
from kernel.rules.model import RuleSet
from kernel.rules.reference import REF_WORDS
from kernel.storage.memory import MemoryStorage
from tests.timeline import CODE


def json_dumps(data: Any) -> str:
    """The stored body as it was written before orjson (the reference)."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Text(str):
    """A str subclass (orjson would write it, json writes its text)."""


TRICKY: list[Any] = [
    {"amount": 1e-05, "b": [0.0001, 9.99e-05, 1.5e-7, -2.5e-9, 0.1, 1e16, 1e22, 123456.789]},
    {"x": -0.0, "y": 5e-324, "z": 1.7976931348623157e308, "w": 100.0, "v": 2.0**60},
    {"nan": math.nan, "inf": math.inf, "ninf": -math.inf},
    {"none": None, "text": "null", "mail": "e-mail 0.00001"},
    {"big": 2**64, "small": -(2**63) - 1, "edge": 2**63 - 1, "edge2": -(2**63)},
    {"keys": {1: "one", 2: "two"}},
    {"sub": Text("子类"), "bool": True, "false": False},
    {"ctl": "\x00\x01\x1f\x7f\x80\x9f\u2028\u2029\u200e\ufeff", "quote": '"\\/'},
    {"中": 1, "é": 2, "e": 3, "😀": 4, "\uffff": 5, "Z": 6, "a": [{"b": 1, "a": 2}]},
    {"emoji": "😀👍🏽", "cjk": "汉中市助商稳企办", "tab": "a\tb\nc\rd"},
    {"tuple": (1, "a", None), "deep": [[[[{"k": [1.25, "v"]}]]]]},
]


@pytest.mark.parametrize("data", TRICKY)
def test_canonical_json_is_the_json_modules_text(data: dict[str, Any]) -> None:
    assert canonical_json(data) == json_dumps(data)


def test_canonical_json_on_random_floats_and_the_demo_ledger() -> None:
    rng = random.Random(16)
    floats = [rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 20) for _ in range(5_000)]
    for value in floats:
        assert canonical_json({"amount": value}) == json_dumps({"amount": value})
    events = list(generate(seed=3, enterprises=8, problems=40).ledger.events())
    assert len(events) > 200
    for event in events:
        assert event.to_json() == json_dumps(event.to_dict())


def test_canonical_json_refuses_what_json_refuses() -> None:
    import datetime as dt

    with pytest.raises(TypeError):
        canonical_json({"day": dt.date(2026, 1, 1)})


def test_reference_checks_agree_with_the_id_lists(ruleset: RuleSet) -> None:
    reference = ruleset.reference
    strangers = [
        "",
        "不存在的单位",
        "汉台",
        " 汉台区",
        *(u + "x" for u in list(reference.units)[:5]),
    ]
    values = [*reference.units, *reference.categories, *strangers]
    for ref in REF_WORDS:
        allowed = reference.ids(ref)
        for value in values:
            assert (reference.check(ref, value) is None) == (value in allowed), (ref, value)


def test_credit_codes_agree_with_the_standards_formula() -> None:
    def expected(first17: str) -> str:
        total = sum(ALPHABET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
        return ALPHABET[(31 - total % 31) % 31]

    rng = random.Random(32100)
    for _ in range(3_000):
        first17 = "".join(rng.choice(ALPHABET) for _ in range(17))
        assert check_character(first17) == expected(first17)
        for last in rng.sample(ALPHABET, 3):
            code = first17 + last
            assert is_valid(code) == (well_formed(code) and last == expected(first17))
    with pytest.raises(ValueError):
        check_character("I" * 17)


def _messages(data: Any, ruleset: RuleSet, doc: SourceDoc | None = None) -> list[str]:
    with pytest.raises(EventInvalid) as caught:
        validate_event(data, ruleset.reference, doc=doc)
    return [str(p) for p in caught.value.problems]


GOOD = {
    "event_id": "E-1",
    "type": "enterprise.registered",
    "date": "2026-01-05",
    "actor": "助商稳企办",
    "enterprise": CODE,
    "payload": {
        "name": "汉运物流",
        "territory": "汉台区",
        "lead_unit": "商务局",
        "lead_leader": "张明",
    },
}


def test_bad_events_get_every_located_problem(ruleset: RuleSet) -> None:
    """The messages are main's before the fast path (checked against it on these events)."""
    assert validate_event(GOOD, ruleset.reference).enterprise == CODE
    wrong = CODE[:17] + "0"
    bad = {
        **GOOD,
        "date": "2026-02-30",
        "actor": "商务",
        "enterprise": wrong,
        "payload": {**GOOD["payload"], "working_group": ["商务局", "x"], "territory": "商务局"},
    }
    assert _messages(bad, ruleset) == [
        f"<event>:0:0: CREDIT-CODE enterprise '{wrong}' 的校验位不正确，应为 '{CODE[17]}'",
        "<event>:0:0: SCHEMA-FORMAT date 的值 '2026-02-30' 不是有效的日期（应写成 YYYY-MM-DD，如 2026-01-01）",
        "<event>:0:0: UNKNOWN-TERRITORY payload.territory 的值 '商务局' 是市级部门，不是县区",
        "<event>:0:0: UNKNOWN-UNIT actor 的值 '商务' 不是已登记的单位，是否想写 '商务局'？",
        "<event>:0:0: UNKNOWN-UNIT payload.working_group[1] 的值 'x' 不是已登记的单位",
    ]
    # only a reference problem (the compiled schema accepts the event); a document's path
    assert _messages({**GOOD, "actor": "商务"}, ruleset, SourceDoc("f.jsonl", None)) == [
        "f.jsonl:0:0: UNKNOWN-UNIT actor 的值 '商务' 不是已登记的单位，是否想写 '商务局'？"
    ]
    route = {"primary": "汉台", "co_handlers": ["x", 3], "feedback_owner": 5}
    graded = {**GOOD, "type": "ticket.graded", "ticket_id": "T", "payload": {"grade": "A"}}
    graded["payload"]["route"] = route
    assert _messages(graded, ruleset) == [
        "<event>:0:0: SCHEMA-TYPE payload.route.co_handlers[1] 应为文本，实际为 3",
        "<event>:0:0: SCHEMA-TYPE payload.route.feedback_owner 应为文本，实际为 5",
        "<event>:0:0: UNKNOWN-UNIT payload.route.co_handlers[0] 的值 'x' 不是已登记的单位",
        "<event>:0:0: UNKNOWN-UNIT payload.route.primary 的值 '汉台' 不是已登记的单位，是否想写 '汉台区'？",
    ]
    assert _messages(["not", "a", "mapping"], ruleset) == [
        '<event>:0:0: SCHEMA-TYPE 事件应为映射（键: 值），实际为 ["not", "a", "mapping"]'
    ]


def test_text_holding_nul_is_refused_where_it_is(ruleset: RuleSet) -> None:
    """NUL (which PostgreSQL cannot store) in any text or key, located; other controls pass."""
    payload = {**GOOD["payload"], "name": "汉运\x00物流", "working_group": ["商务局"]}
    payload["note\x00"] = "x"
    assert _messages({**GOOD, "person": "张\x00", "payload": payload}, ruleset)[:3] == [
        "<event>:0:0: INPUT-CONTROL-CHAR payload 的键中有不允许的控制字符 U+0000（NUL）；请删除它",
        "<event>:0:0: INPUT-CONTROL-CHAR payload.name 中有不允许的控制字符 U+0000（NUL）；请删除它",
        "<event>:0:0: INPUT-CONTROL-CHAR person 中有不允许的控制字符 U+0000（NUL）；请删除它",
    ]
    tab = {**GOOD, "payload": {**GOOD["payload"], "name": "汉运\t物流 \\u0000"}}
    assert validate_event(tab, ruleset.reference).payload["name"] == "汉运\t物流 \\u0000"


def test_a_list_of_units_of_another_type_is_a_schema_problem(ruleset: RuleSet) -> None:
    for value in (5, True, 1.5):
        payload = {**GOOD["payload"], "working_group": value}
        assert _messages({**GOOD, "payload": payload}, ruleset) == [
            f"<event>:0:0: SCHEMA-TYPE payload.working_group 应为列表，实际为 {json.dumps(value)}"
        ]


def test_a_problem_found_while_reading_refuses_a_good_event(ruleset: RuleSet) -> None:
    from kernel.inputs.sourcefile import parse_text

    text = json.dumps(GOOD, ensure_ascii=False)
    doc = parse_text(text.replace('"date"', '"actor": "助商稳企办", "date"', 1), "e.json")
    assert doc.issues, "the repeated key is an issue of the document"
    messages = _messages(doc.data, ruleset, doc)
    assert len(messages) == 1 and messages[0].startswith("e.json:1:")


def test_a_new_collected_ticket_is_checked_and_keeps_its_own_data(ruleset: RuleSet) -> None:
    ledger = Ledger(MemoryStorage(), ruleset.reference)
    ledger.submit(GOOD)
    collected = {
        "event_id": "E-2",
        "type": "ticket.collected",
        "date": "2026-03-02",
        "actor": "商务局",
        "ticket_id": "T-1",
        "enterprise": CODE,
        "payload": {
            "category": "用工",
            "summary": "招工难",
            "tags": ["用工"],
            "assessment": {"authority_level": "市级", "departments": ["人社局"]},
        },
    }
    bad = {**collected, "event_id": "E-3", "ticket_id": "T-2"}
    bad["payload"] = {**collected["payload"], "assessment": {"authority_level": "全国"}}
    with pytest.raises(TicketInvalid) as refused:
        ledger.submit(bad)
    assert "assessment.authority_level" in str(refused.value)
    event = ledger.submit(collected).event
    state = ledger.ticket("T-1")
    assert state is not None
    assessment = state.ticket.data["assessment"]
    assert assessment["needs_territory"] is False  # defaults filled in the ticket's data …
    assert "needs_territory" not in event.payload["assessment"]  # … not in the event's
    assert "needs_territory" not in collected["payload"]["assessment"]  # nor the caller's
