"""huhang explain shows what an override would change and the lifecycle steps that apply."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kernel.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
C_LAND = str(ROOT / "examples" / "tickets" / "c-land.yaml")


def _explain(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main(["explain", *args])
    return capsys.readouterr().out


def test_explain_lists_the_route_and_clocks_of_each_other_grade(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _explain(capsys, C_LAND, "--rules", str(ROOT / "rules"))
    part = out.split("【改判等级时】")[1].split("【办理步骤】")[0]
    lines = {line.split("：")[0].strip(): line for line in part.splitlines() if "改判为" in line}
    assert set(lines) == {"改判为 A 级", "改判为 B 级", "改判为 D 级"}
    # C gets the office as coordinator and the agenda (R-COORD-C); A does not, and its clock is 5
    assert "协调单位改为 （无）" in lines["改判为 A 级"]
    assert "列入调度会议程改为 否" in lines["改判为 A 级"]
    assert "时限 T-RESOLVE 5 个工作日（原为20 个工作日）" in lines["改判为 A 级"]
    assert "报领导小组改为 是 ← R-COORD-D" in lines["改判为 D 级"]


def test_explain_lists_the_lifecycle_steps_with_the_grades_limits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _explain(capsys, C_LAND, "--rules", str(ROOT / "rules"))
    steps = out.split("【办理步骤】")[1]
    assert "按本单 C 级" in steps.splitlines()[0]
    request = next(line for line in steps.splitlines() if "L-EXTENSION-REQUEST" in line)
    assert "C 级每轮至多 10 个工作日" in request and "到期前" in request
    ret = next(line for line in steps.splitlines() if "L-RETURN" in line)
    assert "交办后 2 个工作日内（逾期计为本单位延误）" in ret


def test_explain_follows_a_changed_lifecycle_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    path = folder / "lifecycle.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for step in doc["steps"]:
        if step["id"] == "L-EXTENSION-REQUEST":
            step["max_workdays"] = {"A": 3, "B": 10, "C": 6}
        if step["id"] == "L-RETURN":
            step["late"] = "refuse"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    steps = _explain(capsys, C_LAND, "--rules", str(folder)).split("【办理步骤】")[1]
    assert "C 级每轮至多 6 个工作日" in steps
    assert "交办后 2 个工作日内（逾期的不予接受）" in steps


def test_explain_without_a_lifecycle_file_has_no_steps_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    (folder / "lifecycle.yaml").unlink()
    out = _explain(capsys, C_LAND, "--rules", str(folder))
    assert "【办理步骤】" not in out
    assert "【改判等级时】" in out


def test_json_carries_the_grades_routes_and_the_steps_and_fits_the_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from jsonschema import Draft202012Validator

    from kernel.inputs.contracts import load_schema

    out = _explain(capsys, C_LAND, "--rules", str(ROOT / "rules"), "--format", "json")
    data = json.loads(out)
    Draft202012Validator(load_schema("explanation")).validate(data)
    by_grade = data[0]["by_grade"]
    assert by_grade["A"] == {
        "route": {"coordinators": [], "agenda": False},
        "clocks": {"T-RESOLVE": 5},
    }
    assert by_grade["D"]["route"]["report_upward"] is True
    assert by_grade["D"]["clocks"] == {"T-RESOLVE": None}
    request = next(s for s in data[0]["lifecycle"] if s["id"] == "L-EXTENSION-REQUEST")
    assert (request["max_workdays"], request["before_due"], request["file"]) == (
        10,
        True,
        "rules/lifecycle.yaml",
    )
