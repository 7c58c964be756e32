"""``huhang demo``: a simulated year of 汉中's programme, through the real kernel."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernel.cli import args as a
from kernel.demo import DEFAULT_ENTERPRISES, DEFAULT_OUT, DEFAULT_PROBLEMS, DEFAULT_SEED, YEAR

#: the largest simulation the demo builds (memory and time stay bounded)
MAX_ENTERPRISES = 50_000
MAX_PROBLEMS = 500_000


def _at_most(limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = a.positive_arg(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"'{text}' 过大（上限 {limit:,}）")
        return value

    return parse


def register(sub: Any) -> None:
    """``demo``."""
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
        "--enterprises",
        type=_at_most(MAX_ENTERPRISES),
        default=DEFAULT_ENTERPRISES,
        metavar="N",
        help="企业数",
    )
    p.add_argument(
        "--problems",
        type=_at_most(MAX_PROBLEMS),
        default=DEFAULT_PROBLEMS,
        metavar="N",
        help="问题数",
    )
    p.add_argument(
        "--config", type=Path, default=None, metavar="FILE", help="配置文件（只用其插件设置）"
    )
    p.add_argument(
        "--level",
        type=Path,
        default=None,
        metavar="DIR",
        help="再模拟一个县区层级（如 examples/levels/hantai）：问题报市级协调、结果回传，两级考核",
    )
    a.add_rules(p)
    p.set_defaults(handler=cmd_demo)


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
        level_dir=args.level,
    )
    text = render_summary(result)
    print(text)
    if result.problems:
        sys.stdout.flush()
        print(f"错误：演示有 {len(result.problems)} 个问题（见上）", file=sys.stderr)
    return result.exit_code
