"""``huhang demo``: a synthetic year of 汉中's programme, run through the real kernel.

It generates about 300 enterprises (valid 统一社会信用代码, "四个一" assignments) in the
territories of ``units.yaml`` and a year of contacts and about 1,500 problems, ingests the
events into a SQLite ledger day by day through the ingest path (the rules grade every reported
ticket), runs the deadline sweep every day (warnings, 督办, 通报, 约谈 into the outbox), and
writes the 台账, the monthly reports, the annual assessment and a chart of closure rates.

Modules: :mod:`kernel.demo.generate` (the world and the day-by-day simulation),
:mod:`kernel.demo.outputs` (``run_demo``, the files and the summary), :mod:`kernel.demo.chart`
(the PNG). This module holds only the command line, so that building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

YEAR = 2026
DEFAULT_SEED = 2026
DEFAULT_ENTERPRISES = 300
DEFAULT_PROBLEMS = 1500
DEFAULT_OUT = Path("demo-out")


# ------------------------------------------------------------------ command line


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是整数") from None
    if value < 1:
        raise argparse.ArgumentTypeError("数量至少为 1")
    return value


def add_parser(sub: Any, rules_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``huhang demo`` on the main parser's subcommands."""
    p = sub.add_parser(
        "demo", help="生成一年的模拟数据，导入台账并每日巡查，输出台账、月报、考核与图表"
    )
    p.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"随机种子（默认 {DEFAULT_SEED}）"
    )
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"输出目录（默认 {DEFAULT_OUT}；其中的 huhang.db 会重建）",
    )
    p.add_argument(
        "--enterprises", type=_positive, default=DEFAULT_ENTERPRISES, metavar="N", help="企业数"
    )
    p.add_argument(
        "--problems", type=_positive, default=DEFAULT_PROBLEMS, metavar="N", help="问题数"
    )
    p.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="配置文件（只用其插件设置）"
    )
    rules_arg(p)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo and print its summary; exit code 2 when something could not be produced."""
    from kernel.config import load_config
    from kernel.demo.outputs import render_summary, run_demo

    config = load_config(args.config)
    print(
        f"护航演示：模拟汉中市 {YEAR} 年（{args.enterprises:,} 户企业、{args.problems:,} 个问题，"
        f"随机种子 {args.seed}），输出到 {args.out}/ …",
        flush=True,
    )
    result = run_demo(
        args.seed,
        args.out,
        args.rules,
        enterprises=args.enterprises,
        problems=args.problems,
        config=config,
    )
    text = render_summary(result)
    print(text)
    if result.problems:
        sys.stdout.flush()
        print(f"错误：演示有 {len(result.problems)} 个问题（见上）", file=sys.stderr)
    return result.exit_code
