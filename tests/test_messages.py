"""Message details that policy staff rely on: one problem per defect, plain Chinese words."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel import Kernel, TicketInvalid, check_rules
from kernel.errors import ProblemsError
from kernel.inputs.sourcefile import parse_text
from tests.conftest import make_ticket


def codes_and_messages(rules: Path) -> list[tuple[str, str]]:
    return [(p.code, p.message) for p in check_rules(rules)[1]]


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_grade_in_grading_gets_a_specific_hint(rules_copy: Path) -> None:
    replace_in(
        rules_copy / "grading.yaml", "field: assessment.needs_leader_decision", "field: grade"
    )
    assert codes_and_messages(rules_copy) == [
        (
            "UNKNOWN-FIELD",
            "rules[4].when 引用了不存在的字段 'grade'（grade 是分级结果，只能在 routing.yaml 的条件中使用）",
        )
    ]


def test_unknown_field_and_unknown_operator_are_both_reported(rules_copy: Path) -> None:
    replace_in(
        rules_copy / "grading.yaml",
        "      field: assessment.needs_policy_change\n      eq: true",
        "      field: assessment.nosuch\n      eqq: true",
    )
    assert [code for code, _ in codes_and_messages(rules_copy)] == [
        "UNKNOWN-FIELD",
        "UNKNOWN-OPERATOR",
    ]


def test_rules_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("x: 1\n", encoding="utf-8")
    assert [(p.code, p.message) for p in check_rules(path)[1]] == [
        ("RULES-DIR-MISSING", "不是目录")
    ]


def test_wrong_type_is_not_also_reported_as_a_wrong_value(kernel: Kernel) -> None:
    with pytest.raises(TicketInvalid) as info:
        kernel.validate(make_ticket(assessment__authority_level=3))
    assert [(p.code, p.message) for p in info.value.problems] == [
        ("SCHEMA-TYPE", "assessment.authority_level 应为文本，实际为 3")
    ]


def test_duplicated_list_values_are_named(kernel: Kernel) -> None:
    with pytest.raises(TicketInvalid) as info:
        kernel.validate(make_ticket(assessment__departments=["人社局", "住建局", "人社局"]))
    assert [(p.code, p.message) for p in info.value.problems] == [
        ("SCHEMA-DUPLICATE", "assessment.departments 中有重复的值：'人社局'")
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n\tb: 1\n", "YAML 语法错误：不能用制表符（Tab）缩进，请改用空格"),
        ("a: b: c\n", "YAML 语法错误：这里不能出现“: ”，可能是缩进不对，或文字中的冒号需要加引号"),
        ("a: 'open\n", "YAML 语法错误：文件意外结束：引号或括号没有闭合"),
        ("a: 1\n---\nb: 2\n", "YAML 语法错误：文件只能包含一个 YAML 文档（不要使用 ---）"),
    ],
)
def test_yaml_syntax_errors_in_plain_chinese(text: str, message: str) -> None:
    with pytest.raises(ProblemsError) as info:
        parse_text(text, "x.yaml")
    assert [p.message.split("（相关内容")[0] for p in info.value.problems] == [message]
