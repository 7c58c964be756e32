"""Running the demo: the simulated year into ``DIR/huhang.db``, then its files -- the events,
the 台账, the monthly reports, the assessment, the outbox, the chart -- its figures, and the
summary it prints.

    from kernel.demo.outputs import render_summary, run_demo
    result = run_demo(seed=2026, out_dir=Path("demo-out"))
    print(render_summary(result))
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kernel.assessment.ledger_table import ledger_table
from kernel.assessment.reports import (
    Report,
    assessment_report,
    emit_report,
    monthly_report,
    render_report,
)
from kernel.assessment.scoring import Assessment, FactCollector, Tallies, assess
from kernel.clocks.compute import BREACHED, ClockEvaluator
from kernel.clocks.monthly import missed_contacts, office_duties
from kernel.clocks.steps import step_guard
from kernel.clocks.view import clock_titles
from kernel.config import Config
from kernel.demo import DEFAULT_ENTERPRISES, DEFAULT_OUT, DEFAULT_PROBLEMS, DEFAULT_SEED
from kernel.demo.chart import ChartError, ClosureGrid, Trends, draw_closure_chart, draw_trend_chart
from kernel.demo.generate import NOTIFIER, Simulation, simulate
from kernel.demo.levels import CountyDemo, simulate_county
from kernel.errors import InputError
from kernel.ledger.events import Event
from kernel.ledger.ledger import Ledger, Projector
from kernel.outputs.tables import render, write_xlsx
from kernel.plugins import get_plugin_manager
from kernel.rules.load import load_rules
from kernel.rules.model import RuleSet
from kernel.storage.contract import Storage
from kernel.vocabulary import GRADES, NOTICE_KIND_WORDS


@dataclass
class DemoStats:
    """What the simulated year contains, counted from the ledger as of its last day."""

    enterprises: int = 0
    territories: int = 0
    departments: int = 0
    problems: int = 0
    input_events: int = 0
    ledger_events: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    contacts: int = 0
    missed_contacts: int = 0
    late_reports: int = 0
    overdue_resolutions: int = 0
    missed_progress: int = 0
    unsatisfied: int = 0
    reopened: int = 0
    returned: int = 0
    extended: int = 0
    extension_refused: int = 0
    suspended: int = 0
    ended_early: int = 0  # withdrawn, not accepted or merged
    callbacks: int = 0
    disputed: int = 0
    reported_upward: int = 0
    open_at_year_end: int = 0
    supervisions: int = 0
    notices: int = 0
    interviews: int = 0
    spot_checks: int = 0
    monthly_reports: int = 0
    late_monthly_reports: int = 0
    outbox: Counter[str] = field(default_factory=Counter)

    def grade_share(self, grade: str) -> float:
        """The share of graded problems with ``grade``."""
        total = sum(self.grades.values())
        return self.grades.get(grade, 0) / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = dict(self.__dict__)
        out["grades"] = {g: self.grades.get(g, 0) for g in GRADES}
        out["outbox"] = dict(sorted(self.outbox.items()))
        return out


def collect_stats(
    ruleset: RuleSet,
    projector: Projector,
    events: Sequence[Event],
    evaluator: ClockEvaluator,
    as_of: dt.date,
    *,
    input_events: int,
    outbox: Counter[str],
) -> DemoStats:
    """Count the year's enterprises, problems, grades, delays and escalations."""
    assert ruleset.deadlines is not None
    units = ruleset.reference.units.values()
    stats = DemoStats(
        enterprises=len(projector.enterprises),
        territories=sum(1 for u in units if u.kind == "territories"),
        departments=sum(1 for u in units if u.kind == "departments"),
        problems=len(projector.tickets),
        input_events=input_events,
        ledger_events=len(events),
        outbox=outbox,
    )
    for state in projector.tickets.values():
        if state.grade:
            stats.grades[state.grade] += 1
        stats.reopened += int(any(r.opened_by == "ticket.reopened" for r in state.rounds))
        stats.returned += int(bool(state.returns))
        stats.extended += int(bool(state.extensions))
        stats.ended_early += int(state.final and not state.closed)
        stats.unsatisfied += sum(1 for _, rating in state.ratings if rating == "不满意")
        stats.reported_upward += int(bool(state.route.get("report_upward")))
        stats.open_at_year_end += int(not state.final)
        for item in evaluator.evaluate(state, as_of).instances:
            if item.state != BREACHED:
                continue
            clock = item.clock
            if clock.monthly_report:
                stats.missed_progress += 1
            elif "ticket.collected" in clock.start:
                stats.late_reports += 1
            elif "ticket.resolved" in clock.stop and "ticket.dispatched" in clock.start:
                stats.overdue_resolutions += 1
    kinds = Counter(e.type for e in events)
    stats.contacts = kinds["contact.recorded"]
    stats.extension_refused = kinds["ticket.extension_refused"]
    stats.suspended = kinds["ticket.suspended"]
    stats.callbacks = kinds["ticket.callback_recorded"]
    stats.disputed = sum(
        1
        for e in events
        if e.type == "ticket.callback_recorded" and e.payload.get("resolution") == "有异议"
    )
    stats.supervisions = kinds["supervision.issued"]
    stats.notices = kinds["notice.published"]
    stats.interviews = kinds["interview.recommended"]
    stats.spot_checks = kinds["spot_check.defect"]
    months = [f"{as_of.year}-{m:02d}" for m in range(1, 13)]
    contacts = [e for e in events if e.type == "contact.recorded"]
    for duty in ruleset.deadlines.monthly:
        if duty.per == "enterprise":
            stats.missed_contacts += len(
                missed_contacts(duty, projector.enterprises.values(), contacts, months, as_of)
            )
        elif ruleset.calendar is not None:
            done = office_duties(duty, events, months, ruleset.calendar, as_of)
            stats.monthly_reports += sum(1 for d in done if d.done_on is not None)
            stats.late_monthly_reports += sum(1 for d in done if d.state == BREACHED)
    return stats


def outbox_counts(storage: Storage) -> Counter[str]:
    """Notices waiting in the outbox, by kind (one per notice, whatever the notifiers)."""
    seen: dict[str, str] = {}
    for delivery in storage.deliveries():
        seen[delivery.notice.notice_id] = delivery.notice.kind
    return Counter(seen.values())


# ------------------------------------------------------------------ files


def write_events(path: Path, events: Iterable[dict[str, Any]]) -> None:
    """One event per line, as ``huhang ingest`` reads them."""
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
    _write(path, text)


def write_outbox(path: Path, storage: Storage) -> int:
    """The outbox's notices as JSON lines (not marked as sent); returns how many."""
    seen: dict[str, dict[str, Any]] = {}
    for delivery in storage.deliveries():
        seen.setdefault(delivery.notice.notice_id, delivery.notice.to_dict())
    _write(
        path,
        "".join(
            json.dumps(n, ensure_ascii=False, separators=(",", ":")) + "\n" for n in seen.values()
        ),
    )
    return len(seen)


def write_config(path: Path, db: Path, notifier: str, notices: Path) -> None:
    """A huhang.yaml for the demo database, so ``huhang notify`` can deliver its outbox."""
    _write(
        path,
        "# 演示用配置：huhang notify --config " + str(path) + "\n"
        f"db: {json.dumps(str(db), ensure_ascii=False)}\n"
        "notifiers:\n"
        f"  - {{name: {notifier}, type: file, path: {json.dumps(str(notices), ensure_ascii=False)}}}\n",
    )


def write_ledger(
    path: Path, projector: Projector, evaluator: ClockEvaluator, as_of: dt.date
) -> int:
    """The 台账 as of ``as_of`` as an Excel workbook; returns its rows."""
    table = ledger_table(projector, evaluator, as_of)
    write_xlsx([table], path)
    return len(table.rows)


def write_monthly(
    folder: Path,
    year: int,
    ruleset: RuleSet,
    projector: Projector,
    events: list[Event],
    evaluator: ClockEvaluator,
) -> list[Report]:
    """Each month's 服务动态与问题办理通报 as Markdown; returns the reports."""
    folder.mkdir(parents=True, exist_ok=True)
    reports = []
    for month in range(1, 13):
        label = f"{year}-{month:02d}"
        report = monthly_report(label, ruleset, projector, events, evaluator)
        _write(folder / f"{label}.md", render_report(report, "md"))
        reports.append(report)
    return reports


def trends_of(reports: list[Report], projector: Projector, year: int) -> Trends:
    """Problems by grade and overdue items by unit, month by month, from the monthly reports."""
    months = tuple(str(r.data["month"]) for r in reports)
    by_grade = {
        g: tuple(
            sum(
                1
                for s in projector.tickets.values()
                if s.grade == g and s.collected_on.isoformat()[:7] == m
            )
            for m in months
        )
        for g in GRADES
    }
    overdue: dict[str, list[int]] = {}
    for index, report in enumerate(reports):
        for row in report.data.get("超期问题", []):
            for unit in row["units"]:
                if unit:
                    overdue.setdefault(unit, [0] * len(months))[index] += 1
    return Trends(
        f"汉中市 {year} 年问题与超期趋势",
        months,
        by_grade,
        {unit: tuple(counts) for unit, counts in overdue.items()},
    )


def write_assessment(
    folder: Path, assessment: Assessment, stem: str, titles: Mapping[str, str] | None = None
) -> list[Path]:
    """The ranking as Markdown, Excel (总表, 扣分明细, 指标明细) and JSON."""
    report = assessment_report(assessment, titles)
    paths = [folder / f"{stem}.md", folder / f"{stem}.xlsx", folder / f"{stem}.json"]
    for path, fmt in zip(paths, ("md", "xlsx", "json"), strict=True):
        emit_report(report, fmt, path)
    return paths


def closure_grid(tallies: Tallies, territories: Sequence[str], year: int) -> ClosureGrid:
    """Each territory's resolution clocks due and met on time, per month (the S-CLOSURE facts)."""
    months = tuple(f"{year}-{m:02d}" for m in range(1, 13))
    on_time = []
    due = []
    for unit in territories:
        row = [tallies.get((unit, m)) for m in months]
        on_time.append(tuple(t.on_time if t else 0 for t in row))
        due.append(tuple(t.due if t else 0 for t in row))
    return ClosureGrid(
        title=f"汉中市 {year} 年各县区问题按期办结率（按月）",
        units=tuple(territories),
        months=months,
        on_time=tuple(on_time),
        due=tuple(due),
    )


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"无法写入 {path}：{exc.strerror}") from exc


# ------------------------------------------------------------------ the printed summary


def ranking_tables(assessment: Assessment, top: int = 10, bottom: int = 5) -> str:
    """The head and the tail of the ranking, as terminal tables."""
    table = assessment_report(assessment).tables()[0]
    rows = table.rows
    if len(rows) <= top + bottom:
        return render(table, "text")
    head = replace(table, title=f"{table.title}（前 {top} 名）", rows=rows[:top])
    tail = replace(table, title=f"（后 {bottom} 名）", rows=rows[-bottom:])
    return render(head, "text") + "\n\n" + render(tail, "text")


def summary_lines(stats: DemoStats, seed: int, year: int) -> list[str]:
    """What was simulated, in a few Chinese lines."""
    grades = "、".join(
        f"{g} 级 {stats.grades.get(g, 0):,} 个（{stats.grade_share(g):.0%}）" for g in GRADES
    )
    outbox = (
        "、".join(f"{NOTICE_KIND_WORDS.get(k, k)} {n:,}" for k, n in stats.outbox.items()) or "无"
    )
    return [
        f"模拟完成：汉中市 {year} 年（随机种子 {seed}），县区 {stats.territories} 个、市级部门 "
        f"{stats.departments} 个（取自 units.yaml），包抓企业 {stats.enterprises:,} 户。",
        f"问题 {stats.problems:,} 个：{grades}；报领导小组 {stats.reported_upward:,} 个。",
        f"走访联系 {stats.contacts:,} 次，未按月联系 {stats.missed_contacts:,} 户·月；"
        f"逾期上报 {stats.late_reports:,} 件，超期办结 {stats.overdue_resolutions:,} 件，"
        f"D 级未按月报告进展 {stats.missed_progress:,} 次；",
        f"评价不满意 {stats.unsatisfied:,} 次，重新办理 {stats.reopened:,} 件；年末未办结 "
        f"{stats.open_at_year_end:,} 件；台账抽查问题 {stats.spot_checks:,} 处；月度通报 "
        f"{stats.monthly_reports} 期（逾期 {stats.late_monthly_reports} 期）。",
        f"退回后重新交办 {stats.returned:,} 件，批准延期 {stats.extended:,} 件、不予批准 "
        f"{stats.extension_refused:,} 次，挂起 {stats.suspended:,} 次，撤回、不予受理或合并 "
        f"{stats.ended_early:,} 件；电话回访 {stats.callbacks:,} 次（有异议 {stats.disputed:,} 次）。",
        f"时限巡查每日运行：督办 {stats.supervisions:,} 次、通报 {stats.notices:,} 次、约谈建议 "
        f"{stats.interviews:,} 次；发件箱通知 {sum(stats.outbox.values()):,} 条（{outbox}）。",
        f"台账事件共 {stats.ledger_events:,} 条（其中导入 {stats.input_events:,} 条，其余为规则分级与"
        "时限巡查生成）。",
    ]


# ------------------------------------------------------------------ the run

DB_FILES = ("huhang.db", "huhang.db-wal", "huhang.db-shm", "huhang.db.lock")
#: marks a folder the demo made, so a rerun may recreate its database and nothing else's
MARKER = ".huhang-demo"


def _prepare(out_dir: Path) -> None:
    """Create ``out_dir``, or empty the demo database of an earlier run; never another ledger."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        if (out_dir / "huhang.db").exists() and not (out_dir / MARKER).exists():
            raise InputError(
                f"{out_dir} 中已有 huhang.db，且不是演示生成的；为免覆盖真实台账，请用 --out 指定其他目录"
            )
        for name in DB_FILES:
            (out_dir / name).unlink(missing_ok=True)
        (out_dir / MARKER).write_text("huhang demo\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"无法使用输出目录 {out_dir}：{exc.strerror}") from exc


@dataclass
class DemoResult:
    """What one demo run produced."""

    out_dir: Path
    seed: int
    year: int
    stats: DemoStats
    assessment: Assessment
    #: every file written, with what it is
    files: list[tuple[Path, str]] = field(default_factory=list)
    #: seconds per step
    timings: dict[str, float] = field(default_factory=dict)
    #: what went wrong (rejected events, sweep errors, the chart); empty on success
    problems: list[str] = field(default_factory=list)
    font: Path | None = None
    #: the county level (``--level``), when simulated
    county: CountyDemo | None = None

    @property
    def exit_code(self) -> int:
        """0 when everything was produced, 2 otherwise (as the other commands)."""
        return 2 if self.problems else 0


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return action()
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started


def run_demo(
    seed: int = DEFAULT_SEED,
    out_dir: Path = DEFAULT_OUT,
    rules_dir: Path | None = None,
    *,
    enterprises: int = DEFAULT_ENTERPRISES,
    problems: int = DEFAULT_PROBLEMS,
    config: Config | None = None,
    progress: bool = True,
    chart: bool = True,
    level_dir: Path | None = None,
) -> DemoResult:
    """Simulate the year into ``out_dir/huhang.db`` and write every output file there.

    The database is recreated; the other files are overwritten. ``config`` supplies the rule
    folder (unless ``rules_dir``), the blocked plugins and the local plugin folder; its ``db``
    and notifiers are not used. Raises :class:`kernel.errors.InputError` for bad rules or an
    unwritable folder; a missing chart dependency is reported in ``problems``.
    """
    timer = _Timer()
    config = config or Config()
    _prepare(out_dir)
    ruleset = timer.step("准备", lambda: load_rules(rules_dir or config.rules))
    assert ruleset.deadlines is not None and ruleset.scoring is not None
    plugins = get_plugin_manager(block=config.block, local_dir=config.plugin_dir)
    calendar = plugins.calendar(ruleset.home("calendar"))
    db = out_dir / "huhang.db"
    storage = plugins.open_storage(str(db))
    ledger = Ledger(
        storage,
        ruleset.reference,
        plugins=plugins,
        notifiers=[NOTIFIER],
        guard=step_guard(ruleset, calendar),
    )
    files: list[tuple[Path, str]] = []
    found: list[str] = []
    try:
        sim: Simulation = timer.step(
            "模拟（导入、分级、每日巡查）",
            lambda: simulate(
                ledger,
                ruleset,
                calendar,
                seed=seed,
                enterprises=enterprises,
                problems=problems,
                progress_label="模拟" if progress else None,
            ),
        )
        found += [f"事件被拒绝：{r}" for r in sim.ingest.rejected]
        found += [f"时限巡查出错：{e}" for e in sim.sweeps.errors]
        year = sim.year
        as_of = dt.date(year, 12, 31)
        projector, events, evaluator = sim.projector, sim.stored, sim.evaluator
        county: CountyDemo | None = None
        if level_dir is not None:  # a county over the city: problems referred up and answered
            county = timer.step(
                "县区层级",
                lambda: simulate_county(
                    level_dir, ledger, ruleset, out_dir, plugins, seed=seed, year=year
                ),
            )
            found += [f"联动核对：{f.ticket}：{f.message}" for f in county.findings]
            events, projector = list(ledger.events()), ledger.project()
        files.append((db, "台账数据库（SQLite），可用 huhang report / ledger / impact 继续查询"))

        path = out_dir / "events.jsonl"
        timer.step("事件与发件箱文件", lambda: write_events(path, sim.events))
        files.append(
            (path, f"导入的事件（{len(sim.events):,} 条，可用 huhang ingest --grade 重放）")
        )
        path = out_dir / "outbox.jsonl"
        count = timer.step("事件与发件箱文件", lambda: write_outbox(path, storage))
        files.append((path, f"发件箱中的通知（{count:,} 条，预警、督办、通报、约谈）"))
        path = out_dir / "huhang.yaml"
        write_config(path, db, NOTIFIER, out_dir / "notices.jsonl")
        files.append((path, "演示配置：huhang notify --config 用它把发件箱通知写入 notices.jsonl"))

        path = out_dir / f"ledger-{year}.xlsx"
        rows = timer.step("台账 xlsx", lambda: write_ledger(path, projector, evaluator, as_of))
        files.append((path, f"问题台账（截至 {as_of}，{rows:,} 行）"))

        folder = out_dir / "monthly"
        monthly = timer.step(
            "月度通报 md",
            lambda: write_monthly(folder, year, ruleset, projector, events, evaluator),
        )
        files.append((folder, f"月度服务动态与问题办理通报（{len(monthly)} 个 Markdown 文件）"))

        collector = FactCollector(ruleset.scoring, ruleset.deadlines, calendar, ruleset.reference)
        assessment: Assessment = timer.step(
            "年度考核", lambda: assess(collector, projector, events, str(year))
        )
        stem = f"assessment-{year}"
        paths = timer.step(
            "年度考核",
            lambda: write_assessment(out_dir, assessment, stem, clock_titles(ruleset.deadlines)),
        )
        files += [
            (paths[0], "年度考核排名（Markdown）"),
            (paths[1], "年度考核（Excel：总表、扣分明细、指标明细）"),
            (paths[2], "年度考核明细（JSON：各单位指标、扣分及依据）"),
        ]
        if county is not None and county.assessment is not None:
            name, code = county.level.name, county.level.code
            files.append((county.db, f"{name}的台账数据库（SQLite）"))
            county_assessment = county.assessment
            paths = write_assessment(
                out_dir,
                county_assessment,
                f"assessment-{code}-{year}",
                clock_titles(county.ruleset.deadlines),
            )
            files.append((paths[0], f"{name}年度考核排名（Markdown，本级单位）"))

        font = None
        if chart:
            path = out_dir / f"closure-rate-{year}.png"
            territories = [
                u.id for u in ruleset.reference.units.values() if u.kind == "territories"
            ]

            def draw() -> Path:
                tallies = collector.tallies(projector, events, as_of)
                grid = closure_grid(tallies, territories, year)
                note = "按期办结率 = 当月到期的办结时限中按时办结的比例；灰色“—”表示当月无到期事项"
                return draw_closure_chart(grid, path, subtitle=note)

            try:
                font = timer.step("图表 png", draw)
                files.append((path, f"各县区月度按期办结率图，含按期/到期件数（字体 {font.name}）"))
                trend_path = out_dir / f"trends-{year}.png"
                timer.step(
                    "图表 png",
                    lambda: draw_trend_chart(trends_of(monthly, projector, year), trend_path),
                )
                files.append((trend_path, "各等级问题数与各单位月末超期事项数的月度趋势图"))
            except ChartError as exc:
                found.append(f"图表未生成：{exc}")

        stats = timer.step(
            "统计",
            lambda: collect_stats(
                ruleset,
                projector,
                events,
                evaluator,
                as_of,
                input_events=len(sim.events),
                outbox=outbox_counts(storage),
            ),
        )
    finally:
        storage.close()
    return DemoResult(
        out_dir=out_dir,
        seed=seed,
        year=year,
        stats=stats,
        assessment=assessment,
        files=files,
        timings=timer.timings,
        problems=found,
        font=font,
        county=county,
    )


def county_lines(county: CountyDemo, out: Path, year: int) -> list[str]:
    """The county level's figures and ranking (分层分级、上下联动)."""
    name, code = county.level.name, county.level.code
    assert county.assessment is not None
    return [
        f"【{name}】{county.problems} 个问题，报市级协调 {county.referred} 个"
        f"（市级办结 {county.resolved_above} 个、退回 {county.declined_above} 个），"
        f"两级台账联动核对不一致 {len(county.findings)} 项。",
        "",
        ranking_tables(county.assessment, top=5, bottom=3),
        "",
        f"{name}完整排名见 {out / f'assessment-{code}-{year}.md'}；"
        f"huhang level check --rules <{name}规则目录> --db {county.db} --upper-db {out / 'huhang.db'}",
    ]


def render_summary(result: DemoResult) -> str:
    """What the demo prints when it is done: figures, ranking, files and next commands."""
    out = result.out_dir
    year = result.year
    db = out / "huhang.db"
    lines = summary_lines(result.stats, result.seed, year)
    lines += ["", ranking_tables(result.assessment), ""]
    lines.append(f"完整排名见 {out / f'assessment-{year}.md'}。")
    if result.county is not None and result.county.assessment is not None:
        lines += ["", *county_lines(result.county, out, year)]
    lines += ["", "已写入的文件："]
    width = max((len(str(p)) for p, _ in result.files), default=0)
    lines += [f"  {str(p).ljust(width)}  {what}" for p, what in result.files]
    lines += [
        "",
        "接下来可以试试：",
        f"  huhang report assessment --year {year} --db {db}",
        f"  huhang report unit 汉台区 --year {year} --db {db}",
        f"  huhang report monthly --month {year}-06 --db {db}",
        f"  huhang ledger --db {db} --as-of {year}-12-31",
        f"  huhang impact --candidate my-rules --db {db}",
        "",
        "用时："
        + "，".join(f"{name} {seconds:.1f} 秒" for name, seconds in result.timings.items())
        + f"；合计 {sum(result.timings.values()):.1f} 秒。",
    ]
    if result.problems:
        lines.append("")
        lines += [f"错误：{p}" for p in result.problems]
    return "\n".join(lines)
