"""`huhang explain`: the Chinese text, the stable JSON form, and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from kernel import Kernel, render_text
from kernel.cli.main import main
from kernel.inputs.contracts import load_schema
from tests.conftest import ROOT, make_ticket

EXAMPLES = sorted((ROOT / "examples" / "tickets").glob("*.yaml"))


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["explain", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_text_names_grade_rule_clause_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = explain(capsys, str(ROOT / "examples/tickets/c-land.yaml"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "━━ 办理单 HZ-2026-0003 ━━"
    assert lines[1] == "企业：洋县秦岭冷链物流有限公司（洋县）　类别：用地"
    assert "【分级】C 级" in lines
    assert any(
        line.startswith("  规则 G-C-DEPARTMENTS「需 3 个及以上市级部门协调」 rules/grading.yaml:")
        for line in lines
    )
    assert "    ✓ 需协调的市级部门（assessment.departments）的数量不小于 3 —— 实际：3" in lines
    assert (
        "      ✗ 所需事权层级（assessment.authority_level）属于 省级、中央 —— 实际：市级" in lines
    )
    assert "  主办单位：洋县（洋县人民政府） ← R-PRIMARY-TERRITORY" in lines
    assert "  协调单位：助商稳企办（市助商稳企办） ← R-COORD-C" in lines
    assert "  列入月度调度会议程：是 ← R-COORD-C" in lines
    assert "  反馈责任单位：发改委（市发展和改革委员会） ← R-FEEDBACK" in lines


def test_text_shows_an_override(kernel: Kernel) -> None:
    result = kernel.evaluate(make_ticket(category="审批手续", assessment__authority_level="市级"))
    text = render_text(result)
    assert (
        "  被覆盖：R-PRIMARY-TERRITORY 提出的主办单位 汉台区，被优先级更高的 R-PRIMARY-APPROVAL 取代"
        in text.splitlines()
    )


def test_text_for_negated_and_missing_values(kernel: Kernel, rules_copy: Path) -> None:
    (rules_copy / "grading.yaml").write_text(
        "kind: grading\nversion: 2\nhit_policy: first\nrules:\n"
        "  - id: NO-AMOUNT\n    title: 金额未填\n    clause: 测试\n"
        "    when: {not: {field: amount, exists: true}}\n    then: {grade: B}\n"
        "  - id: REST\n    title: 其余\n    clause: 测试\n    when: {always: true}\n"
        "    then: {grade: A}\n",
        encoding="utf-8",
    )
    with Kernel.from_dir(rules_copy) as custom:
        lines = render_text(custom.evaluate(make_ticket())).splitlines()
        assert "    ✓ 并非「涉及金额（万元）（amount）已填写」 —— 实际：（未填写）" in lines
        lines = render_text(custom.evaluate(make_ticket(amount=3))).splitlines()
        assert "      ✗ 并非「涉及金额（万元）（amount）已填写」 —— 实际：3" in lines
        assert "    无条件适用（always）" in lines


def test_json_is_valid_against_the_published_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = explain(capsys, *map(str, EXAMPLES), "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    Draft202012Validator(load_schema("explanation")).validate(data)
    assert [item["grade"]["value"] for item in data] == ["A", "B", "B", "C", "D"]
    c_land = data[3]
    assert c_land["route"]["primary"] == {
        "unit": "洋县",
        "name": "洋县人民政府",
        "rules": ["R-PRIMARY-TERRITORY"],
    }
    assert c_land["grade"]["decision"]["conditions"] == [
        {
            "field": "assessment.departments",
            "label": "需协调的市级部门",
            "test": "count_ge",
            "negated": False,
            "expected": 3,
            "actual": 3,
            "present": True,
            "satisfied": True,
        }
    ]
    assert c_land["route"]["agenda"] is True
    assert c_land["route"]["agenda_rules"] == ["R-COORD-C"]


def test_stdin_and_python_m(tmp_path: Path) -> None:
    text = (ROOT / "examples/tickets/d-finance.yaml").read_text(encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "kernel", "explain", "-", "--format", "json"],
        input=text,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data[0]["grade"]["value"] == "D"
    assert data[0]["route"]["primary"]["unit"] == "金融办"
    assert data[0]["route"]["report_upward"] is True


def test_incomplete_decision_exits_1(capsys: pytest.CaptureFixture[str], rules_copy: Path) -> None:
    (rules_copy / "grading.yaml").write_text(
        "kind: grading\nversion: 1\nhit_policy: first\nrules:\n"
        "  - id: ONLY-D\n    title: 只有 D\n    clause: 测试\n"
        "    when: {field: assessment.authority_level, eq: 中央}\n    then: {grade: D}\n",
        encoding="utf-8",
    )
    code, out, _ = explain(capsys, str(EXAMPLES[0]), "--rules", str(rules_copy))
    assert code == 1
    assert "【分级】未命中任何分级规则 —— 请检查 grading.yaml 是否有遗漏" in out.splitlines()


def test_several_tickets_in_one_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "two.json"
    path.write_text(
        json.dumps({"tickets": [make_ticket(ticket_id="X-1"), make_ticket(ticket_id="X-2")]}),
        encoding="utf-8",
    )
    code, out, _ = explain(capsys, str(path), "--format", "json")
    assert code == 0
    assert [item["ticket_id"] for item in json.loads(out)] == ["X-1", "X-2"]
