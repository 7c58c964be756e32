"""``huhang demo``: a deterministic synthetic year, ingested and swept through the real kernel."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from kernel.assessment.reports import assessment_report
from kernel.assessment.scoring import FactCollector, assess
from kernel.cli.demo import cmd_demo
from kernel.cli.main import build_parser
from kernel.clocks.sweep import sweep
from kernel.demo.chart import ChartError, draw_closure_chart, find_chinese_font
from kernel.demo.generate import Simulation, Simulator, generate
from kernel.demo.outputs import DemoStats, closure_grid, collect_stats
from kernel.evaluation.kernel import Kernel
from kernel.inputs.creditcode import is_valid
from kernel.inputs.sourcefile import SourceDoc
from kernel.ledger.ingest import ingest_events
from kernel.ledger.ledger import Ledger
from kernel.storage.memory import MemoryStorage

END = dt.date(2026, 12, 31)
ESCALATIONS = ("supervision.issued", "notice.published", "interview.recommended")


def jsonl(sim: Simulation) -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in sim.events)


def assessment_json(sim: Simulation) -> str:
    rules = sim.ruleset
    assert rules.scoring is not None and rules.deadlines is not None
    assert rules.calendar is not None
    collector = FactCollector(rules.scoring, rules.deadlines, rules.calendar, rules.reference)
    result = assess(collector, sim.projector, sim.stored, "2026")
    return json.dumps(assessment_report(result).data, ensure_ascii=False, sort_keys=True)


def stats_of(sim: Simulation) -> DemoStats:
    return collect_stats(
        sim.ruleset,
        sim.projector,
        sim.stored,
        sim.evaluator,
        END,
        input_events=len(sim.events),
        outbox=Counter(),
    )


@pytest.fixture(scope="module")
def small() -> Simulation:
    return generate(seed=1, enterprises=20, problems=80)


@pytest.fixture(scope="module")
def medium() -> Simulation:
    return generate(seed=3, enterprises=50, problems=250)


# ------------------------------------------------------------------ determinism and legality


def test_same_seed_same_events_and_assessment(small: Simulation) -> None:
    again = generate(seed=1, enterprises=20, problems=80)
    assert jsonl(again) == jsonl(small)
    assert assessment_json(again) == assessment_json(small)


def test_another_seed_another_year(small: Simulation) -> None:
    def plan(seed: int) -> list[dict[str, Any]]:
        assert small.ruleset.calendar is not None
        ledger = Ledger(MemoryStorage(), small.ruleset.reference)
        simulator = Simulator(
            ledger, small.ruleset, small.ruleset.calendar, seed=seed, enterprises=20, problems=80
        )
        simulator.plan_year()
        return [e for day in sorted(simulator.agenda) for _, _, e in simulator.agenda[day]]

    assert plan(1) == plan(1)
    assert plan(2) != plan(1)


def test_every_event_is_accepted_and_every_ticket_graded(small: Simulation) -> None:
    assert small.ingest.rejected == []
    assert small.ingest.duplicates == 0
    assert small.ingest.accepted == len(small.events)
    assert len(small.ingest.graded) == 80 == len(small.projector.tickets)
    assert small.sweeps.errors == []
    assert all(state.grade for state in small.projector.tickets.values())


def test_the_daily_sweeps_missed_nothing(small: Simulation) -> None:
    """A sweep of the whole ledger at year end finds nothing the daily sweeps did not issue."""
    result = sweep(small.ledger, small.evaluator, END)
    assert (result.notices, result.events, result.errors) == (0, 0, [])


def test_sweeping_only_tickets_with_new_steps_issues_the_same_notices(small: Simulation) -> None:
    """The simulation hands the sweep only tickets with a step not issued before; sweeping every
    open ticket every day gives the same notices (warnings included) and events."""
    assert small.ruleset.calendar is not None
    ledger = Ledger(MemoryStorage(), small.ruleset.reference, notifiers=["n"])
    simulator = Simulator(
        ledger,
        small.ruleset,
        small.ruleset.calendar,
        seed=1,
        enterprises=20,
        problems=80,
        prefilter=False,
    )
    with Kernel(small.ruleset) as kernel:
        full = simulator.run(kernel)

    def notices(sim: Simulation) -> set[str]:
        return {d.notice.notice_id for d in sim.ledger.storage.deliveries()}

    assert notices(full) == notices(small) and len(notices(small)) > 100
    assert [e.to_json() for e in full.stored] == [e.to_json() for e in small.stored]


def test_the_events_file_replays_through_ingest_and_one_sweep(small: Simulation) -> None:
    """``huhang ingest events.jsonl --grade`` then ``huhang sweep`` rebuild the same ledger."""
    ledger = Ledger(MemoryStorage(), small.ruleset.reference)
    with Kernel(small.ruleset) as kernel:
        report = ingest_events(
            ledger, [(e, SourceDoc("events.jsonl", e), ()) for e in small.events], kernel=kernel
        )
    assert report.rejected == []
    assert sorted(report.graded) == sorted(small.projector.tickets)
    sweep(ledger, small.evaluator, END)
    wanted = ("ticket.graded", *ESCALATIONS)

    def derived(events: Any) -> dict[str, str]:
        return {e.event_id: e.to_json() for e in events if e.type in wanted}

    assert derived(ledger.events()) == derived(small.stored)


def test_ingest_events_reports_a_rejected_event_and_keeps_the_others(small: Simulation) -> None:
    ledger = Ledger(MemoryStorage(), small.ruleset.reference)
    good = small.events[0]
    bad = {**small.events[1], "event_id": "bad", "type": "ticket.rated", "ticket_id": "HZ-404"}
    report = ingest_events(ledger, [(good, None, ()), (bad, None, ())])
    assert report.accepted == 1
    assert len(report.rejected) == 1 and report.rejected[0].startswith("bad：")


def test_nothing_reaches_into_the_next_year(small: Simulation) -> None:
    for event in small.events:
        assert event["date"] <= "2026-12-31"
        if event["type"].startswith("ticket."):
            assert event["date"] <= small.last_action.isoformat()
    for state in small.projector.tickets.values():
        small.evaluator.evaluate(state, END)  # no CalendarError


# ------------------------------------------------------------------ the world


def test_enterprises_have_valid_codes_and_a_complete_assignment(small: Simulation) -> None:
    units = small.ruleset.reference.units
    codes = [firm.code for firm in small.firms]
    assert len(set(codes)) == len(codes) == 20
    assert all(is_valid(code) for code in codes)
    assert len({firm.name for firm in small.firms}) == 20
    for event in small.events:
        if event["type"] == "enterprise.registered":
            payload = event["payload"]
            assert units[payload["territory"]].kind == "territories"
            assert units[payload["lead_unit"]].kind == "departments"
            assert payload["lead_leader"] and payload["liaison_cadre"] and payload["plan"]
            assert payload["lead_unit"] in payload["working_group"]


def test_grade_mix_is_close_to_the_target(medium: Simulation) -> None:
    assert medium.ingest.rejected == [] and medium.sweeps.errors == []
    stats = stats_of(medium)
    assert sum(stats.grades.values()) == 250
    for grade, share, tolerance in (("A", 0.45, 0.08), ("B", 0.30, 0.08), ("C", 0.18, 0.07)):
        assert abs(stats.grade_share(grade) - share) <= tolerance, (grade, stats.grades)
    assert 0.02 <= stats.grade_share("D") <= 0.13


def test_the_year_has_every_kind_of_trouble(medium: Simulation) -> None:
    stats = stats_of(medium)
    assert 0.04 <= stats.late_reports / stats.problems <= 0.18
    assert stats.overdue_resolutions >= 0.05 * stats.problems
    assert stats.reopened > 0 and stats.unsatisfied >= stats.reopened
    assert stats.grades["D"] > 0 and stats.reported_upward == stats.grades["D"]
    assert stats.missed_progress > 0
    assert 0 < stats.missed_contacts < 0.12 * stats.enterprises * 12
    assert stats.supervisions > 0 and stats.notices > 0
    assert 3 <= stats.spot_checks <= 20
    assert (stats.monthly_reports, stats.late_monthly_reports) == (11, 1)
    progress = [e for e in medium.events if e["type"] == "ticket.progress_reported"]
    assert progress and all(medium.projector.tickets[e["ticket_id"]].grade == "D" for e in progress)


def test_the_year_takes_the_other_steps_at_realistic_rates(medium: Simulation) -> None:
    kinds = Counter(str(e["type"]) for e in medium.events)
    problems = len(medium.problems)
    # a few percent returned and re-routed, extended, suspended; a handful withdrawn or merged
    assert 0 < kinds["ticket.returned"] == kinds["ticket.rerouted"] <= 0.08 * problems
    assert 0 < kinds["ticket.extension_requested"] <= 0.1 * problems
    assert (
        kinds["ticket.extension_granted"] + kinds["ticket.extension_refused"]
        == (kinds["ticket.extension_requested"])
    )
    assert 0 < kinds["ticket.suspended"] == kinds["ticket.resumed"] <= 0.05 * problems
    assert kinds["ticket.withdrawn"] + kinds["ticket.merged"] + kinds["ticket.rejected"] <= 0.03 * (
        problems
    )
    assert 0 < kinds["ticket.callback_recorded"] <= 0.15 * problems
    assert medium.ingest.rejected == []  # every step met rules/lifecycle.yaml


# ------------------------------------------------------------------ the command and its files


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["demo", *argv])


def _chart_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    try:
        find_chinese_font("汉中县区按期办结率")
    except ChartError:
        return False
    return True


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        mp.setenv("HUHANG_PROGRESS", "1")
        code = cmd_demo(_parse(["--enterprises", "20", "--problems", "80", "--out", str(out)]))
    return out, code, stdout.getvalue(), stderr.getvalue()


def test_demo_prints_figures_ranking_files_and_next_commands(
    demo_run: tuple[Path, int, str, str],
) -> None:
    out, code, text, err = demo_run
    assert code == (0 if _chart_available() else 2)
    assert "模拟完成" in text and "包抓企业 20 户" in text
    assert "考核排名（前 10 名）" in text and "（后 5 名）" in text
    assert str(out / "ledger-2026.xlsx") in text
    assert f"huhang report assessment --year 2026 --db {out / 'huhang.db'}" in text
    assert "模拟 [" in err and "100%" in err


def test_demo_writes_the_ledger_reports_and_assessment(
    demo_run: tuple[Path, int, str, str],
) -> None:
    from openpyxl import load_workbook

    out = demo_run[0]
    assert (out / "huhang.db").stat().st_size > 0
    lines = (out / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 500 and json.loads(lines[0])["type"] == "enterprise.registered"
    notices = (out / "outbox.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(n)["kind"] for n in notices} >= {"warning", "supervision"}
    sheet = load_workbook(out / "ledger-2026.xlsx").active
    assert sheet is not None
    assert sheet.max_row == 81 and sheet.cell(1, 1).value == "办理单编号"
    months = sorted(p.name for p in (out / "monthly").glob("*.md"))
    assert months == [f"2026-{m:02d}.md" for m in range(1, 13)]
    june = (out / "monthly" / "2026-06.md").read_text(encoding="utf-8")
    for heading in ("## 服务动态", "## 问题办理通报", "## 调度会议程", "## 未按月联系的企业"):
        assert heading in june
    ranking = (out / "assessment-2026.md").read_text(encoding="utf-8")
    assert "# 助商稳企·护航发展 2026 年考核结果" in ranking and "| 汉台区" in ranking
    data = json.loads((out / "assessment-2026.json").read_text(encoding="utf-8"))
    assert len(data["units"]) == 42
    book = load_workbook(out / "assessment-2026.xlsx")
    assert book.sheetnames == ["概要", "总表", "扣分明细", "指标明细"]
    assert book["总表"].cell(1, 2).value == "单位"


def test_demo_draws_the_closure_chart(demo_run: tuple[Path, int, str, str]) -> None:
    if not _chart_available():
        pytest.skip("matplotlib 或中文字体未安装（make demo 会安装），跳过图表检查")
    path = demo_run[0] / "closure-rate-2026.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 1000 and height > 600 and len(data) > 30_000
    trends = (demo_run[0] / "trends-2026.png").read_bytes()
    assert trends[:8] == b"\x89PNG\r\n\x1a\n" and len(trends) > 30_000


def test_chart_cells_show_the_count_beside_the_rate() -> None:
    import math

    from kernel.demo.chart import ClosureGrid, _cell_text

    grid = ClosureGrid(
        "t", ("宁强县", "汉台区"), ("2026-01", "2026-02"), ((0, 1), (30, 0)), ((1, 1), (40, 0))
    )
    assert _cell_text(grid, 0, 0, 0.0) == "0%\n0/1"
    assert _cell_text(grid, 1, 0, 0.75) == "75%\n30/40"
    assert _cell_text(grid, 1, 1, math.nan) == "—"
    assert _cell_text(grid, 0, 2, 0.5) == "50%\n1/2"  # the year column sums the months


def test_trends_count_grades_by_month_and_overdue_items_by_unit(medium: Simulation) -> None:
    from kernel.assessment.reports import monthly_report
    from kernel.demo.outputs import trends_of

    reports = [
        monthly_report(
            f"2026-{m:02d}", medium.ruleset, medium.projector, medium.stored, medium.evaluator
        )
        for m in (5, 6)
    ]
    trends = trends_of(reports, medium.projector, 2026)
    june = [
        s for s in medium.projector.tickets.values() if s.collected_on.isoformat()[:7] == "2026-06"
    ]
    assert sum(counts[1] for counts in trends.by_grade.values()) == sum(1 for s in june if s.grade)
    overdue_june = sum(len(str(r["units"]).split("、")) for r in reports[1].data["超期问题"])
    assert sum(counts[1] for counts in trends.overdue_by_unit.values()) == overdue_june


def test_chart_refuses_to_draw_boxes(small: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    import kernel.demo.chart as chart

    monkeypatch.setattr(chart, "_font_paths", lambda: [])
    grid = closure_grid({}, ["汉台区"], 2026)
    with pytest.raises(ChartError, match="没有找到能显示中文的字体"):
        draw_closure_chart(grid, Path("unused.png"))


def test_demo_never_overwrites_a_ledger_it_did_not_make(tmp_path: Path) -> None:
    from kernel.demo.outputs import run_demo
    from kernel.errors import InputError

    (tmp_path / "huhang.db").write_bytes(b"real ledger")
    with pytest.raises(InputError, match="不是演示生成的"):
        run_demo(1, tmp_path, enterprises=2, problems=2, progress=False, chart=False)
    assert (tmp_path / "huhang.db").read_bytes() == b"real ledger"
