"""deadlines.yaml checks in `huhang validate`, and the deadlines/contacts/calendar commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel import check_rules
from kernel.cli.main import main
from tests.conftest import ROOT

EXAMPLE = str(ROOT / "examples" / "history" / "hz-2026-0003.yaml")


def problems_after(
    rules: Path, old: str, new: str, name: str = "deadlines.yaml"
) -> list[tuple[str, str]]:
    path = rules / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return [(p.code, p.message) for p in check_rules(rules)[1]]


def test_every_grade_needs_a_resolution_clock(rules_copy: Path) -> None:
    found = problems_after(rules_copy, "    grades: [D]\n", "    grades: [C]\n")
    assert (
        "DEADLINE-GRADE",
        "grading.yaml 会给出 D 级，但 deadlines.yaml 没有 D 级的办结时限（stop: ticket.resolved）",
    ) in found


def test_start_must_name_an_event_kind(rules_copy: Path) -> None:
    found = problems_after(
        rules_copy, "    start: ticket.collected\n", "    start: ticket.colected\n"
    )
    assert len(found) == 1
    code, message = found[0]
    assert code == "SCHEMA-VALUE"
    assert message.startswith("clocks[0].start 的值 'ticket.colected' 不在允许范围内")
    assert message.endswith("是否想写 'ticket.collected'？")


def test_limit_must_cover_every_grade_of_the_clock(rules_copy: Path) -> None:
    found = problems_after(rules_copy, "by_grade: {A: 5, B: 10, C: 20}", "by_grade: {A: 5, B: 10}")
    assert found == [
        (
            "DEADLINE-GRADE",
            "grading.yaml 会给出 C 级，但 deadlines.yaml 没有 C 级的办结时限（stop: ticket.resolved）",
        ),
        (
            "DEADLINE-LIMIT",
            "时限 T-RESOLVE 适用于 A、B、C 级，但没有规定 C 级的时限（在 by_grade 中补上，或写 default，或用 grades 缩小范围）",
        ),
    ]


def test_escalation_must_follow_an_earlier_step(rules_copy: Path) -> None:
    found = problems_after(rules_copy, "    after: E-SUPERVISE\n", "    after: E-SUPERVISED\n")
    assert found == [
        (
            "ESCALATION-AFTER",
            "督办步骤 E-NOTICE 的 after 应为 due 或前面某个步骤的 id，'E-SUPERVISED' 不是，是否想写 'E-SUPERVISE'？",
        )
    ]


def test_clock_ids_are_unique(rules_copy: Path) -> None:
    found = problems_after(rules_copy, "  - id: T-DISPATCH\n", "  - id: T-REPORT\n")
    assert [code for code, _ in found] == ["DUPLICATE-ID"]


def test_calendar_problems_are_reported_by_validate(rules_copy: Path) -> None:
    found = problems_after(rules_copy, "year: 2026", "year: 2025", name="calendar/2026.yaml")
    assert found and all(code == "CALENDAR" for code, _ in found)


# --------------------------------------------------------------------------- commands


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_deadlines_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "deadlines", EXAMPLE, "--as-of", "2026-11-30")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "━━ 办理单 HZ-2026-0003（C 级，办理中）时限情况，截至 2026-11-30 ━━"
    assert "  开始：2026-09-30（事件 E-0002）；时限 2 个工作日 → 到期 2026-10-09" in lines
    assert "  状态：超期 16 个工作日；责任：主办单位 洋县" in lines
    assert "  督办：2026-11-09 E-SUPERVISE「超期自动督办」 → 洋县" in lines
    assert lines[-1] == "应发出的督办事项：2 项"


def test_deadlines_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "deadlines", EXAMPLE, "--as-of", "2026-10-12", "--format", "json")
    assert code == 0
    [ticket] = json.loads(out)
    assert ticket["ticket_id"] == "HZ-2026-0003" and ticket["grade"] == "C"
    resolve = next(c for c in ticket["clocks"] if c["clock"] == "T-RESOLVE")
    assert resolve | {"owners": resolve["owners"]} == resolve
    assert (resolve["due"], resolve["state"], resolve["owners"]) == (
        "2026-11-06",
        "running",
        ["洋县"],
    )
    assert ticket["escalations"] == []


def test_deadlines_rejects_an_illegal_history(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = Path(EXAMPLE).read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("type: ticket.reported", "type: ticket.resolved"), encoding="utf-8")
    code, out, err = run(capsys, "deadlines", str(bad), "--as-of", "2026-11-30")
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == (
        f"{bad}:33:5: EVENT-REJECTED 办理单 HZ-2026-0003 当前状态为「已收集」，只有「办理中」时才能办结"
    )
    assert "Traceback" not in err


def test_calendar_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "calendar", "add-days", "2026-09-30", "2") == (
        0,
        "2026-09-30 起第 2 个工作日（从次日起算）：2026-10-09（星期五）\n",
        "",
    )
    assert run(capsys, "calendar", "add-days", "2026-10-09", "1", "--inclusive")[1] == (
        "2026-10-09 起第 1 个工作日（含本数）：2026-10-09（星期五）\n"
    )
    assert run(capsys, "calendar", "is-workday", "2026-10-10") == (
        0,
        "2026-10-10（星期六）是工作日（调休上班）\n",
        "",
    )
    assert run(capsys, "calendar", "is-workday", "2026-10-03") == (
        1,
        "2026-10-03（星期六）不是工作日（国庆节）\n",
        "",
    )


def test_calendar_year_without_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "calendar", "add-days", "2026-12-30", "5")
    assert (code, out) == (2, "")
    assert err.startswith("错误：缺少 2027 年的节假日数据")


def test_calendar_bad_argument(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["calendar", "is-workday", "2026-02-30"])
    assert info.value.code == 2
    assert "'2026-02-30' 不是有效的日期（应为 YYYY-MM-DD）" in capsys.readouterr().err


def test_contacts_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "contacts", EXAMPLE, "--as-of", "2026-04-15", "--format", "json")
    assert code == 0
    months = [m["month"] for m in json.loads(out)]
    assert months == ["2026-02", "2026-03"]  # registered 5 January; no contact recorded
