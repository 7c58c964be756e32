"""The durable-rules traps (docs/internals/engine.md), each shown to be handled.

Every "canary" test runs the raw C extension in a subprocess and shows the trap still exists, so
the kernel-level test next to it is known to exercise a real failure. The kernel-level tests go
through :mod:`kernel.evaluation.engine` or the public API and would fail without the workaround.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from kernel import Kernel, load_rules
from kernel.errors import RuleSetInvalid, TicketInvalid
from kernel.evaluation.engine import Engine, EngineError, encode
from tests.conftest import make_ticket


def raw(script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a snippet against the raw extension in a fresh interpreter."""
    code = "import json, durable_rules_engine as e\n" + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, check=False
    )


def write_rules(rules_copy: Path, name: str, text: str) -> Path:
    (rules_copy / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return rules_copy


GRADING_HEAD = """\
kind: grading
version: 1
hit_policy: first
rules:
"""


def grading(rules_copy: Path, body: str) -> Kernel:
    write_rules(rules_copy, "grading.yaml", GRADING_HEAD + textwrap.dedent(body))
    return Kernel.from_dir(rules_copy)


# --------------------------------------------------------------------------- no match


def test_canary_no_match_is_a_code_not_a_result() -> None:
    out = raw("""
        h = e.create_ruleset("x", json.dumps({"r": {"all": [{"m": {"x": 1}}]}}))
        print(e.assert_event(h, json.dumps({"x": 2}))[0])
    """)
    assert out.stdout.strip() == "1"  # the Host turns this into MessageNotHandledException


def test_no_match_is_an_explicit_result() -> None:
    with Engine([{"f_x": 1}]) as engine:
        assert engine.first({"f_x": 2}) is None
        assert engine.collect({"f_x": 2}) == []
        assert engine.first({"f_x": 1}) == 0


def test_ticket_no_grading_rule_matches(rules_copy: Path) -> None:
    kernel = grading(
        rules_copy,
        """\
          - id: ONLY-D
            title: 只有 D
            clause: test
            when: {field: assessment.authority_level, eq: 中央}
            then: {grade: D}
        """,
    )
    result = kernel.evaluate(make_ticket())
    assert result.grade.grade is None
    assert result.grade.decision is None
    assert [d.rule.id for d in result.grade.not_matched] == ["ONLY-D"]
    assert not result.complete
    kernel.close()


# --------------------------------------------------------------------------- one rule per event


def test_first_match_returns_the_earliest_rule_of_several() -> None:
    with Engine([{"f_x": 2}, {"$gt": {"f_x": 0}}, None]) as engine:
        assert engine.first({"f_x": 1}) == 1
        assert engine.first({"f_x": 2}) == 0


def test_collect_returns_every_matching_rule_once() -> None:
    # rule 1 has two $or branches that both hold: the engine fires it twice.
    conditions: list[dict[str, Any] | None] = [
        {"f_x": 1},
        {"$or": [{"f_x": 1}, {"f_y": 2}]},
        None,
        {"f_x": 3},
    ]
    with Engine(conditions) as engine:
        assert engine.collect({"f_x": 1, "f_y": 2}) == [0, 1, 2]
        # the fact was retracted: the same message again gives the same answer
        assert engine.collect({"f_x": 1, "f_y": 2}) == [0, 1, 2]


# --------------------------------------------------------------------------- sessions


def test_canary_the_1025th_session_fails() -> None:
    out = raw("""
        h = e.create_ruleset("s", json.dumps({"r": {"all": [{"m": {"x": 1}}]}}))
        for i in range(1100):
            try:
                e.assert_event(h, json.dumps({"sid": str(i), "x": 2}))
            except MemoryError:
                print("MemoryError", i)
                break
    """)
    assert out.stdout.strip() == "MemoryError 1024"


def test_many_tickets_share_one_session(kernel: Kernel) -> None:
    grades = set()
    for i in range(1500):
        ticket = make_ticket(ticket_id=f"T-{i}", assessment__departments=["人社局"] * (i % 2))
        grades.add(kernel.evaluate(ticket).grade.grade)
    assert grades == {"A"}


def test_business_ids_never_reach_the_engine() -> None:
    with Engine([None]) as engine, pytest.raises(ValueError, match="reserved"):
        engine.first({"sid": "T-1"})


# --------------------------------------------------------------------------- types


def test_canary_text_compares_greater_than_number() -> None:
    out = raw("""
        h = e.create_ruleset("t", json.dumps({"r": {"all": [{"m": {"$gt": {"x": 10}}}]}}))
        print(e.assert_event(h, json.dumps({"x": "9"}))[0])
    """)
    assert out.stdout.strip() == "0"  # "9" > 10 matched


def test_ticket_number_as_text_is_rejected(kernel: Kernel) -> None:
    with pytest.raises(TicketInvalid) as info:
        kernel.validate(make_ticket(amount="9"))
    assert [str(p) for p in info.value.problems] == [
        "<ticket>:0:0: SCHEMA-TYPE amount 应为数字，实际为 '9'（请只写阿拉伯数字，不带单位，如 1 或 0.5）"
    ]


def test_rule_comparing_number_field_with_text_is_rejected(rules_copy: Path) -> None:
    with pytest.raises(RuleSetInvalid) as info:
        grading(
            rules_copy,
            """\
              - id: BIG
                title: 大额
                clause: test
                when: {field: amount, gt: "10"}
                then: {grade: D}
            """,
        )
    assert [p.code for p in info.value.problems] == ["VALUE-TYPE"]


def test_numbers_compare_as_numbers(rules_copy: Path) -> None:
    kernel = grading(
        rules_copy,
        """\
          - id: BIG
            title: 大额
            clause: test
            when: {field: amount, gt: 10}
            then: {grade: D}
          - id: SMALL
            title: 小额
            clause: test
            when: {always: true}
            then: {grade: A}
        """,
    )
    assert kernel.evaluate(make_ticket(amount=9)).grade.grade == "A"
    assert kernel.evaluate(make_ticket(amount=10.5)).grade.grade == "D"
    kernel.close()


def test_canary_exponent_numbers_fail() -> None:
    out = raw("""
        h = e.create_ruleset("n", json.dumps({"r": {"all": [{"m": {"$lt": {"x": 1}}}]}}))
        try:
            e.assert_event(h, json.dumps({"x": 0.00001}))
        except Exception as exc:
            print(exc)
    """)
    assert "error code: 204" in out.stdout


def test_small_and_large_numbers_are_sent_without_exponent() -> None:
    assert encode(0.00001) == "0.00001"
    assert encode(1e22) == "10000000000000000000000"
    assert encode({"a": [1.5e-7, True, "汉台区"]}) == '{"a":[0.00000015,true,"汉台区"]}'
    with Engine([{"$lt": {"f_x": 0.0001}}]) as engine:
        assert engine.first({"f_x": 0.00001}) == 0
        assert engine.first({"f_x": 0.001}) is None


def test_true_is_not_one_and_text_equality_is_exact(kernel: Kernel) -> None:
    # durable-rules would coerce 1 == true == "1"; the ticket contract refuses such values.
    with pytest.raises(TicketInvalid):
        kernel.validate(make_ticket(assessment__needs_policy_change=1))
    assert kernel.evaluate(make_ticket(category="政策咨询")).grade.grade == "A"


# --------------------------------------------------------------------------- missing fields


def test_ne_and_negations_match_a_missing_field(rules_copy: Path) -> None:
    kernel = grading(
        rules_copy,
        """\
          - id: NOT-SMALL
            title: 金额并非小于 100
            clause: test
            when: {not: {field: amount, lt: 100}}
            then: {grade: C}
          - id: NOT-FIVE
            title: 金额不是 5
            clause: test
            when: {field: amount, ne: 5}
            then: {grade: D}
          - id: NOT-LISTED
            title: 行业不在名单
            clause: test
            when: {field: enterprise.industry, not_in: [住宿, 餐饮]}
            then: {grade: B}
          - id: REST
            title: 其余
            clause: test
            when: {always: true}
            then: {grade: A}
        """,
    )
    # Without the "absent or different" compilation, a missing field matches nothing.
    assert kernel.evaluate(make_ticket()).grade.grade == "C"
    assert kernel.evaluate(make_ticket(amount=500)).grade.grade == "C"
    assert kernel.evaluate(make_ticket(amount=50)).grade.grade == "D"
    assert kernel.evaluate(make_ticket(amount=5)).grade.grade == "B"
    assert kernel.evaluate(make_ticket(amount=5, enterprise__industry="住宿")).grade.grade == "A"
    kernel.close()


def test_comparisons_never_match_a_missing_field(rules_copy: Path) -> None:
    kernel = grading(
        rules_copy,
        """\
          - id: SMALL
            title: 小额
            clause: test
            when: {field: amount, lt: 100}
            then: {grade: B}
          - id: REST
            title: 其余
            clause: test
            when: {always: true}
            then: {grade: A}
        """,
    )
    assert kernel.evaluate(make_ticket()).grade.grade == "A"
    assert kernel.evaluate(make_ticket(amount=50)).grade.grade == "B"
    kernel.close()


# --------------------------------------------------------------------------- $nex and the state fact


def test_canary_absence_only_rule_matches_the_state_fact() -> None:
    out = raw("""
        h = e.create_ruleset("n", json.dumps({"r": {"all": [{"m": {"$nex": {"x": 1}}}]}}))
        code, state = e.assert_event(h, json.dumps({"x": 1}))
        print(e.start_action_for_state(h, state)[1])
    """)
    assert '"$s":1' in out.stdout  # it fired on the engine's own state, though x is present


def test_absence_only_rule_is_guarded(rules_copy: Path) -> None:
    kernel = grading(
        rules_copy,
        """\
          - id: NO-AMOUNT
            title: 未填金额
            clause: test
            when: {field: amount, exists: false}
            then: {grade: B}
          - id: REST
            title: 其余
            clause: test
            when: {always: true}
            then: {grade: A}
        """,
    )
    assert kernel.evaluate(make_ticket(amount=3)).grade.grade == "A"
    assert kernel.evaluate(make_ticket()).grade.grade == "B"
    kernel.close()


def test_every_compiled_rule_carries_the_discriminator(kernel: Kernel) -> None:
    for engine in (kernel._grading.engine, kernel._routing.engine):
        assert engine.definition_json.count('{"_k":1}') == engine.size


# --------------------------------------------------------------------------- errors are not swallowed


def test_engine_errors_are_raised_with_their_code() -> None:
    with Engine([None]) as engine, pytest.raises(EngineError) as info:
        engine.collect({f"f{i}": i for i in range(300)})
    assert info.value.code == 302


def test_no_host_and_no_threads(kernel: Kernel) -> None:
    before = threading.active_count()
    for i in range(50):
        kernel.evaluate(make_ticket(ticket_id=f"T-{i}"))
    assert threading.active_count() == before
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, kernel; k = kernel.Kernel.from_dir(); "
            "import tests.conftest as c; k.evaluate(c.make_ticket()); "
            "print(sorted(m for m in sys.modules if m.startswith('durable')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.stdout.strip() == "['durable_rules_engine']"  # never durable.engine's Host


def test_only_engine_module_imports_durable() -> None:
    kernel_dir = Path(__file__).resolve().parent.parent / "kernel"
    importers = sorted(
        str(p.relative_to(kernel_dir))
        for p in kernel_dir.rglob("*.py")
        if "import durable" in p.read_text(encoding="utf-8")
    )
    assert importers == ["evaluation/engine.py"]


# --------------------------------------------------------------------------- replacing rules


def test_rule_sets_can_be_replaced_at_run_time(rules_copy: Path) -> None:
    original = Kernel(load_rules(rules_copy))
    ticket = make_ticket(assessment__departments=["人社局", "住建局"])
    assert original.evaluate(ticket).grade.grade == "B"
    text = (rules_copy / "grading.yaml").read_text(encoding="utf-8")
    (rules_copy / "grading.yaml").write_text(
        text.replace(
            "count: {eq: 2}\n    then: {grade: B}", "count: {eq: 2}\n    then: {grade: C}"
        ),
        encoding="utf-8",
    )
    replacement = Kernel(load_rules(rules_copy))
    assert replacement.evaluate(ticket).grade.grade == "C"
    assert original.evaluate(ticket).grade.grade == "B"  # both live side by side
    original.close()
    assert replacement.evaluate(ticket).grade.grade == "C"  # closing one leaves the other
    again = Kernel(load_rules(rules_copy))
    assert again.evaluate(ticket).grade.grade == "C"
    again.close()
    replacement.close()


def test_closed_engine_refuses_work() -> None:
    engine = Engine([None])
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.first({})


# --------------------------------------------------------------------------- no $in


def test_canary_in_operator_is_an_error() -> None:
    out = raw("""
        try:
            e.create_ruleset("i", json.dumps({"r": {"all": [{"m": {"$in": {"x": [1, 2]}}}]}}))
        except Exception as exc:
            print(exc)
    """)
    assert "error code: 202" in out.stdout


def test_in_is_compiled_as_alternatives(kernel: Kernel) -> None:
    assert kernel.evaluate(make_ticket(assessment__authority_level="中央")).grade.grade == "D"
    assert kernel.evaluate(make_ticket(assessment__authority_level="省级")).grade.grade == "D"
    assert kernel.evaluate(make_ticket(assessment__authority_level="市级")).grade.grade == "A"
    assert "$in" not in kernel._grading.engine.definition_json


# --------------------------------------------------------------------------- the matched-test stack


def test_more_than_64_tests_holding_at_once_is_a_clear_input_error() -> None:
    from kernel.evaluation.engine import EngineLimitExceeded

    with Engine([{"$gte": {"f_x": i}} for i in range(64)]) as engine:
        assert len(engine.collect({"f_x": 10_000})) == 64
    with (
        Engine([{"$gte": {"f_x": i}} for i in range(65)]) as engine,
        pytest.raises(EngineLimitExceeded) as info,
    ):
        engine.collect({"f_x": 10_000})
    assert "超过了 durable-rules 的上限（约 64 个）" in str(info.value)
