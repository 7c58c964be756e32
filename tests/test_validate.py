"""`huhang validate` and the rule-checking API, driven by the folders in fixtures/invalid_rules.

Each fixture folder holds the rule file(s) it breaks (a full copy with deliberate defects), an
``expected.txt`` with the exact stdout of ``huhang validate`` (``{rules}`` stands for the rule
folder), and optionally ``DELETE``, naming files to remove from the copied default rules.
The tests run from the temporary folder, so the rule folder is shown as ``rules``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kernel import InputError, ProblemsError, RuleSetInvalid, check_rules, load_rules
from kernel.cli.main import main
from tests.conftest import ROOT

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "invalid_rules"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
RULE_FILES = {"grading.yaml", "routing.yaml", "units.yaml", "categories.yaml"}
SHOWN = "rules"  # how the CLI shows tmp_path/rules when run from tmp_path

LINE = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>[A-Z][A-Z0-9-]*) (?P<message>\S.*)$"
)


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tmp_path (so paths are shown relative to it) with no $HUHANG_RULES."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUHANG_RULES", raising=False)
    return tmp_path


def apply_case(rules: Path, case: str) -> Path:
    """Overlay the fixture folder ``case`` on the rule folder ``rules`` and apply DELETE."""
    folder = FIXTURES / case
    for item in folder.iterdir():
        if item.name in ("expected.txt", "DELETE"):
            continue
        shutil.copyfile(item, rules / item.name)
    delete = folder / "DELETE"
    if delete.is_file():
        for name in delete.read_text(encoding="utf-8").split():
            (rules / name).unlink()
    return rules


def expected_output(case: str, shown: str = SHOWN) -> str:
    """The expected stdout of `huhang validate` for a fixture, with the rule folder filled in."""
    text = (FIXTURES / case / "expected.txt").read_text(encoding="utf-8")
    return text.replace("{rules}", shown)


def sort_key(line: str) -> tuple[str, int, int, str, str]:
    """Order of problem lines: file, then line and column as numbers, then code and message."""
    match = LINE.match(line)
    assert match, f"not a PATH:LINE:COL: CODE message line: {line!r}"
    return (
        match["path"],
        int(match["line"]),
        int(match["col"]),
        match["code"],
        match["message"],
    )


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `huhang ARGV` in-process; return the exit code, stdout and stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def write_rule(rules: Path, name: str, old: str, new: str) -> None:
    """Replace the single occurrence of ``old`` in a rule file by ``new``."""
    path = rules / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not unique in {name}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# --------------------------------------------------------------------------- the fixtures


def test_there_is_a_fixture_for_every_error_kind() -> None:
    codes = {
        sort_key(line)[3] for case in CASES for line in expected_output(case).splitlines() if line
    }
    required = {
        "YAML-SYNTAX",
        "YAML-DUPLICATE-KEY",
        "YAML-VALUE",
        "FILE-MISSING",
        "FILE-ENCODING",
        "SCHEMA-UNKNOWN-KEY",
        "SCHEMA-REQUIRED",
        "SCHEMA-TYPE",
        "SCHEMA-VALUE",
        "DUPLICATE-ID",
        "UNKNOWN-FIELD",
        "UNKNOWN-OPERATOR",
        "OPERATOR-TYPE",
        "VALUE-TYPE",
        "UNKNOWN-VALUE",
        "UNKNOWN-CATEGORY",
        "UNKNOWN-TERRITORY",
        "UNKNOWN-DEPARTMENT",
        "UNKNOWN-UNIT",
        "OUTCOME-TYPE",
        "CONDITION-FORM",
        "CONDITION-NEVER",
        "HIT-POLICY",
    }
    assert required <= codes, f"no fixture shows {sorted(required - codes)}"


@pytest.mark.parametrize("case", CASES)
def test_fixture_folder_holds_only_the_files_it_breaks(case: str) -> None:
    folder = FIXTURES / case
    names = {p.name for p in folder.iterdir()}
    assert "expected.txt" in names
    assert names - {"expected.txt", "DELETE"} <= RULE_FILES, "unexpected file in the fixture"
    assert names - {"expected.txt"}, "a fixture must break at least one rule file"
    for name in names & RULE_FILES:
        default = (ROOT / "rules" / name).read_bytes()
        assert (folder / name).read_bytes() != default, f"{name} is an unchanged copy"
    expected = expected_output(case, "{rules}")
    assert expected.endswith("\n") and "\n\n" not in expected
    assert str(ROOT) not in expected and "/tmp" not in expected


# --------------------------------------------------------------------------- huhang validate


@pytest.mark.parametrize("case", CASES)
def test_invalid_rules(
    case: str, rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_case(rules_copy, case)
    code, out, err = run_cli(["validate", "--rules", str(rules_copy)], capsys)
    expected = expected_output(case)
    count = len(expected.splitlines())
    assert code == 2
    assert out == expected
    lines = out.splitlines()
    assert lines == sorted(lines, key=sort_key)
    assert len(set(lines)) == len(lines)
    assert err == f"错误：规则文件有 {count} 个问题（{SHOWN}）\n"
    assert "Traceback" not in out + err


def test_many_problems_are_all_reported_and_sorted_across_files(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_case(rules_copy, "many-problems")
    code, out, _ = run_cli(["validate", "--rules", str(rules_copy)], capsys)
    keys = [sort_key(line) for line in out.splitlines()]
    assert code == 2
    assert [k[0] for k in keys] == ["rules/grading.yaml"] * 4 + ["rules/routing.yaml"] * 3
    # line 6 before line 15: numeric order, not text order
    assert [k[1] for k in keys[:2]] == [6, 15]
    assert {k[3] for k in keys} == {
        "SCHEMA-TYPE",
        "UNKNOWN-VALUE",
        "UNKNOWN-FIELD",
        "SCHEMA-VALUE",
        "UNKNOWN-UNIT",
        "UNKNOWN-CATEGORY",
        "DUPLICATE-ID",
    }


def rule_counts(rules: Path) -> dict[str, int]:
    """Rules, units and categories in a rule folder, counted straight from the YAML."""

    def load(name: str) -> dict[str, list[object]]:
        data: dict[str, list[object]] = yaml.safe_load(
            (rules / f"{name}.yaml").read_text(encoding="utf-8")
        )
        return data

    units = load("units")
    return {
        "grading": len(load("grading")["rules"]),
        "routing": len(load("routing")["rules"]),
        "units": sum(
            len(units.get(k, [])) for k in ("territories", "departments", "offices", "others")
        ),
        "categories": len(load("categories")["categories"]),
    }


def test_default_rules_are_valid(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = rule_counts(rules_copy)
    code, out, err = run_cli(
        ["validate", "--rules", str(rules_copy), "--as-of", "2026-10-31"], capsys
    )
    assert code == 0
    assert out == (
        f"规则检查通过：rules（grading {n['grading']} 条、routing {n['routing']} 条；"
        f"单位 {n['units']} 个，类别 {n['categories']} 个；"
        "时限 9 项，督办步骤 3 级；办理步骤 12 项；工作日历 2020–2026 年）\n"
    )
    assert err == ""


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_next_years_calendar_is_expected_from_1_november(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [command, "--rules", str(rules_copy)]
    assert run_cli([*argv, "--as-of", "2026-10-31"], capsys)[2] == ""
    code, _, err = run_cli([*argv, "--as-of", "2026-11-01"], capsys)
    assert code == 0  # a warning, not a failure
    assert err.startswith("提醒：工作日历还没有 2027 年的正式文件")
    assert "huhang calendar import 通知.txt" in err and err.count("提醒：") == 1
    # the year itself is always expected
    assert "还没有 2027 年" in run_cli([*argv, "--as-of", "2027-03-01"], capsys)[2]


def test_the_warning_says_what_provisional_mode_does(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "huhang.yaml").write_text("calendar: {missing_year: provisional}\n", "utf-8")
    argv = ["validate", "--rules", str(rules_copy), "--as-of", "2026-12-01", "--format", "json"]
    code, out, _ = run_cli(argv, capsys)
    (warning,) = json.loads(out)["warnings"]
    assert code == 0 and "2027 年的日期按暂定日历计算并标注“暂定”" in warning


def test_rules_folder_from_environment(
    rules_copy: Path,
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    apply_case(rules_copy, "unknown-unit")
    monkeypatch.setenv("HUHANG_RULES", str(rules_copy))
    code, out, _ = run_cli(["validate"], capsys)
    assert code == 2
    assert out == expected_output("unknown-unit")


def test_json_format_lists_every_problem(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_case(rules_copy, "many-problems")
    code, out, err = run_cli(["validate", "--rules", str(rules_copy), "--format", "json"], capsys)
    assert code == 2
    assert err == ""
    report = json.loads(out)
    assert list(report) == ["valid", "problems", "warnings"]
    assert report["valid"] is False
    expected = [
        dict(zip(("path", "line", "col", "code", "message"), sort_key(line), strict=True))
        for line in expected_output("many-problems").splitlines()
    ]
    assert report["problems"] == expected


def test_json_format_of_valid_rules(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["validate", "--rules", str(rules_copy), "--format", "json", "--as-of", "2026-06-30"],
        capsys,
    )
    assert code == 0
    assert err == ""
    assert json.loads(out) == {"valid": True, "problems": [], "warnings": []}


def test_rules_folder_that_does_not_exist(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["validate", "--rules", "no-such-folder"], capsys)
    assert code == 2
    assert out == "no-such-folder:0:0: RULES-DIR-MISSING 规则目录不存在\n"
    assert err == "错误：规则文件有 1 个问题（no-such-folder）\n"


def test_unknown_format_is_a_usage_error(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--rules", str(rules_copy), "--format", "xml"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert out == ""
    assert err.splitlines()[-1].startswith("错误：命令参数有误：参数 --format：")
    assert "'xml'" in err
    assert "Traceback" not in err


def test_explain_refuses_invalid_rules(
    rules_copy: Path, in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_case(rules_copy, "unknown-unit")
    ticket = ROOT / "examples" / "tickets" / "b-labour.yaml"
    code, out, err = run_cli(["explain", str(ticket), "--rules", str(rules_copy)], capsys)
    assert code == 2
    assert out == ""
    assert err == expected_output("unknown-unit") + "错误：规则文件有 1 个问题\n"


def test_end_to_end_in_a_subprocess(rules_copy: Path, tmp_path: Path) -> None:
    apply_case(rules_copy, "many-problems")
    env = {k: v for k, v in os.environ.items() if k != "HUHANG_RULES"}
    proc = subprocess.run(
        [sys.executable, "-m", "kernel", "validate", "--rules", str(rules_copy)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == expected_output("many-problems")
    assert proc.stderr == f"错误：规则文件有 7 个问题（{SHOWN}）\n"
    assert "Traceback" not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- the Python API


@pytest.mark.parametrize("case", CASES)
def test_check_rules_returns_the_same_problems(case: str, rules_copy: Path, in_tmp: Path) -> None:
    apply_case(rules_copy, case)
    ruleset, problems = check_rules(rules_copy)
    assert ruleset is None
    assert [str(p) for p in problems] == expected_output(case).splitlines()


def test_check_rules_of_valid_rules(rules_copy: Path) -> None:
    n = rule_counts(rules_copy)
    ruleset, problems = check_rules(rules_copy)
    assert problems == []
    assert ruleset is not None
    assert ruleset.directory == rules_copy
    assert len(ruleset.grading.rules) == n["grading"]
    assert len(ruleset.routing.rules) == n["routing"]
    assert len(ruleset.reference.units) == n["units"]
    assert len(ruleset.reference.categories) == n["categories"]


def test_load_rules_raises_with_every_problem(rules_copy: Path, in_tmp: Path) -> None:
    apply_case(rules_copy, "many-problems")
    with pytest.raises(RuleSetInvalid) as exc_info:
        load_rules(rules_copy)
    error = exc_info.value
    assert isinstance(error, ProblemsError)
    assert isinstance(error, InputError)
    assert error.summary == "规则文件有 7 个问题"
    assert [str(p) for p in error.problems] == expected_output("many-problems").splitlines()
    assert [p.code for p in error.problems] == [
        "SCHEMA-TYPE",
        "UNKNOWN-VALUE",
        "UNKNOWN-FIELD",
        "SCHEMA-VALUE",
        "UNKNOWN-UNIT",
        "UNKNOWN-CATEGORY",
        "DUPLICATE-ID",
    ]
    assert str(error) == expected_output("many-problems").rstrip("\n")


def test_load_rules_accepts_a_string_path(rules_copy: Path) -> None:
    assert load_rules(str(rules_copy)).directory == rules_copy


def test_duplicate_key_does_not_hide_other_problems(rules_copy: Path, in_tmp: Path) -> None:
    write_rule(
        rules_copy,
        "grading.yaml",
        "    title: 需修改法律或政策\n",
        "    title: 需修改法律或政策\n    title: 需修改政策\n    descripton: 说明\n",
    )
    _, problems = check_rules(rules_copy)
    assert [str(p) for p in problems] == [
        "rules/grading.yaml:20:5: YAML-DUPLICATE-KEY rules[1] 中的键 'title' 重复出现；每个键只能写一次",
        "rules/grading.yaml:21:5: SCHEMA-UNKNOWN-KEY rules[1] 中有未知字段 'descripton'，"
        "是否想写 'description'？",
    ]


# --------------------------------------------------------------------------- former bugs


def test_quoted_impossible_effective_from_is_a_problem(rules_copy: Path, in_tmp: Path) -> None:
    write_rule(
        rules_copy, "grading.yaml", "version: 1\n", "version: 1\neffective_from: '2026-02-30'\n"
    )
    ruleset, problems = check_rules(rules_copy)
    assert ruleset is None
    assert [(p.path, p.line, p.col) for p in problems] == [("rules/grading.yaml", 7, 17)]


# heavy libraries are imported only by the commands that use them (docs/internals/benchmarks.md)
HEAVY = (
    "docx", "docxtpl", "openpyxl", "matplotlib", "jinja2", "fastapi", "uvicorn", "lxml",
    # only for a compiled (event, ticket) schema, or a name that was not found
    "fastjsonschema", "difflib",
)  # fmt: skip


def test_validate_does_not_import_heavy_modules() -> None:
    probe = (
        "import sys\n"
        "from kernel.cli.main import main\n"
        "code = main(['validate', '--rules', sys.argv[1]])\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "print(code, ','.join(heavy) or '-')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "rules")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.stdout.splitlines()[-1] == "0 -", done.stdout + done.stderr
