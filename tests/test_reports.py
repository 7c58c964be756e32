"""`huhang report monthly | assessment | unit` in every format, on the scoring test ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel.cli.main import main
from kernel.ledger.ledger import Ledger
from kernel.rules.model import RuleSet
from kernel.storage.sqlite import SqliteStorage
from tests.conftest import ROOT
from tests.test_scoring import build


@pytest.fixture
def db(ruleset: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUHANG_RULES", str(ROOT / "rules"))
    source = build(ruleset).ledger
    with SqliteStorage(str(tmp_path / "huhang.db")) as store:
        target = Ledger(store, ruleset.reference)
        target.submit_many([(e, None, ()) for e in source.events()])
    return tmp_path / "huhang.db"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_monthly_report_text(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "monthly", "--month", "2026-05")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "助商稳企·护航发展 2026 年 5 月服务动态与问题办理通报"
    assert "本月走访联系企业 1 次，覆盖 1 户（在册企业 1 户）。" in lines
    assert "督办后仍超期、列入 2026-05 通报的问题 1 个。" in lines
    assert "需市级部门协调研究的问题（C 级及列入调度会的问题）1 个。" in lines
    assert "截至 2026-05-31 仍超期未完成的事项 1 项。" in lines


def test_monthly_report_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "report", "monthly", "--month", "2026-03", "--format", "json")
    data = json.loads(out)
    assert (data["collected"], data["by_grade"], data["contacts"]) == (2, {"A": 1, "B": 1}, 0)
    assert data["未联系企业"][0]["lead_unit"] == "商务局"
    assert data["通报名单"] == []


def test_assessment_report_formats(
    db: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "report", "assessment", "--year", "2026")
    assert code == 0
    assert out.splitlines()[0] == "助商稳企·护航发展 2026 年考核结果"
    assert "考核期间：2026-01-01 至 2026-12-31；计分办法第 1 版；参加考核单位 42 个。" in out
    code, out, _ = run(capsys, "report", "assessment", "--year", "2026", "--format", "md")
    assert out.startswith("# 助商稳企·护航发展 2026 年考核结果\n")
    assert any(
        line.startswith("|") and "排名" in line and "总分" in line for line in out.splitlines()
    )
    code, out, _ = run(capsys, "report", "assessment", "--year", "2026", "--format", "json")
    data = json.loads(out)
    last = data["units"][-1]
    assert (last["unit"], last["score"], last["converted"], last["rank"]) == (
        "汉台区",
        60.5,
        3.03,
        42,
    )
    code, out, _ = run(
        capsys, "report", "assessment", "--year", "2026", "--format", "csv", "--output", "考核"
    )
    assert out == "已写入 考核\n"
    assert (
        (tmp_path / "考核" / "总表.csv")
        .read_text(encoding="utf-8")
        .startswith("\ufeff排名,单位,类别,问题办结率（40）,")
    )
    code, out, _ = run(
        capsys,
        "report",
        "assessment",
        "--year",
        "2026",
        "--format",
        "xlsx",
        "--output",
        "考核.xlsx",
    )
    assert out == "已写入 考核.xlsx\n"
    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "考核.xlsx")
    assert book.sheetnames == ["概要", "总表", "扣分明细", "指标明细"]
    assert book["总表"].max_row == 43


def test_unit_report_lists_every_deduction(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "report", "unit", "汉台区", "--year", "2026", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [d["rule"] for d in data["deductions"]] == [
        "D-OVERDUE",
        "D-UNSATISFIED",
        "D-OVERDUE",
        "D-SUPERVISION",
        "D-NOTICE",
        "D-INTERVIEW",
        "D-LEDGER-DEFECT",
    ]
    _, out, _ = run(capsys, "report", "unit", "汉台区", "--period", "2026-Q2")
    assert "【扣分明细（共 5 项，7.5 分）】" in out


def test_unknown_unit_and_bad_period(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "report", "unit", "汉台", "--year", "2026") == (
        2,
        "",
        "错误：单位 '汉台' 不在考核范围内，是否想写 '汉台区'？\n",
    )
    with pytest.raises(SystemExit) as info:
        main(["report", "assessment", "--period", "2026-Q5"])
    assert info.value.code == 2
