"""The office's routine: ``sweep`` (deadline escalations) and ``notify`` (send the outbox)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any

from kernel.cli import args as a
from kernel.cli.clock import now, today
from kernel.cli.context import open_context
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_INPUT, EXIT_OK, EXIT_UNDECIDED
from kernel.errors import InputError


def register(sub: Any) -> None:
    """``sweep`` and ``notify``."""
    p = sub.add_parser("sweep", help="时限巡查：生成预警、督办、通报、约谈通知（可重复运行）")
    a.add_as_of(p, "巡查日期")
    p.add_argument(
        "--shard",
        type=a.shard_arg,
        default=None,
        metavar="K/N",
        help="多个进程分工：本进程处理第 K 份（共 N 份）",
    )
    p.add_argument(
        "--wait",
        type=_seconds_arg,
        default=None,
        metavar="SECONDS",
        help="PostgreSQL 台账：等待其他进程占用的办理单多少秒（默认一个租约，60 秒）；"
        "进程中途退出时，其办理单在租约到期后由本进程接手；仍未巡查完时以代码 1 退出",
    )
    a.add_store(p)
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser(
        "notify", help="发送通知发件箱中到期的全部通知（显示进度，最后报告剩余多少）"
    )
    p.add_argument("--retry", action="store_true", help="同时重发已放弃（failed）的通知")
    p.add_argument(
        "--limit",
        type=a.positive_arg,
        default=None,
        metavar="N",
        help="本次最多发送 N 条（默认发完为止）",
    )
    a.add_store(p)
    p.set_defaults(handler=cmd_notify)


def _seconds_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是整数（秒数）") from None
    if not 0 <= value <= 86_400:
        raise argparse.ArgumentTypeError("秒数应在 0 到 86400 之间")
    return value


def cmd_sweep(args: argparse.Namespace) -> int:
    """Warnings, 督办, 通报 and 约谈 as of a day, into the ledger and the outbox."""
    from kernel.calendar.provisional import calendar_reminders
    from kernel.cli.rules import print_reminders
    from kernel.clocks.compute import ClockEvaluator
    from kernel.clocks.sweep import sweep, sweep_claimed

    ctx = open_context(args)
    try:
        assert ctx.ruleset.deadlines is not None
        evaluator = ClockEvaluator(ctx.ruleset.deadlines, ctx.calendar())
        as_of = args.as_of or today()
        official = ctx.plugins.calendar(ctx.ruleset.home("calendar"))
        reminders = calendar_reminders(official, as_of, ctx.config.missing_year)
        if args.shard is None and hasattr(ctx.ledger.storage, "claim_tickets"):
            worker = _worker_name()
            result = sweep_claimed(ctx.ledger, evaluator, as_of, worker, wait=args.wait)
        else:
            result = sweep(ctx.ledger, evaluator, as_of, shard=args.shard)
    finally:
        ctx.close()
    print(result.summary())
    for error in result.errors:
        print(f"  {error}", file=sys.stderr)
    for held in result.pending:
        print(f"  未巡查：{held}", file=sys.stderr)
    print_reminders(reminders)
    if result.errors:
        return EXIT_INPUT
    if result.incomplete:
        return EXIT_INCOMPLETE
    return EXIT_UNDECIDED if result.undecided else EXIT_OK


def cmd_notify(args: argparse.Namespace) -> int:
    """Send every due notice of the outbox (or ``--limit`` of them); say how many remain.

    On a storage that hands out claims (PostgreSQL), several ``notify`` runners share the work:
    each batch is claimed by one of them.
    """
    from kernel.config import load_config
    from kernel.notify.outbox import deliver, pending_counts
    from kernel.outputs.progress import Progress

    if not load_config(getattr(args, "config", None)).notifiers:  # before any ledger is opened
        raise InputError("配置文件中没有 notifiers，无法发送通知（见文档“通知”一页）")
    ctx = open_context(args)
    try:
        notifiers = {
            str(entry["name"]): ctx.plugins.notifier(
                str(entry["type"]),
                str(entry["name"]),
                {k: v for k, v in entry.items() if k not in ("name", "type")},
            )
            for entry in ctx.config.notifiers
        }
        if not notifiers:
            raise InputError(
                "配置文件中没有 notifiers，无法发送通知（配置方法见文档 docs/operations/notifications.md）"
            )
        storage = ctx.ledger.storage
        at = now().astimezone(dt.UTC)
        due, _ = pending_counts(storage, at)
        total = due if args.limit is None else min(due, args.limit)
        progress = Progress(total, "发送通知")
        try:
            report = deliver(
                storage,
                notifiers,
                now=at,
                retry_failed=args.retry,
                limit=args.limit,
                worker=_worker_name(),
                progress=progress,
            )
        finally:
            progress.close()
        left, waiting = pending_counts(storage, at)
    finally:
        ctx.close()
    print(report.summary())
    print(remaining_text(left, waiting, limited=args.limit is not None))
    for outcome in report.errors:
        print(f"  {outcome.notice_id} → {outcome.notifier}：{outcome.error}", file=sys.stderr)
    return EXIT_INCOMPLETE if report.failed else EXIT_OK


def remaining_text(due: int, waiting: int, *, limited: bool) -> str:
    """What is left in the outbox after a run, in one Chinese line."""
    if not due and not waiting:
        return "发件箱中已没有待发送的通知。"
    parts = []
    if due:
        how = (
            "再次运行 huhang notify 继续发送"
            if limited
            else "其通知方式未配置、本轮超时，或正由其他进程发送"
        )
        parts.append(f"还有 {due:,} 条到期待发送（{how}）")
    if waiting:
        parts.append(f"{waiting:,} 条发送失败、等待重试时间")
    return "；".join(parts) + "。"


def _worker_name() -> str:
    """``host:pid``, naming this process in claimed work (socket is imported only here)."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
