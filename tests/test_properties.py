"""Property tests: invariants over any valid ticket, and the compiler against the reference.

The reference semantics are :func:`kernel.rules.conditions.holds`, plain Python. The compiled
durable-rules ruleset must agree with it for every condition and every ticket, including
negations and missing optional fields.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel import Kernel
from kernel.evaluation.compile import compile_rule_file
from kernel.evaluation.ticket import Ticket, validate_ticket
from kernel.rules.conditions import All, Always, AnyOf, Condition, Leaf, Not, holds
from kernel.rules.model import Rule, RuleFile
from kernel.rules.reference import Reference
from tests.conftest import RULES

_REFERENCE: Reference | None = None


def reference() -> Reference:
    global _REFERENCE
    if _REFERENCE is None:
        from kernel import load_rules

        _REFERENCE = load_rules(RULES).reference
    return _REFERENCE


REF = reference()
CATEGORIES = sorted(REF.ids("categories"))
TERRITORIES = sorted(REF.ids("territories"))
DEPARTMENTS = sorted(REF.ids("departments"))
UNITS = sorted(REF.ids("units"))
LEVELS = ["本单位", "县区", "市级", "省级", "中央"]


@st.composite
def tickets(draw: st.DrawFn) -> dict[str, Any]:
    enterprise: dict[str, Any] = {
        "credit_code": "91610700MA6YT2A0X4",
        "name": "某企业",
        "territory": draw(st.sampled_from(TERRITORIES)),
        "lead_unit": draw(st.sampled_from(DEPARTMENTS)),
    }
    if draw(st.booleans()):
        enterprise["industry"] = draw(st.sampled_from(["住宿", "餐饮", "物流", "软件"]))
    assessment: dict[str, Any] = {"authority_level": draw(st.sampled_from(LEVELS))}
    for flag in (
        "needs_territory",
        "needs_policy_change",
        "beyond_city_budget",
        "needs_leader_decision",
        "municipal_funds",
    ):
        if draw(st.booleans()):
            assessment[flag] = draw(st.booleans())
    if draw(st.booleans()):
        assessment["departments"] = draw(
            st.lists(st.sampled_from(DEPARTMENTS), unique=True, max_size=5)
        )
    ticket: dict[str, Any] = {
        "ticket_id": "P-1",
        "collected_on": "2026-05-06",
        "category": draw(st.sampled_from(CATEGORIES)),
        "summary": draw(st.sampled_from(["招工难", "用地指标紧张", "贷款贴息"])),
        "enterprise": enterprise,
        "assessment": assessment,
    }
    if draw(st.booleans()):
        ticket["amount"] = draw(
            st.one_of(
                st.integers(min_value=0, max_value=10**6),
                st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
            )
        )
    return ticket


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(tickets())
def test_exactly_one_grade_and_a_sound_route(kernel: Kernel, data: dict[str, Any]) -> None:
    result = kernel.evaluate(data)
    assert result.grade.grade in ("A", "B", "C", "D")
    assert result.grade.decision is not None
    primary = result.route.primary
    assert primary is not None and primary.unit
    co = [a.unit for a in result.route.co_handlers]
    assert primary.unit not in co
    assert len(co) == len(set(co))
    assert result.route.feedback_owner is not None
    assert result.route.feedback_owner.unit == data["enterprise"]["lead_unit"]
    assert result.route.agenda == (result.grade.grade == "C")


@SETTINGS
@given(tickets())
def test_engine_agrees_with_reference_semantics(kernel: Kernel, data: dict[str, Any]) -> None:
    result = kernel.evaluate(data)
    ticket = kernel.validate(data)
    grading = kernel.ruleset.grading
    expected = next((r for r in grading.rules if holds(r.when, ticket.values)), None)
    assert result.grade.decision is not None and expected is not None
    assert result.grade.decision.rule.id == expected.id
    values = dict(ticket.values, grade=result.grade.grade)
    expected_routing = [r.id for r in kernel.ruleset.routing.rules if holds(r.when, values)]
    assert [d.rule.id for d in result.route.matched] == expected_routing


# --------------------------------------------------------------------------- random conditions

LEAVES = st.one_of(
    st.builds(
        lambda op, v: Leaf("amount", op, v),
        st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
        st.sampled_from([0, 5, 10, 10.5, 100]),
    ),
    st.builds(
        lambda op, vs: Leaf("amount", op, tuple(vs)),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from([0, 5, 10.5]), min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda v: Leaf("amount", "exists", v), st.booleans()),
    st.builds(
        lambda op, v: Leaf("enterprise.industry", op, v),
        st.sampled_from(["eq", "ne", "contains"]),
        st.sampled_from(["住宿", "餐饮", "物", "软件"]),
    ),
    st.builds(
        lambda op, vs: Leaf("enterprise.industry", op, tuple(vs)),
        st.sampled_from(["in", "not_in"]),
        st.lists(st.sampled_from(["住宿", "餐饮", "物流"]), min_size=1, max_size=3, unique=True),
    ),
    st.builds(lambda v: Leaf("enterprise.industry", "exists", v), st.booleans()),
    st.builds(
        lambda op, v: Leaf("assessment.needs_territory", op, v),
        st.sampled_from(["eq", "ne"]),
        st.booleans(),
    ),
    st.builds(
        lambda v: Leaf("assessment.departments", "contains", v), st.sampled_from(DEPARTMENTS[:4])
    ),
    st.builds(
        lambda op, n: Leaf("assessment.departments", op, n, count=True),
        st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]),
        st.integers(min_value=0, max_value=3),
    ),
    st.builds(
        lambda op, v: Leaf("category", op, v),
        st.sampled_from(["eq", "ne"]),
        st.sampled_from(CATEGORIES[:3]),
    ),
)


def conditions() -> st.SearchStrategy[Condition]:
    return st.recursive(
        LEAVES,
        lambda inner: st.one_of(
            st.builds(lambda xs: All(tuple(xs)), st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda xs: AnyOf(tuple(xs)), st.lists(inner, min_size=1, max_size=3)),
            st.builds(Not, inner),
            st.builds(lambda xs: AnyOf((*xs, Always())), st.lists(inner, min_size=1, max_size=2)),
        ),
        max_leaves=8,
    )


def _rule(index: int, cond: Condition) -> Rule:
    return Rule(
        id=f"P{index}",
        title="p",
        clause="p",
        when=cond,
        then={"grade": "A"},
        precedence=0,
        index=index,
        kind="grading",
        path="<prop>",
        line=index,
        col=1,
    )


LIST_FIELDS = {"assessment.departments", "tags"}
ALWAYS_PRESENT = {"category", "assessment.needs_territory", "assessment.departments"}


@settings(max_examples=200, deadline=None)
@given(st.lists(conditions(), min_size=1, max_size=6), st.lists(tickets(), min_size=1, max_size=6))
def test_compiled_conditions_match_python(
    conds: list[Condition], datas: list[dict[str, Any]]
) -> None:
    rule_file = RuleFile(
        "grading", "<prop>", 1, "p", "collect", tuple(_rule(i, c) for i, c in enumerate(conds))
    )
    compiled = compile_rule_file(rule_file, LIST_FIELDS, ALWAYS_PRESENT)
    try:
        for data in datas:
            ticket: Ticket = validate_ticket(data, REF)
            expected = [r.id for r in rule_file.rules if holds(r.when, ticket.values)]
            assert [r.id for r in compiled.matching(ticket.values)] == expected, (conds, data)
            first = compiled.first(ticket.values)
            assert (first.id if first else None) == (expected[0] if expected else None)
    finally:
        compiled.close()
