"""The ticket contract: every ticket is validated before evaluation, through the API and the CLI."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernel import Kernel, TicketInvalid, validate_ticket
from kernel.cli.main import main
from kernel.rules.model import RuleSet
from kernel.tools.schemagen import SCHEMA_DIR
from tests.conftest import BASE_TICKET, RULES, make_ticket

Problems = list[tuple[str, str]]


def without(dotted: str) -> dict[str, Any]:
    """The base ticket without the field at ``dotted`` (e.g. ``enterprise.territory``)."""
    data = copy.deepcopy(BASE_TICKET)
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node[part]
    del node[leaf]
    return data


def problems_of(kernel: Kernel, data: Any) -> Problems:
    """(code, message) of every problem the kernel finds in ``data``."""
    with pytest.raises(TicketInvalid) as exc_info:
        kernel.validate(data)
    return [(p.code, p.message) for p in exc_info.value.problems]


# --------------------------------------------------------------------------- the API

CASES: list[tuple[str, Callable[[], dict[str, Any]], Problems]] = [
    (
        "missing-category",
        lambda: without("category"),
        [("SCHEMA-REQUIRED", "（文件顶层） 缺少必填字段 'category'")],
    ),
    (
        "missing-territory",
        lambda: without("enterprise.territory"),
        [("SCHEMA-REQUIRED", "enterprise 缺少必填字段 'territory'")],
    ),
    (
        "departments-as-text",
        lambda: make_ticket(assessment__departments="人社局"),
        [("SCHEMA-TYPE", "assessment.departments 应为列表，实际为 '人社局'")],
    ),
    (
        "amount-as-text",
        lambda: make_ticket(amount="9"),
        [("SCHEMA-TYPE", "amount 应为数字，实际为 '9'（请只写阿拉伯数字，不带单位，如 1 或 0.5）")],
    ),
    (
        "boolean-as-text",
        lambda: make_ticket(assessment__needs_territory="yes"),
        [("SCHEMA-TYPE", "assessment.needs_territory 应为布尔值（true/false），实际为 'yes'")],
    ),
    (
        "enterprise-null",
        lambda: make_ticket(enterprise=None),
        [("SCHEMA-TYPE", "enterprise 应为映射（键: 值），实际为 空值")],
    ),
    (
        "unknown-top-level-key",
        lambda: make_ticket(urgency="high"),
        [("SCHEMA-UNKNOWN-KEY", "（文件顶层） 中有未知字段 'urgency'")],
    ),
    (
        "unknown-enterprise-key",
        lambda: make_ticket(enterprise__nmae="某公司"),
        [("SCHEMA-UNKNOWN-KEY", "enterprise 中有未知字段 'nmae'，是否想写 'name'？")],
    ),
    (
        "authority-level-not-allowed",
        lambda: make_ticket(assessment__authority_level="市里"),
        [
            (
                "SCHEMA-VALUE",
                "assessment.authority_level 的值 '市里' 不在允许范围内"
                "（允许：'本单位'、'县区'、'市级'、'省级'、'中央'），是否想写 '市级'？",
            )
        ],
    ),
    (
        "unknown-category",
        lambda: make_ticket(category="政策资询"),
        [
            (
                "UNKNOWN-CATEGORY",
                "category（问题类别）的值 '政策资询' 不是已登记的问题类别，是否想写 '政策咨询'？",
            )
        ],
    ),
    (
        "unknown-territory",
        lambda: make_ticket(enterprise__territory="汉台"),
        [
            (
                "UNKNOWN-TERRITORY",
                "enterprise.territory（所在县区）的值 '汉台' 不是已登记的县区，是否想写 '汉台区'？",
            )
        ],
    ),
    (
        "department-as-territory",
        lambda: make_ticket(enterprise__territory="人社局"),
        [
            (
                "UNKNOWN-TERRITORY",
                "enterprise.territory（所在县区）的值 '人社局' 是市级部门，不是县区",
            )
        ],
    ),
    (
        "unknown-department",
        lambda: make_ticket(assessment__departments=["人社局", "人设局"]),
        [
            (
                "UNKNOWN-DEPARTMENT",
                "assessment.departments[1]（需协调的市级部门）的值 '人设局' 不是已登记的市级部门，"
                "是否想写 '人社局'？",
            )
        ],
    ),
    (
        "territory-as-department",
        lambda: make_ticket(assessment__departments=["汉台区"]),
        [
            (
                "UNKNOWN-DEPARTMENT",
                "assessment.departments[0]（需协调的市级部门）的值 '汉台区' 是县区/开发区，不是市级部门",
            )
        ],
    ),
    (
        "unknown-lead-unit",
        lambda: make_ticket(enterprise__lead_unit="商务"),
        [
            (
                "UNKNOWN-UNIT",
                "enterprise.lead_unit（包抓单位）的值 '商务' 不是已登记的单位，是否想写 '商务局'？",
            )
        ],
    ),
    (
        "credit-code-check-character",
        lambda: make_ticket(enterprise__credit_code="91610700MA6YT2A0X5"),
        [
            (
                "CREDIT-CODE",
                "enterprise.credit_code（统一社会信用代码）'91610700MA6YT2A0X5' 的校验位不正确，"
                "应为 '4'",
            )
        ],
    ),
    (
        "credit-code-format",
        lambda: make_ticket(enterprise__credit_code="91610700MA6YT2A0X"),
        [
            (
                "SCHEMA-FORMAT",
                "enterprise.credit_code 的值 '91610700MA6YT2A0X' 格式不正确，应为 18 位统一社会信用代码"
                "（数字或大写字母，不含 I、O、Z、S、V，第 3–8 位为行政区划数字）",
            )
        ],
    ),
    (
        "impossible-date",
        lambda: make_ticket(collected_on="2026-02-30"),
        [
            (
                "SCHEMA-FORMAT",
                "collected_on 的值 '2026-02-30' 不是有效的日期（应写成 YYYY-MM-DD，如 2026-01-01）",
            )
        ],
    ),
    (
        "amount-not-finite",
        lambda: make_ticket(amount=float("inf")),
        [("TICKET-VALUE", "amount（涉及金额（万元））的值 inf 不是有限数字")],
    ),
    (
        "empty-ticket-id",
        lambda: make_ticket(ticket_id=""),
        [("SCHEMA-EMPTY", "ticket_id 不能为空")],
    ),
]


@pytest.mark.parametrize(
    ("build", "expected"), [(b, e) for _, b, e in CASES], ids=[name for name, _, _ in CASES]
)
def test_invalid_ticket(
    kernel: Kernel, build: Callable[[], dict[str, Any]], expected: Problems
) -> None:
    assert problems_of(kernel, build()) == expected


def test_wrong_type_names_the_field_and_value(kernel: Kernel) -> None:
    problems = problems_of(kernel, make_ticket(assessment__authority_level=3))
    # The enum check also reports the same value (see the report); the type problem comes first.
    assert problems[0] == ("SCHEMA-TYPE", "assessment.authority_level 应为文本，实际为 3")


def test_ticket_invalid_carries_every_problem(kernel: Kernel) -> None:
    data = make_ticket(
        category="政策资询", enterprise__territory="汉台", assessment__departments=["人设局"]
    )
    with pytest.raises(TicketInvalid) as exc_info:
        kernel.validate(data, source="t.yaml")
    error = exc_info.value
    assert error.summary == "办理单有 3 个问题"
    assert [p.code for p in error.problems] == [
        "UNKNOWN-CATEGORY",
        "UNKNOWN-DEPARTMENT",
        "UNKNOWN-TERRITORY",
    ]
    assert {p.path for p in error.problems} == {"t.yaml"}


def test_schema_and_reference_problems_are_reported_together(kernel: Kernel) -> None:
    data = make_ticket(amount="9", category="政策资询")
    assert [code for code, _ in problems_of(kernel, data)] == ["SCHEMA-TYPE", "UNKNOWN-CATEGORY"]


def test_credit_code_with_bad_character_is_one_format_problem(kernel: Kernel) -> None:
    problems = problems_of(kernel, make_ticket(enterprise__credit_code="91610700MA6YT2A0I4"))
    assert [code for code, _ in problems] == ["SCHEMA-FORMAT"]


def test_validate_ticket_function(ruleset: RuleSet) -> None:
    with pytest.raises(TicketInvalid) as exc_info:
        validate_ticket(make_ticket(category="用功能"), ruleset.reference, source="api")
    assert [(p.path, p.code) for p in exc_info.value.problems] == [("api", "UNKNOWN-CATEGORY")]
    ticket = validate_ticket(make_ticket(), ruleset.reference)
    assert ticket.ticket_id == "T-0001"


def test_ticket_that_is_not_a_mapping(kernel: Kernel) -> None:
    assert problems_of(kernel, ["T-0001"]) == [
        ("SCHEMA-TYPE", '办理单应为映射（键: 值），实际为 ["T-0001"]')
    ]


def test_evaluate_validates_first(kernel: Kernel) -> None:
    with pytest.raises(TicketInvalid) as exc_info:
        kernel.evaluate(make_ticket(category="政策资询"))
    assert [p.code for p in exc_info.value.problems] == ["UNKNOWN-CATEGORY"]


def test_defaults_are_filled_on_a_valid_ticket(kernel: Kernel) -> None:
    data = make_ticket()
    ticket = kernel.validate(data)
    assert ticket.data["assessment"] == {
        "authority_level": "本单位",
        "departments": [],
        "needs_territory": False,
        "needs_policy_change": False,
        "beyond_city_budget": False,
        "needs_leader_decision": False,
        "municipal_funds": False,
    }
    assert ticket.data["tags"] == []
    assert ticket.values["assessment.departments"] == []
    assert ticket.values["assessment.municipal_funds"] is False
    assert "amount" not in ticket.values  # optional without default: absent, not filled
    assert data == make_ticket(), "the caller's mapping must not be changed"


def test_given_values_are_kept(kernel: Kernel) -> None:
    ticket = kernel.validate(
        make_ticket(assessment__departments=["人社局"], assessment__needs_territory=True)
    )
    assert ticket.data["assessment"]["departments"] == ["人社局"]
    assert ticket.data["assessment"]["needs_territory"] is True
    assert ticket.data["assessment"]["needs_policy_change"] is False


# --------------------------------------------------------------------------- the CLI

VALID_YAML = """\
ticket_id: HZ-1
collected_on: 2026-03-02
category: 用工
summary: 招工难
enterprise:
  credit_code: 91610700MA6YT2A0X4
  name: 汉中市汉运物流有限公司
  territory: 汉台区
  lead_unit: 商务局
assessment:
  authority_level: 本单位
"""

BAD_YAML = """\
ticket_id: HZ-2
collected_on: 2026-03-02
category: 政策资询
summary: 招工难
enterprise:
  credit_code: 91610700MA6YT2A0X4
  name: 汉中市汉运物流有限公司
  territory: 汉台
  lead_unit: 商务局
assessment:
  authority_level: 本单位
  departments: [人社局, 人设局]
"""


def as_list_item(text: str) -> str:
    """A one-ticket YAML text as an item of a YAML list."""
    lines = text.splitlines()
    return "\n".join(["- " + lines[0], *("  " + line for line in lines[1:])]) + "\n"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUHANG_RULES", raising=False)
    return tmp_path


def explain(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `huhang explain ARGS --rules RULES`; return the exit code, stdout and stderr."""
    code = main(["explain", *args, "--rules", str(RULES)])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_bad_ticket(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.yaml").write_text(BAD_YAML, encoding="utf-8")
    code, out, err = explain(["bad.yaml"], capsys)
    assert code == 2
    assert out == ""
    assert err == (
        "bad.yaml:3:11: UNKNOWN-CATEGORY category（问题类别）的值 '政策资询' 不是已登记的问题类别，"
        "是否想写 '政策咨询'？\n"
        "bad.yaml:8:14: UNKNOWN-TERRITORY enterprise.territory（所在县区）的值 '汉台' 不是已登记的县区，"
        "是否想写 '汉台区'？\n"
        "bad.yaml:12:22: UNKNOWN-DEPARTMENT assessment.departments[1]（需协调的市级部门）的值 '人设局' "
        "不是已登记的市级部门，是否想写 '人社局'？\n"
        "错误：3 个办理单问题，相关办理单未处理\n"
    )
    assert "Traceback" not in out + err


def test_explain_good_ticket_json(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("good.yaml").write_text(VALID_YAML, encoding="utf-8")
    code, out, err = explain(["good.yaml", "--format", "json"], capsys)
    assert (code, err) == (0, "")
    [result] = json.loads(out)
    assert result["ticket_id"] == "HZ-1"
    assert result["grade"]["value"] == "A"


def test_explain_list_with_second_ticket_invalid(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = VALID_YAML.replace("HZ-1", "HZ-2") + "  departments: 人社局\n"
    Path("tickets.yaml").write_text(
        as_list_item(VALID_YAML) + as_list_item(second), encoding="utf-8"
    )
    code, out, err = explain(["tickets.yaml"], capsys)
    assert code == 2
    assert "━━ 办理单 HZ-1 ━━" in out
    assert "HZ-2" not in out
    assert err == (
        "tickets.yaml:23:18: SCHEMA-TYPE [1].assessment.departments 应为列表，实际为 '人社局'\n"
        "错误：1 个办理单问题，相关办理单未处理\n"
    )


def test_explain_list_reference_problem_names_the_ticket(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = VALID_YAML.replace("HZ-1", "HZ-2").replace("territory: 汉台区", "territory: 汉台")
    Path("tickets.yaml").write_text(
        as_list_item(VALID_YAML) + as_list_item(second), encoding="utf-8"
    )
    code, _, err = explain(["tickets.yaml"], capsys)
    assert code == 2
    assert err.startswith(
        "tickets.yaml:19:16: UNKNOWN-TERRITORY [1].enterprise.territory（所在县区）"
    )


def test_explain_stdin(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(VALID_YAML))
    code, out, err = explain(["-", "--format", "json"], capsys)
    assert (code, err) == (0, "")
    assert [r["ticket_id"] for r in json.loads(out)] == ["HZ-1"]


def test_explain_stdin_bad_ticket(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(VALID_YAML.replace("用工", "用功能")))
    code, _, err = explain(["-"], capsys)
    assert code == 2
    assert err == (
        "<stdin>:3:11: UNKNOWN-CATEGORY category（问题类别）的值 '用功能' 不是已登记的问题类别\n"
        "错误：1 个办理单问题，相关办理单未处理\n"
    )


def test_explain_missing_file(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = explain(["nosuch.yaml"], capsys)
    assert code == 2
    assert (
        err == "nosuch.yaml:0:0: FILE-MISSING 文件不存在\n错误：1 个办理单问题，相关办理单未处理\n"
    )


def test_explain_yaml_syntax_error(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("broken.yaml").write_text("ticket_id: [HZ-1\ncategory: 用工\n", encoding="utf-8")
    code, _, err = explain(["broken.yaml"], capsys)
    lines = err.splitlines()
    assert code == 2
    # The reason after the prefix is PyYAML's own (English) text.
    assert lines[0].startswith("broken.yaml:2:9: YAML-SYNTAX YAML 语法错误：")
    assert lines[1:] == ["错误：1 个办理单问题，相关办理单未处理"]
    assert "Traceback" not in err


def test_explain_impossible_unquoted_date(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("t.yaml").write_text(VALID_YAML.replace("2026-03-02", "2026-02-30"), encoding="utf-8")
    code, out, err = explain(["t.yaml"], capsys)
    lines = err.splitlines()
    assert (code, out) == (2, "")
    # The message names the value but not the field (see the report).
    assert lines[0].startswith("t.yaml:2:15: YAML-VALUE ")
    assert "'2026-02-30'" in lines[0]
    assert lines[1:] == ["错误：1 个办理单问题，相关办理单未处理"]
    assert "Traceback" not in err


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run a bad command line; check exit code 2 and no traceback; return its last stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.startswith("用法：huhang")
    return err.splitlines()[-1]


def test_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    last = usage_error(["explain", "t.yaml", "--format", "xml"], capsys)
    assert last.startswith("错误：命令参数有误：参数 --format：无效的选项 'xml'")


def test_unknown_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    last = usage_error(["frobnicate"], capsys)
    assert last.startswith("错误：命令参数有误：参数 COMMAND：无效的选项 'frobnicate'")


def test_missing_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    last = usage_error([], capsys)
    assert last == "错误：命令参数有误：缺少必需的参数：COMMAND"


def test_explain_without_ticket(capsys: pytest.CaptureFixture[str]) -> None:
    last = usage_error(["explain"], capsys)
    assert last == "错误：命令参数有误：缺少必需的参数：TICKET"


# --------------------------------------------------------------------------- huhang schema

SCHEMA_NAMES = sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))


def test_schema_lists_names(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out.splitlines() == SCHEMA_NAMES
    assert {"grading", "routing", "units", "categories", "ticket"} <= set(SCHEMA_NAMES)


@pytest.mark.parametrize("name", ["grading", "ticket"])
def test_schema_prints_the_committed_file(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema", name])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    committed = (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8")
    assert json.loads(out) == json.loads(committed)


def test_schema_unknown_name_with_hint(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema", "gradng"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        f"错误：没有名为 'gradng' 的 schema（可用：{'、'.join(SCHEMA_NAMES)}），是否想写 'grading'？\n"
    )


def test_schema_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema", "nosuch"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"错误：没有名为 'nosuch' 的 schema（可用：{'、'.join(SCHEMA_NAMES)}）\n"
