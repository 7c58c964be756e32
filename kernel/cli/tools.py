"""Tools for policy staff and testers: ``test`` (scenarios with coverage) and ``impact``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.cli import args as a
from kernel.cli.context import open_plugins
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_INPUT, EXIT_OK
from kernel.errors import InputError, ProblemsError

if TYPE_CHECKING:
    from kernel.ledger.events import Event
    from kernel.rules.reference import Reference
    from kernel.tools.scenarios import ScenarioResult

DEFAULT_SCENARIOS = Path("tests") / "scenarios"
IMPACT_FORMATS = ("text", "md", "json", "xlsx", "csv")


def register(sub: Any) -> None:
    """``test`` and ``impact``."""
    p = sub.add_parser("test", help="运行测试场景（事件时间线 + 预期结果），并统计规则覆盖率")
    p.add_argument(
        "paths", nargs="*", type=Path, metavar="PATH", help="场景文件或目录（默认 tests/scenarios）"
    )
    a.add_rules(p)
    p.add_argument("--coverage", action="store_true", help="列出每条规则是否被触发")
    p.add_argument(
        "--fail-under", type=float, default=None, metavar="PCT", help="覆盖率低于该百分比时失败"
    )
    a.add_format(p)
    p.set_defaults(handler=cmd_test)

    p = sub.add_parser("impact", help="规则修改影响分析：在现行和拟修改规则下重放台账并比较")
    p.add_argument("--candidate", type=Path, required=True, metavar="DIR", help="拟修改的规则目录")
    p.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="DIR",
        help="现行规则目录（默认项目的 rules/）",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--events", default=None, metavar="FILE", help="事件文件（.jsonl、.yaml 或 .json）"
    )
    source.add_argument("--db", default=None, metavar="URL", help="台账存储")
    p.add_argument(
        "--as-of",
        type=a.date_arg,
        default=None,
        metavar="DATE",
        help="比较日期（默认最后一个事件的日期）",
    )
    a.add_format(p, IMPACT_FORMATS)
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="写入文件（xlsx 必须指定；csv 写入文件夹或 .zip）",
    )
    a.add_config(p)
    p.set_defaults(handler=cmd_impact)


def _load_events(args: argparse.Namespace, reference: Reference) -> list[Event]:
    from kernel.ledger.history import read_events

    if args.db:
        _, host = open_plugins(args)
        store, _ = host.open_store(args.db, create=False)
        with store:
            return list(store.events())
    return read_events(args.events, reference)


def cmd_impact(args: argparse.Namespace) -> int:
    """Replay the ledger under the current and the candidate rules; report what changes."""
    from kernel.assessment.reports import emit_report
    from kernel.rules.load import default_rules_dir, display_path, load_rules
    from kernel.tools.impact import compare, impact_report, replay
    from kernel.tools.rulediff import rule_changes

    baseline_dir = args.baseline or default_rules_dir()
    baseline = load_rules(baseline_dir)
    candidate = load_rules(args.candidate)
    events = _load_events(args, baseline.reference)
    if not events:
        raise InputError("没有事件可以重放")
    as_of = args.as_of or max(e.date for e in events)
    impact = compare(replay(events, baseline, as_of), replay(events, candidate, as_of))
    impact.rule_changes = rule_changes(Path(baseline_dir), args.candidate)
    report = impact_report(
        impact,
        baseline=display_path(Path(baseline_dir)),
        candidate=display_path(args.candidate),
    )
    text = emit_report(report, args.format, args.output)
    if text is not None:
        print(text)
    else:
        print(f"已写入 {args.output}")
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    """Run scenario files and report rule coverage."""
    from tabulate import tabulate

    from kernel.tools.coverage import coverage_of
    from kernel.tools.scenarios import ScenarioInvalid, find_scenarios, run_scenario

    paths = args.paths or [DEFAULT_SCENARIOS]
    files = find_scenarios(paths)
    results: list[ScenarioResult] = []
    invalid: list[ProblemsError] = []
    for path in files:
        try:
            results.append(run_scenario(path, args.rules))
        except ScenarioInvalid as exc:
            invalid.append(exc)
    fired, never = coverage_of(results)
    total = len(fired) + len(never)
    percent = 100.0 * len(fired) / total if total else 100.0
    failed = [r for r in results if not r.passed]
    under = args.fail_under is not None and percent + 1e-9 < args.fail_under
    if args.format == "json":
        print(
            json.dumps(
                {
                    "scenarios": [
                        {
                            "path": r.path,
                            "note": r.note,
                            "passed": r.passed,
                            "checks": r.checks,
                            "mismatches": [m.__dict__ for m in r.mismatches],
                        }
                        for r in results
                    ],
                    "invalid": [[p.as_dict() for p in exc.problems] for exc in invalid],
                    "coverage": {"percent": round(percent, 1), "fired": fired, "never": never},
                },
                ensure_ascii=False,
                indent=2,
                default=str,
            )
        )
    else:
        rows = [(r.path, r.note, "通过" if r.passed else "失败", r.checks) for r in results]
        print(tabulate(rows, headers=("场景", "说明", "结果", "检查项")))
        for result in failed:
            print(f"\n失败：{result.path}（{result.note}）")
            for mismatch in result.mismatches:
                print(f"  {mismatch}")
        print(
            f"\n合计：{len(results)} 个场景，{len(results) - len(failed)} 个通过，{len(failed)} 个失败"
        )
        print(f"规则覆盖率：{len(fired)}/{total}（{percent:.1f}%）")
        if args.coverage:
            print(
                tabulate(
                    [(rule, "✓" if rule in fired else "✗") for rule in sorted(fired + never)],
                    headers=("规则", "触发"),
                )
            )
        if never:
            print("未触发的规则：" + "、".join(never))
        if under:
            print(f"覆盖率 {percent:.1f}% 低于要求的 {args.fail_under:g}%")
    for error in invalid:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"错误：{error.summary}", file=sys.stderr)
    if invalid:
        return EXIT_INPUT
    return EXIT_INCOMPLETE if failed or under else EXIT_OK
