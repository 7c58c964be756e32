"""Levels (分层分级、上下联动): ``rules show`` and ``level up|down|sync|check``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kernel.cli import args as a
from kernel.cli.clock import today
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_OK
from kernel.errors import InputError

if TYPE_CHECKING:
    from kernel.cli.context import Context
    from kernel.ledger.ledger import Ledger
    from kernel.linkage.links import LinkReport
    from kernel.rules.model import RuleSet


def register(sub: Any) -> None:
    """``rules show`` and ``level up``, ``down``, ``sync``, ``check``."""
    p = sub.add_parser("rules", help="查看规则目录（县区目录可显示与上级合并后的规则）")
    rules_sub = p.add_subparsers(dest="rules_command", metavar="COMMAND")
    rules_sub.required = True
    q = rules_sub.add_parser("show", help="列出规则、时限、扣分项和单位，以及各自所在的层级和位置")
    q.add_argument(
        "--resolved", action="store_true", help="显示与上级合并后的全部内容（默认只显示本级写的）"
    )
    a.add_rules(q)
    a.add_config(q)
    a.add_format(q, ("text", "json", "csv"))
    q.set_defaults(handler=cmd_rules_show)

    p = sub.add_parser("level", help="上下联动：把报上级的问题送到上级台账，把上级的答复带回本级")
    level_sub = p.add_subparsers(dest="level_command", metavar="COMMAND")
    level_sub.required = True
    helps = {
        "up": (
            "把本级报上级的问题送到上级台账（按上级规则分级），把上级交办问题的办结报上级",
            cmd_up,
        ),
        "down": ("把上级的办结或退回带回本级台账，把上级交办本级的问题送到本级台账", cmd_down),
        "sync": ("先 up 再 down", cmd_sync),
        "check": ("双向核对两级台账的联动记录；有不一致时以代码 1 退出", cmd_check),
    }
    for name, (text, handler) in helps.items():
        q = level_sub.add_parser(name, help=text)
        a.add_store(q)
        q.add_argument(
            "--upper-db", required=True, metavar="URL", help="上级台账存储（如市级的 SQLite 文件）"
        )
        a.add_as_of(q, "联动截止日期")
        q.set_defaults(handler=handler)


def cmd_rules_show(args: argparse.Namespace) -> int:
    """The rules, clocks, deductions and units in force, each with its level and place."""
    from kernel.config import load_config
    from kernel.outputs.tables import Table, render
    from kernel.rules.load import load_rules
    from kernel.rules.resolved import LayeredDoc, resolved_items
    from kernel.vocabulary import LEVEL_WORDS as W

    ruleset = load_rules(args.rules or load_config(args.config).rules)
    own = ruleset.level.name if ruleset.level is not None else ""
    rows = []
    for key in sorted(ruleset.sources):
        doc = ruleset.sources[key]
        replaced = doc.replaced if isinstance(doc, LayeredDoc) else {}
        for listed, ident, title, level, where in resolved_items(doc):
            level = level or own
            if args.resolved or level == own:
                upper = replaced.get(ident)
                note = f"替换{upper[1]} {upper[0]}" if upper and level != upper[1] else ""
                rows.append((f"{key}.{listed}", ident, title, level, where, note))
    chain = " → ".join(f"{lv.name}（{lv.code}）" for lv in ruleset.levels)
    table = Table.of(
        f"{W['chain']}：{chain}",
        [(k, W[k]) for k in ("list", "id", "title", "level", "where", "replaces")],
        rows,
    )
    print(render(table, args.format))
    return EXIT_OK


class _Linked:
    """The lower level's context and the upper level's ledger and rules."""

    def __init__(self, args: argparse.Namespace, *, create: bool) -> None:
        from kernel.cli.context import open_context
        from kernel.ledger.ledger import Ledger
        from kernel.rules.load import load_rules

        self.lower: Context = open_context(args)
        level = self.lower.ruleset.level
        if level is None or len(self.lower.ruleset.levels) < 2:
            self.lower.close()
            raise InputError(
                "规则目录没有上级（没有 level.yaml），不能上下联动；请用 --rules 指定本级目录"
            )
        try:
            self.upper_rules: RuleSet = load_rules(self.lower.ruleset.levels[-2].directory)
            storage, _ = self.lower.plugins.open_store(args.upper_db, create=create)
        except BaseException:
            self.lower.close()
            raise
        self.upper: Ledger = Ledger(storage, self.upper_rules.reference, plugins=self.lower.plugins)
        self.as_of = args.as_of or today()

    def close(self) -> None:
        self.upper.storage.close()
        self.lower.close()


def _print(report: LinkReport) -> None:
    from kernel.vocabulary import LEVEL_WORDS as W

    if report.dispatched_down:
        shown = "、".join(report.dispatched_down)
        print(f"{W['dispatched_down']} {len(report.dispatched_down)} 件：{shown}")
    if report.resolved_up:
        print(f"{W['resolved_up']} {len(report.resolved_up)} 件：{'、'.join(report.resolved_up)}")
    if report.carried_up:
        print(f"{W['carried_up']} {len(report.carried_up)} 件：{'、'.join(report.carried_up)}")
    if report.carried_down:
        print(
            f"{W['carried_down']} {len(report.carried_down)} 件：{'、'.join(report.carried_down)}"
        )
    if report.waiting:
        print(f"{W['waiting']} {len(report.waiting)} 件：{'、'.join(report.waiting)}")
    print(f"已联动过、无变化 {report.unchanged} 件")


def _merged(first: LinkReport, second: LinkReport) -> LinkReport:
    from kernel.linkage.links import LinkReport

    return LinkReport(
        carried_up=first.carried_up + second.carried_up,
        carried_down=first.carried_down + second.carried_down,
        unchanged=first.unchanged + second.unchanged,
        waiting=first.waiting + second.waiting,
        dispatched_down=first.dispatched_down + second.dispatched_down,
        resolved_up=first.resolved_up + second.resolved_up,
    )


def _up(linked: _Linked) -> LinkReport:
    """Referrals up, and resolutions of what the upper level dispatched down."""
    from kernel.evaluation.kernel import Kernel
    from kernel.linkage.links import carry_resolved_up, carry_up

    lower, level = linked.lower.ledger, linked.lower.ruleset.level
    kernel = Kernel(linked.upper_rules)
    try:
        sent = carry_up(lower, level, linked.upper, kernel, linked.as_of)
    finally:
        kernel.close()
    return _merged(sent, carry_resolved_up(lower, level, linked.upper, linked.as_of))


def _down(linked: _Linked) -> LinkReport:
    """Answers to referrals down, and what the upper level dispatched to this level."""
    from kernel.evaluation.kernel import Kernel
    from kernel.linkage.links import carry_dispatched_down, carry_down

    lower, level = linked.lower.ledger, linked.lower.ruleset.level
    answers = carry_down(lower, level, linked.upper, linked.as_of)
    kernel = Kernel(linked.lower.ruleset)
    try:
        sent = carry_dispatched_down(lower, level, linked.upper, kernel, linked.as_of)
    finally:
        kernel.close()
    return _merged(answers, sent)


def cmd_up(args: argparse.Namespace) -> int:
    """Carry referred problems to the upper ledger."""
    linked = _Linked(args, create=True)
    try:
        _print(_up(linked))
    finally:
        linked.close()
    return EXIT_OK


def cmd_down(args: argparse.Namespace) -> int:
    """Carry the upper level's answers back."""
    linked = _Linked(args, create=False)
    try:
        _print(_down(linked))
    finally:
        linked.close()
    return EXIT_OK


def cmd_sync(args: argparse.Namespace) -> int:
    """Up, then down."""
    linked = _Linked(args, create=True)
    try:
        _print(_up(linked))
        _print(_down(linked))
    finally:
        linked.close()
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Compare both ledgers; exit 1 when they disagree."""
    from kernel.linkage.links import check_links, link_summary

    linked = _Linked(args, create=False)
    try:
        level = linked.lower.ruleset.level
        findings = check_links(linked.lower.ledger, level, linked.upper)
        summary = link_summary(linked.lower.ledger, level, linked.upper)
        upper_name = linked.lower.ruleset.levels[-2].name
        own = f"{level.name} ↔ {upper_name}" if level is not None else upper_name
    finally:
        linked.close()
    print(summary.text(upper_name))
    for finding in findings:
        print(f"{finding.ticket}：{finding.message}")
    print(f"联动核对（{own}）：不一致 {len(findings)} 项")
    return EXIT_INCOMPLETE if findings else EXIT_OK
