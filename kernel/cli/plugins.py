"""``huhang plugins``: what is loaded, from where, and which hooks it implements."""

from __future__ import annotations

import argparse
from pathlib import Path
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

    from kernel.plugins import local_plugin_dir, local_plugin_files

    config, host = open_plugins(args)
    rows = [(info.name, info.source, "\n".join(info.hooks)) for info in host.describe()]
    print(tabulate(rows, headers=("插件", "来源", "实现的钩子"), tablefmt="simple"))
    print()
    print(f"存储后端：{'、'.join(f'{k}（{v[1]}）' for k, v in sorted(host.storage.items()))}")
    print(f"通知方式：{'、'.join(f'{k}（{v[1]}）' for k, v in sorted(host.notifiers.items()))}")
    if host.blocked:
        print(f"已禁用：{'、'.join(sorted(host.blocked))}")
    folder = local_plugin_dir(config.plugin_dir)
    if folder is not None:
        print(f"本地插件目录：{folder}")
    else:
        print("本地插件目录：未配置（不加载任何本地插件代码）")
        here = Path("plugins")
        found = local_plugin_files(here) if here.is_dir() else []
        if found:
            print(
                f"提示：{here}/ 中有 {len(found)} 个插件文件（{'、'.join(p.name for p in found)}），"
                "未加载；确需加载时在 huhang.yaml 中写 plugins: {dir: plugins}"
            )
    return EXIT_OK
