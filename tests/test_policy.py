"""docs/policy.md §3 (grading) and §4 (routing) in the default rules, one behaviour per test."""

from __future__ import annotations

from typing import Any

import pytest

from kernel import Evaluation, Kernel
from tests.conftest import make_ticket


def run(kernel: Kernel, **changes: Any) -> Evaluation:
    return kernel.evaluate(make_ticket(**changes))


def grade(kernel: Kernel, **changes: Any) -> tuple[str | None, str | None]:
    result = run(kernel, **changes)
    rule = result.grade.decision.rule.id if result.grade.decision else None
    return result.grade.grade, rule


def units(items: Any) -> list[str]:
    return [a.unit for a in items]


# --------------------------------------------------------------------------- §3 grading


@pytest.mark.parametrize("level", ["省级", "中央"])
def test_d_needs_provincial_or_central_authority(kernel: Kernel, level: str) -> None:
    assert grade(kernel, assessment__authority_level=level) == ("D", "G-D-AUTHORITY")


def test_municipal_authority_alone_is_not_d(kernel: Kernel) -> None:
    assert grade(kernel, assessment__authority_level="市级") == ("A", "G-A-OWN-AUTHORITY")


def test_d_needs_a_change_of_law_or_policy(kernel: Kernel) -> None:
    assert grade(kernel, assessment__needs_policy_change=True) == ("D", "G-D-POLICY")


def test_d_needs_funds_beyond_the_city_budget(kernel: Kernel) -> None:
    assert grade(kernel, assessment__beyond_city_budget=True) == ("D", "G-D-BUDGET")


def test_d_is_checked_before_c(kernel: Kernel) -> None:
    result = grade(
        kernel,
        assessment__authority_level="省级",
        assessment__departments=["人社局", "住建局", "发改委"],
        assessment__needs_leader_decision=True,
    )
    assert result == ("D", "G-D-AUTHORITY")


def test_c_three_municipal_departments(kernel: Kernel) -> None:
    depts = ["自然资源局", "住建局", "发改委"]
    assert grade(kernel, assessment__departments=depts) == ("C", "G-C-DEPARTMENTS")


def test_two_departments_is_b_not_c(kernel: Kernel) -> None:
    assert grade(kernel, assessment__departments=["自然资源局", "住建局"]) == (
        "B",
        "G-B-TWO-DEPARTMENTS",
    )
    assert grade(
        kernel, assessment__departments=["自然资源局", "住建局"], assessment__needs_territory=True
    ) == ("B", "G-B-TERRITORY")


def test_c_needs_a_municipal_leaders_decision(kernel: Kernel) -> None:
    assert grade(kernel, assessment__needs_leader_decision=True) == ("C", "G-C-LEADER")


def test_b_territory_plus_one_department(kernel: Kernel) -> None:
    assert grade(kernel, assessment__needs_territory=True, assessment__departments=["人社局"]) == (
        "B",
        "G-B-TERRITORY",
    )


def test_territory_alone_is_a(kernel: Kernel) -> None:
    assert grade(kernel, assessment__needs_territory=True) == ("A", "G-A-OWN-AUTHORITY")


def test_a_one_department_within_its_authority(kernel: Kernel) -> None:
    assert grade(kernel, assessment__departments=["人社局"]) == ("A", "G-A-OWN-AUTHORITY")


def test_a_policy_consultation(kernel: Kernel) -> None:
    assert grade(kernel, category="政策咨询") == ("A", "G-A-OWN-AUTHORITY")


def test_policy_consultation_needing_the_province_is_still_d(kernel: Kernel) -> None:
    assert grade(kernel, category="政策咨询", assessment__authority_level="省级") == (
        "D",
        "G-D-AUTHORITY",
    )


def test_grade_explains_the_rules_checked_before_it(kernel: Kernel) -> None:
    result = run(kernel, assessment__needs_leader_decision=True)
    assert [d.rule.id for d in result.grade.not_matched] == [
        "G-D-AUTHORITY",
        "G-D-POLICY",
        "G-D-BUDGET",
        "G-C-DEPARTMENTS",
    ]
    assert all(not c.satisfied for d in result.grade.not_matched for c in d.conditions)


# --------------------------------------------------------------------------- §4 routing


def test_primary_is_the_territory(kernel: Kernel) -> None:
    result = run(kernel, category="用地", enterprise__territory="洋县")
    assert result.route.primary is not None
    assert result.route.primary.unit == "洋县"
    assert result.route.primary.rules == ("R-PRIMARY-TERRITORY",)


def test_municipal_approval_is_led_by_the_approval_bureau(kernel: Kernel) -> None:
    result = run(
        kernel,
        category="审批手续",
        assessment__authority_level="市级",
        enterprise__territory="汉中经济技术开发区",
    )
    route = result.route
    assert route.primary is not None and route.primary.unit == "行政审批服务局"
    assert units(route.co_handlers) == ["汉中经济技术开发区"]
    assert [(o.unit, o.rule, o.by_rule) for o in route.overridden] == [
        ("汉中经济技术开发区", "R-PRIMARY-TERRITORY", "R-PRIMARY-APPROVAL")
    ]


def test_county_level_approval_stays_with_the_territory(kernel: Kernel) -> None:
    result = run(kernel, category="审批手续", assessment__authority_level="县区")
    assert result.route.primary is not None and result.route.primary.unit == "汉台区"
    assert units(result.route.co_handlers) == ["行政审批服务局"]


def test_municipal_funds_finance_is_led_by_the_finance_office(kernel: Kernel) -> None:
    result = run(kernel, category="融资", assessment__municipal_funds=True)
    assert result.route.primary is not None and result.route.primary.unit == "金融办"
    assert units(result.route.co_handlers) == ["汉台区"]


def test_finance_without_municipal_funds_stays_with_the_territory(kernel: Kernel) -> None:
    result = run(kernel, category="融资")
    assert result.route.primary is not None and result.route.primary.unit == "汉台区"
    assert units(result.route.co_handlers) == ["金融办"]


def test_municipal_funds_flag_outside_finance_changes_nothing(kernel: Kernel) -> None:
    result = run(kernel, category="用地", assessment__municipal_funds=True)
    assert result.route.primary is not None and result.route.primary.unit == "汉台区"


CATEGORY_CO_HANDLERS = {
    "用工": ["人社局"],
    "用地": ["自然资源局"],
    "用电": ["发改委", "供电公司"],
    "用水": ["水务局"],
    "用气": ["发改委"],
    "通信": ["工信局"],
    "交通": ["交通运输局"],
    "环境": ["生态环境局"],
    "教育": ["教育局"],
    "医疗": ["卫健委"],
    "住房": ["住建局"],
    "审批手续": ["行政审批服务局"],
    "融资": ["金融办"],
    "政策咨询": ["商务局"],  # the lead unit itself
    "其他": [],
}


@pytest.mark.parametrize(("category", "expected"), sorted(CATEGORY_CO_HANDLERS.items()))
def test_category_maps_to_line_departments(
    kernel: Kernel, category: str, expected: list[str]
) -> None:
    result = run(kernel, category=category)
    assert units(result.route.co_handlers) == expected


def test_policy_consultation_goes_to_whichever_unit_leads(kernel: Kernel) -> None:
    result = run(kernel, category="政策咨询", enterprise__lead_unit="文旅局")
    assert units(result.route.co_handlers) == ["文旅局"]


def test_assessed_departments_co_handle(kernel: Kernel) -> None:
    result = run(kernel, category="用地", assessment__departments=["住建局", "自然资源局"])
    assert units(result.route.co_handlers) == ["自然资源局", "住建局"]
    land = result.route.co_handlers[0]
    assert land.rules == ("R-CO-LAND", "R-CO-ASSESSED")


def test_lead_unit_always_owns_feedback(kernel: Kernel) -> None:
    for category in ("用工", "审批手续", "融资"):
        result = run(
            kernel,
            category=category,
            enterprise__lead_unit="交通运输局",
            assessment__municipal_funds=True,
        )
        assert result.route.feedback_owner is not None
        assert result.route.feedback_owner.unit == "交通运输局"


def test_c_adds_the_office_and_the_agenda(kernel: Kernel) -> None:
    result = run(kernel, assessment__needs_leader_decision=True)
    assert units(result.route.coordinators) == ["助商稳企办"]
    assert result.route.agenda is True
    assert result.route.report_upward is False


def test_d_adds_the_leading_group_office(kernel: Kernel) -> None:
    result = run(kernel, assessment__authority_level="中央")
    assert units(result.route.coordinators) == ["领导小组办公室"]
    assert result.route.report_upward is True
    assert result.route.agenda is False


@pytest.mark.parametrize("level", ["本单位", "县区"])
def test_a_and_b_have_no_coordinator(kernel: Kernel, level: str) -> None:
    result = run(
        kernel,
        assessment__authority_level=level,
        assessment__needs_territory=True,
        assessment__departments=["人社局"],
    )
    assert result.route.coordinators == ()
    assert result.route.agenda is False


def test_primary_is_never_also_a_co_handler(kernel: Kernel) -> None:
    result = run(
        kernel,
        category="审批手续",
        assessment__authority_level="市级",
        assessment__departments=["行政审批服务局"],
    )
    assert result.route.primary is not None and result.route.primary.unit == "行政审批服务局"
    assert "行政审批服务局" not in units(result.route.co_handlers)


def test_territory_listed_as_co_handler_is_dropped_when_primary(kernel: Kernel) -> None:
    # 用地 in a territory: the territory is primary; nothing may list it again as co-handler.
    result = run(kernel, category="用地")
    assert "汉台区" not in units(result.route.co_handlers)
