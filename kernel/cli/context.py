"""What a ledger command opens: configuration, plugins, rules and the ledger store."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernel.errors import InputError

if TYPE_CHECKING:
    from kernel.calendar.workdays import WorkCalendar
    from kernel.config import Config
    from kernel.ledger.ledger import Ledger
    from kernel.plugins import PluginHost
    from kernel.rules.model import RuleSet


@dataclass
class Context:
    """Everything a ledger command needs, opened from the options and huhang.yaml."""

    config: Config
    plugins: PluginHost
    ruleset: RuleSet
    ledger: Ledger

    def close(self) -> None:
        """Close the storage."""
        self.ledger.storage.close()

    def calendar(self) -> WorkCalendar:
        """The plugins' calendar under huhang.yaml's ``calendar.missing_year``."""
        from kernel.calendar.provisional import apply_policy

        calendar = self.plugins.calendar(self.ruleset.home("calendar"))
        return apply_policy(calendar, self.config.missing_year)


def open_plugins(args: argparse.Namespace) -> tuple[Config, PluginHost]:
    """The configuration and the plugin host, from ``--config`` (or ./huhang.yaml)."""
    from kernel.config import load_config
    from kernel.plugins import get_plugin_manager

    config = load_config(getattr(args, "config", None))
    if config.plugin_dir is not None and not config.plugin_dir.is_dir():
        raise InputError(f"配置的本地插件目录 {config.plugin_dir} 不存在（{config.source}）")
    return config, get_plugin_manager(block=config.block, local_dir=config.plugin_dir)


def open_context(args: argparse.Namespace, *, create: bool = False) -> Context:
    """Open configuration, plugins, rules and the ledger store.

    Only commands that add to a ledger from outside (ingest, roster import) pass ``create``;
    every other command refuses a ledger that does not exist (a mistyped ``--db`` would
    otherwise answer from a new, empty ledger). A new ledger is announced on stderr.
    """
    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules

    config, plugins = open_plugins(args)
    ruleset = load_rules(getattr(args, "rules", None) or config.rules)
    db = getattr(args, "db", None) or config.db
    storage, created = plugins.open_store(db, create=create)
    if created:
        print(f"新建台账：{storage.url}", file=sys.stderr)
    notifiers = [str(n["name"]) for n in config.notifiers]
    ledger = Ledger(storage, ruleset.reference, plugins=plugins, notifiers=notifiers)
    context = Context(config, plugins, ruleset, ledger)
    if ruleset.lifecycle is not None:
        from kernel.clocks.steps import step_guard

        ledger.guard = step_guard(ruleset, context.calendar())
    return context
