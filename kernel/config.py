"""Deployment configuration: ``huhang.yaml`` (or ``--config FILE``).

```yaml
db: huhang.db                 # storage URL: a path (SQLite), sqlite:///…, jsonl:…, memory:
rules: rules                  # the rule folder
notifiers:                    # where notices go; secrets as ${ENV_VAR}
  - {name: 屏幕, type: console}
  - {name: 企业微信, type: webhook, format: wecom, url: "https://…/send?key=${WECOM_KEY}"}
plugins:
  block: [notify_smtp]        # plugin names not to load
  dir: plugins                # local plugin folder
calendar:
  missing_year: refuse        # refuse (default) | provisional: a year whose notice is not out
                              # yet is built from the law and every date through it is 暂定
```

Every key is optional. Command-line options win over the file, the file over the defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import InputError, ProblemsError
from kernel.inputs.sourcefile import read_file

DEFAULT_CONFIG = "huhang.yaml"
DEFAULT_DB = "huhang.db"
CONFIG_ENV = "HUHANG_CONFIG"
DB_ENV = "HUHANG_DB"


@dataclass(frozen=True)
class Config:
    """Where the ledger lives, which rules apply, and where notices go."""

    db: str = DEFAULT_DB
    rules: Path | None = None
    notifiers: tuple[dict[str, Any], ...] = ()
    block: tuple[str, ...] = ()
    plugin_dir: Path | None = None
    source: str = "（默认）"
    missing_year: str = "refuse"  # kernel.calendar.provisional.POLICIES


def load_config(path: Path | None = None) -> Config:
    """Read the configuration file, if any; a missing default file means defaults."""
    explicit = path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    target = explicit or Path(DEFAULT_CONFIG)
    if not target.is_file():
        if explicit is not None:
            raise InputError(f"配置文件 {target} 不存在")
        return Config(db=os.environ.get(DB_ENV, DEFAULT_DB))
    doc = read_file(target, str(target))
    data = doc.data or {}
    problems = list(doc.problems)
    if not isinstance(data, dict):
        raise ProblemsError([doc.problem((), "CONFIG", "配置文件应为映射（键: 值）")])
    known = {"db", "rules", "notifiers", "plugins", "calendar"}
    for key in data:
        if key not in known:
            problems.append(
                doc.problem(
                    (key,),
                    "CONFIG",
                    f"未知配置项 '{key}'（可用：{'、'.join(sorted(known))}）",
                    key=True,
                )
            )
    notifiers = data.get("notifiers") or []
    if not isinstance(notifiers, list) or not all(isinstance(n, dict) for n in notifiers):
        problems.append(
            doc.problem(("notifiers",), "CONFIG", "notifiers 应为列表，每项是 {name, type, …}")
        )
        notifiers = []
    names = set()
    for i, entry in enumerate(notifiers):
        for key in ("name", "type"):
            if not isinstance(entry.get(key), str) or not entry.get(key):
                problems.append(
                    doc.problem(("notifiers", i), "CONFIG", f"notifiers[{i}] 缺少 {key}")
                )
        if entry.get("name") in names:
            problems.append(
                doc.problem(
                    ("notifiers", i, "name"), "CONFIG", f"通知名称 '{entry.get('name')}' 重复"
                )
            )
        names.add(entry.get("name"))
    plugins = data.get("plugins") or {}
    if not isinstance(plugins, dict):
        problems.append(
            doc.problem(("plugins",), "CONFIG", "plugins 应为映射，如 {block: [...], dir: plugins}")
        )
        plugins = {}
    calendar = data.get("calendar") or {}
    missing_year = "refuse"
    if not isinstance(calendar, dict):
        problems.append(
            doc.problem(
                ("calendar",), "CONFIG", "calendar 应为映射，如 {missing_year: provisional}"
            )
        )
    else:
        for key in calendar:
            if key != "missing_year":
                problems.append(
                    doc.problem(
                        ("calendar", key),
                        "CONFIG",
                        f"未知配置项 'calendar.{key}'（可用：missing_year）",
                        key=True,
                    )
                )
        missing_year = str(calendar.get("missing_year", "refuse"))
        if missing_year not in ("refuse", "provisional"):
            problems.append(
                doc.problem(
                    ("calendar", "missing_year"),
                    "CONFIG",
                    f"calendar.missing_year 应为 refuse（缺少当年日历时拒绝计算）"
                    f"或 provisional（按暂定日历计算），实际为 '{missing_year}'",
                )
            )
    if problems:
        raise ProblemsError(problems, f"配置文件有 {len(problems)} 个问题")
    base = target.parent
    rules = data.get("rules")
    plugin_dir = plugins.get("dir")
    return Config(
        db=str(data.get("db") or os.environ.get(DB_ENV, DEFAULT_DB)),
        rules=(base / str(rules)) if rules else None,
        notifiers=tuple(dict(n) for n in notifiers),
        block=tuple(str(b) for b in plugins.get("block") or ()),
        plugin_dir=(base / str(plugin_dir)) if plugin_dir else None,
        source=str(target),
        missing_year=missing_year,
    )
