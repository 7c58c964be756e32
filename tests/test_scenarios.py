"""`huhang test`: scenario files, readable diffs, exit codes, coverage, and the pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.cli.main import main
from tests.conftest import ROOT

SCENARIOS = ROOT / "tests" / "scenarios"

FAILING = """
note: 故意写错的期望
enterprises:
  - {code: 91610700MA6YT2A0X4, name: 汉运物流, territory: 汉台区, lead_unit: 商务局, lead_leader: 张明, registered: 2026-01-05}
timeline:
  - {date: 2026-03-02, type: ticket.collected, ticket_id: T-1, payload: {category: 用工}}
  - {date: 2026-03-03, type: ticket.reported, ticket_id: T-1}
expect:
  - as_of: 2026-03-03
    tickets:
      T-1: {grade: B, route: {primary: 南郑区}}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_default_suite_passes_with_full_rule_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test", str(SCENARIOS), "--fail-under", "100")
    assert code == 0, out
    assert "规则覆盖率：70/70（100.0%）" in out  # with 汉台区's HT-C-CITY-AUTHORITY


def test_failure_shows_a_readable_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(FAILING, encoding="utf-8")
    code, out, _ = run(capsys, "test", str(path))
    assert code == 1
    assert "  [2026-03-03] 办理单 T-1 的等级：期望 B，实际 A" in out.splitlines()
    assert (
        "  [2026-03-03] 办理单 T-1 的 route.primary：期望 南郑区，实际 汉台区" in out.splitlines()
    )
    assert "合计：1 个场景，0 个通过，1 个失败" in out


def test_invalid_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("note: x\ntimeline: []\nexpekt: []\n", encoding="utf-8")
    code, _, err = run(capsys, "test", str(path))
    assert code == 2
    assert "SCHEMA-UNKNOWN-KEY （文件顶层） 中有未知字段 'expekt'，是否想写 'expect'？" in err
    assert "SCHEMA-EMPTY timeline 不能为空" in err


def test_coverage_listing_and_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "test", str(SCENARIOS / "grading-levels.yaml"), "--coverage", "--fail-under", "90"
    )
    assert code == 1
    assert "grading:G-C-LEADER" in out and "✓" in out
    assert "未触发的规则：" in out and "deduction:D-INTERVIEW" in out
    assert out.rstrip().splitlines()[-1].endswith("低于要求的 90%")


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "test", str(SCENARIOS / "rule-override.yaml"), "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert data["scenarios"][0]["passed"] is True
    assert "grading:G-C-DEPARTMENTS" in data["coverage"]["fired"]


def _pytest_in(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "scenarios"],
        capture_output=True,
        text=True,
        cwd=project,
        check=False,
    )


def test_pytest_collects_scenario_files_where_the_project_asks(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "wrong.yaml").write_text(FAILING, encoding="utf-8")
    (folder / "good.yaml").write_text(
        (SCENARIOS / "rule-override.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    out = _pytest_in(tmp_path)
    assert out.returncode == 5, out.stdout  # not asked: nothing collected
    assert "no tests ran" in out.stdout
    (tmp_path / "pytest.ini").write_text("[pytest]\nhuhang_scenarios = scenarios\n", "utf-8")
    out = _pytest_in(tmp_path)
    assert out.returncode == 1
    assert "1 failed, 1 passed" in out.stdout
    assert "办理单 T-1 的等级：期望 B，实际 A" in out.stdout
