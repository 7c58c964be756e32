"""``huhang plugins``: what is loaded, from where, and which hooks it implements."""

from __future__ import annotations

import argparse
from typing import Any

from kernel.cli import args as a
from kernel.cli.context import open_plugins
from kernel.cli.exits import EXIT_OK


def register(sub: Any) -> None:
    """``plugins``."""
    p = sub.add_parser("plugins", help="列出已加载的插件及其实现的钩子")
    a.add_config(p)
    p.set_defaults(handler=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    """List the plugins, the storage backends and the notifier types."""
    from tabulate import tabulate

    _, host = open_plugins(args)
    rows = [(info.name, info.source, "\n".join(info.hooks)) for info in host.describe()]
    print(tabulate(rows, headers=("插件", "来源", "实现的钩子"), tablefmt="simple"))
    print()
    print(f"存储后端：{'、'.join(f'{k}（{v[1]}）' for k, v in sorted(host.storage.items()))}")
    print(f"通知方式：{'、'.join(f'{k}（{v[1]}）' for k, v in sorted(host.notifiers.items()))}")
    if host.blocked:
        print(f"已禁用：{'、'.join(sorted(host.blocked))}")
    return EXIT_OK
