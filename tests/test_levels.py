"""Rule folders in levels: a county folder extends the city's (docs/guide/levels.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kernel.cli.main import main
from kernel.evaluation.kernel import Kernel
from kernel.rules.load import check_rules, load_rules
from kernel.rules.resolved import LayeredDoc, resolved_items
from kernel.tools.lint import lint
from tests.conftest import ROOT, make_ticket
from tests.levels_support import (
    CITY,
    HANTAI,
    county_scenario,
    install_city_package,
    set_extends,
)


@pytest.fixture
def levels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A copy of the city's rules and of the 汉台区 folder side by side; run from tmp_path."""
    city = tmp_path / "city"
    shutil.copytree(ROOT / "rules", city)
    county = tmp_path / "county"
    shutil.copytree(HANTAI, county)
    set_extends(county, "../city")
    monkeypatch.chdir(tmp_path)
    return city, county


def line_of(path: Path, text: str, after: str | None = None) -> int:
    """The number of the first line of ``path`` containing ``text`` (after the line with
    ``after``): the city's rules move, the tests follow."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if after in line) if after else 0
    return next(i for i, line in enumerate(lines) if i >= start and text in line) + 1


def resolved_items_of(directory: Path) -> list[tuple[str, str, str, str, str]]:
    """Every item with an id of every file of a rule folder."""
    ruleset = load_rules(directory)
    return [row for doc in ruleset.sources.values() for row in resolved_items(doc)]


def codes(directory: Path) -> list[tuple[str, int, str]]:
    _, problems = check_rules(directory)
    return [(p.path, p.line, p.code) for p in problems]


def test_the_example_county_extends_the_city() -> None:
    ruleset = load_rules(HANTAI)
    assert [level.code for level in ruleset.levels] == ["city", "hantai"]
    grading = [rule.id for rule in ruleset.grading.rules]
    # added before the city's C rule (first hit policy), the city's rules kept in their order
    assert grading.index("HT-C-CITY-AUTHORITY") == grading.index("G-C-DEPARTMENTS") - 1
    assert grading[0] == "G-D-AUTHORITY"
    land = ruleset.rule("R-CO-LAND")
    assert land.path.endswith("examples/levels/hantai/routing.yaml")
    assert land.then["co_handlers"][0].unit == "区自然资源分局"
    primary = ruleset.rule("R-PRIMARY-TERRITORY")
    assert (primary.path, primary.line) == (
        "rules/routing.yaml",
        line_of(CITY / "routing.yaml", "id: R-PRIMARY-TERRITORY"),
    )
    assert ruleset.reference.units["助商稳企办"].name == "汉台区助商稳企办"
    assert "汉台区" in ruleset.reference.units  # the city's units stay addressable
    assert ruleset.calendar is not None and ruleset.home("calendar") == ROOT / "rules"
    feedback = next(c for c in ruleset.deadlines.clocks if c.id == "T-FEEDBACK")  # type: ignore[union-attr]
    assert feedback.limit is not None and feedback.limit.days("A", "用地") == 1
    assert ruleset.fingerprint != load_rules(ROOT / "rules").fingerprint


def test_a_county_ticket_is_graded_and_routed_at_its_level() -> None:
    kernel = Kernel(load_rules(HANTAI))
    try:
        ticket = make_ticket(
            enterprise__territory="铺镇",
            enterprise__lead_unit="区发改局",
            category="用地",
            assessment={"authority_level": "市级", "departments": ["区自然资源分局"]},
        )
        result = kernel.evaluate(ticket)
    finally:
        kernel.close()
    assert result.grade.grade == "C"
    assert result.grade.decision is not None
    assert result.grade.decision.rule.id == "HT-C-CITY-AUTHORITY"
    assert result.route.primary is not None and result.route.primary.unit == "铺镇"
    assert "区自然资源分局" in [a.unit for a in result.route.co_handlers]


def test_resolved_items_name_the_level_of_each() -> None:
    ruleset = load_rules(HANTAI)
    rows = {
        ident: (level, where)
        for doc in ruleset.sources.values()
        for _, ident, _, level, where in resolved_items(doc)
    }
    assert rows["HT-C-CITY-AUTHORITY"] == ("汉台区", "examples/levels/hantai/grading.yaml:3")
    city_line = line_of(CITY / "grading.yaml", "id: G-C-DEPARTMENTS")
    assert rows["G-C-DEPARTMENTS"] == ("市级", f"rules/grading.yaml:{city_line}")
    assert rows["T-REPORT"][0] == "市级"
    assert isinstance(ruleset.sources["grading"], LayeredDoc)


def test_a_change_of_the_city_flows_through(levels: tuple[Path, Path]) -> None:
    city, county = levels
    path = city / "grading.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("title: 需修改法律或政策", "title: 需修改法规"),
        encoding="utf-8",
    )
    assert load_rules(county).rule("G-D-POLICY").title == "需修改法规"


def test_a_locked_rule_cannot_be_overridden(levels: tuple[Path, Path]) -> None:
    _, county = levels
    with (county / "deadlines.yaml").open("a", encoding="utf-8") as out:
        out.write(
            "  - id: T-REPORT\n    override: true\n    title: 放宽\n    clause: 政策 §9.3\n"
            "    start: ticket.collected\n    stop: ticket.reported\n    limit: 5\n"
            "    owner: lead_unit\n"
        )
    ruleset, problems = check_rules(county)
    assert ruleset is None
    [locked] = [p for p in problems if p.code == "LEVEL-LOCKED"]
    assert (locked.path, locked.line) == ("county/deadlines.yaml", 13)
    at = line_of(CITY / "deadlines.yaml", "locked: true", after="id: T-REPORT")
    assert "由市级锁定" in locked.message and f"city/deadlines.yaml:{at}" in locked.message


def test_a_locked_rule_cannot_be_removed(levels: tuple[Path, Path]) -> None:
    _, county = levels
    with (county / "deadlines.yaml").open("a", encoding="utf-8") as out:
        out.write("remove: [T-REPORT]\n")
    [problem] = [p for p in check_rules(county)[1] if p.code == "LEVEL-LOCKED"]
    assert problem.path == "county/deadlines.yaml" and "不能删除" in problem.message


def test_remove_drops_an_unlocked_rule_and_refuses_unknown_ids(levels: tuple[Path, Path]) -> None:
    _, county = levels
    routing = county / "routing.yaml"
    routing.write_text(
        routing.read_text(encoding="utf-8") + "remove: [R-CO-GAS]\n", encoding="utf-8"
    )
    ruleset = load_rules(county)
    with pytest.raises(KeyError):
        ruleset.rule("R-CO-GAS")
    routing.write_text(
        routing.read_text(encoding="utf-8").replace("R-CO-GAS]", "R-CO-GASS]"), encoding="utf-8"
    )
    [problem] = check_rules(county)[1]
    assert problem.code == "LEVEL-UNKNOWN-ID"
    assert "R-CO-GASS" in problem.message and "R-CO-GAS" in problem.message.split("中不存在")[1]


def test_an_id_of_the_upper_level_needs_override(levels: tuple[Path, Path]) -> None:
    _, county = levels
    routing = county / "routing.yaml"
    routing.write_text(
        routing.read_text(encoding="utf-8").replace("    override: true\n", "", 1),
        encoding="utf-8",
    )
    [problem] = check_rules(county)[1]
    assert (problem.path, problem.line, problem.code) == (
        "county/routing.yaml",
        3,
        "LEVEL-DUPLICATE",
    )
    at = line_of(CITY / "routing.yaml", "id: R-CO-LAND")
    assert f"已在市级 city/routing.yaml:{at} 定义" in problem.message


def test_override_of_an_unknown_id_is_located(levels: tuple[Path, Path]) -> None:
    _, county = levels
    routing = county / "routing.yaml"
    routing.write_text(
        routing.read_text(encoding="utf-8").replace("id: R-CO-LABOUR", "id: R-CO-LABOR"),
        encoding="utf-8",
    )
    [problem] = check_rules(county)[1]
    assert problem.code == "LEVEL-UNKNOWN-ID" and problem.line == 11
    assert "R-CO-LABOUR" in problem.message  # did you mean


def test_schema_problems_of_an_added_rule_point_into_the_county_file(
    levels: tuple[Path, Path],
) -> None:
    _, county = levels
    grading = county / "grading.yaml"
    grading.write_text(
        grading.read_text(encoding="utf-8").replace("then: {grade: C}", "then: {grade: E}"),
        encoding="utf-8",
    )
    problems = check_rules(county)[1]
    assert problems and {p.path for p in problems} == {"county/grading.yaml"}
    assert problems[0].line == 10


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        (
            "kind: level\nlevel: {code: hantai, name: 汉台区, upper: city}\nextends: ../city\n",
            "SCHEMA-REQUIRED",
            2,
        ),
        (
            "kind: level\nlevel: {code: hantai, name: 汉台区, upper: city, unit_at_upper: 汉台区}\n"
            "extends: ../nowhere\n",
            "LEVEL-EXTENDS",
            3,
        ),
        (
            "kind: level\nlevel: {code: hantai, name: 汉台区, upper: province, unit_at_upper: 汉台区}\n"
            "extends: ../city\n",
            "LEVEL-UPPER",
            2,
        ),
        (
            "kind: level\nlevel: {code: hantai, name: 汉台区, upper: city, unit_at_upper: 汉台区}\n"
            "extends: .\n",
            "LEVEL-CYCLE",
            0,
        ),
    ],
)
def test_level_file_problems_are_located(
    levels: tuple[Path, Path], text: str, code: str, line: int
) -> None:
    _, county = levels
    (county / "level.yaml").write_text(text, encoding="utf-8")
    found = codes(county)
    assert found and found[0] == ("county/level.yaml", line, code)


def test_lint_reports_upper_rules_at_their_own_lines() -> None:
    findings = lint(load_rules(HANTAI))
    located = {(f.path, f.code) for f in findings}
    assert ("examples/levels/hantai/grading.yaml", "LINT-ENGINE") in located
    target = [f for f in findings if f.code == "LINT-UNKNOWN-TARGET"]
    assert target and all(f.path == "rules/routing.yaml" and f.line > 100 for f in target)


def test_rules_show_resolved_and_exit_codes(
    capsys: pytest.CaptureFixture[str], levels: tuple[Path, Path]
) -> None:
    _, county = levels
    assert main(["rules", "show", "--rules", str(county)]) == 0
    own = capsys.readouterr().out
    assert "HT-C-CITY-AUTHORITY" in own and "G-D-AUTHORITY" not in own
    assert main(["rules", "show", "--rules", str(county), "--resolved"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("层级：市级（city） → 汉台区（hantai）")
    line = next(x for x in out.splitlines() if " T-REPORT " in x)
    at = line_of(CITY / "deadlines.yaml", "id: T-REPORT")
    assert "市级" in line and f"city/deadlines.yaml:{at}" in line
    assert main(["validate", "--rules", str(county)]) == 0
    capsys.readouterr()
    (county / "grading.yaml").write_text("rules:\n  - id: G-D-POLICY\n", encoding="utf-8")
    assert main(["validate", "--rules", str(county)]) == 2
    assert "LEVEL-DUPLICATE" in capsys.readouterr().out
    assert main(["rules", "show", "--rules", str(county)]) == 2
    assert "LEVEL-DUPLICATE" in capsys.readouterr().err


def test_explain_names_the_level_of_each_rule(capsys: pytest.CaptureFixture[str]) -> None:
    ticket = ROOT / "examples" / "levels" / "hantai-tickets" / "ht-city-authority.yaml"
    assert main(["explain", "--rules", str(HANTAI), str(ticket)]) == 0
    out = capsys.readouterr().out
    assert "HT-C-CITY-AUTHORITY「需市级事权解决的问题为 C 级，报市级协调」 " in out
    assert "examples/levels/hantai/grading.yaml:3（汉台区）" in out
    assert (
        f"rules/grading.yaml:{line_of(CITY / 'grading.yaml', 'id: G-D-AUTHORITY')}（市级）" in out
    )
    assert main(["explain", str(ROOT / "examples" / "tickets" / "c-land.yaml")]) == 0
    assert "（市级）" not in capsys.readouterr().out  # a folder without levels shows none


def test_validate_and_rules_show_say_what_each_level_brings(
    capsys: pytest.CaptureFixture[str], levels: tuple[Path, Path]
) -> None:
    _, county = levels
    routing = county / "routing.yaml"
    routing.write_text(
        routing.read_text(encoding="utf-8") + "remove: [R-CO-GAS]\n", encoding="utf-8"
    )
    assert main(["validate", "--rules", str(county)]) == 0
    lines = capsys.readouterr().out.splitlines()
    city_items = len(resolved_items_of(CITY)) - 4 - 1  # the county replaced four, removed one
    assert lines[1] == (
        f"层级：市级 city（{city_items} 项） → 汉台区 county（新增 10 项、替换 4 项、删除 1 项）"
    )
    assert main(["rules", "show", "--rules", str(county)]) == 0
    land = next(x for x in capsys.readouterr().out.splitlines() if " R-CO-LAND " in x)
    assert land.endswith(
        f"替换市级 city/routing.yaml:{line_of(CITY / 'routing.yaml', 'id: R-CO-LAND')}"
    )


def test_a_scenario_may_override_a_county_folder(tmp_path: Path) -> None:
    assert main(["test", str(county_scenario(tmp_path, HANTAI))]) == 0


def test_a_level_file_may_only_remove(levels: tuple[Path, Path]) -> None:
    _, county = levels
    (county / "categories.yaml").write_text("remove: [其他]\n", encoding="utf-8")
    ruleset = load_rules(county)
    assert "其他" not in ruleset.reference.categories and "用地" in ruleset.reference.categories
    category = next(
        row for row in resolved_items(ruleset.sources["categories"]) if row[1] == "用地"
    )
    at = line_of(CITY / "categories.yaml", "id: 用地")
    assert category[3:] == ("市级", f"city/categories.yaml:{at}")


def test_extends_may_name_an_installed_rule_package(
    levels: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    city, county = levels
    installed = install_city_package(tmp_path / "site", monkeypatch, city)
    set_extends(county, "package:hanzhong_city_rules/rules")
    ruleset = load_rules(county)
    assert [level.name for level in ruleset.levels] == ["市级", "汉台区"]
    assert ruleset.levels[0].directory == installed
    assert ruleset.deadlines is not None
    report = next(c for c in ruleset.deadlines.clocks if c.id == "T-REPORT")
    assert report.path.endswith("hanzhong_city_rules/rules/deadlines.yaml")
    # a package that is not installed, a folder outside it, a dotted name: located problems
    for extends, words in (
        ("package:no_such_rules", "没有安装名为 no_such_rules 的规则包"),
        ("package:hanzhong_city_rules/../x", "不能含有 .."),
        ("package:os.path", "规则包应写为 package:包名"),
        ("package:hanzhong_city_rules", "不存在或不是规则目录"),
    ):
        set_extends(county, extends)
        _, problems = check_rules(county)
        assert [(p.path, p.code) for p in problems] == [("county/level.yaml", "LEVEL-EXTENDS")]
        assert words in problems[0].message, problems[0].message


def test_explain_locates_a_lifecycle_step_the_county_replaced(
    levels: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, county = levels
    (county / "lifecycle.yaml").write_text(
        "kind: lifecycle\nversion: 1\nsteps:\n"
        "  - id: L-RETURN\n    override: true\n    event: ticket.returned\n"
        "    title: 汉台区：交办后 1 个工作日内退回\n    clause: 政策 §8.2\n"
        "    states: [dispatched]\n    actors: [handler]\n    within_workdays: 1\n"
        "    late: refuse\n",
        encoding="utf-8",
    )
    ticket = str(ROOT / "examples" / "levels" / "hantai-tickets" / "ht-city-authority.yaml")
    assert main(["explain", "--rules", str(county), ticket]) == 0
    steps = capsys.readouterr().out.split("【办理步骤】")[1].splitlines()
    assert steps[0].startswith("各层级的 lifecycle.yaml")
    back = next(line for line in steps if "L-RETURN" in line)
    assert "（county/lifecycle.yaml:4）" in back and "交办后 1 个工作日内（逾期的不予接受）" in back
    reroute = next(line for line in steps if "L-REROUTE" in line)
    assert "city/lifecycle.yaml:" in reroute


def test_a_scenario_may_override_a_county_folder_that_extends_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_city_package(tmp_path / "site", monkeypatch)
    county = tmp_path / "hantai"
    shutil.copytree(HANTAI, county)
    set_extends(county, "package:hanzhong_city_rules/rules")
    assert main(["test", str(county_scenario(tmp_path, county))]) == 0
