"""Deployment configuration: ``huhang.yaml`` (or ``--config FILE``).

```yaml
db: huhang.db                 # storage URL: a path (SQLite), sqlite:///…, jsonl:…, memory:
rules: rules                  # the rule folder
notifiers:                    # where notices go; secrets as ${ENV_VAR}
  - {name: 屏幕, type: console}
  - {name: 企业微信, type: webhook, format: wecom, url: "https://…/send?key=${WECOM_KEY}"}
plugins:
  block: [notify_smtp]        # plugin names never imported
  dir: plugins                # local plugin folder (none unless named here or $HUHANG_PLUGINS_DIR)
date_window:                  # which event dates ingest and roster import accept
  future_days: 31             # at most this many days after the as-of date
  past_days: 3650             # at most this many days before it (default: no limit)
  earliest: 2000-01-01        # and never before this day
calendar:
  missing_year: refuse        # refuse (default) | provisional: a year whose notice is not out
                              # yet is built from the law and every date through it is 暂定
```

Every key is optional. Command-line options win over the file, the file over the defaults.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.errors import InputError, Problem, ProblemsError
from kernel.inputs.sourcefile import SourceDoc, read_file

if TYPE_CHECKING:
    from kernel.ledger.ingest import DateWindow

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
    future_days: int = 31
    past_days: int | None = None
    earliest: dt.date = dt.date(2000, 1, 1)

    def date_window(self, as_of: dt.date) -> DateWindow:
        """The plausible event dates as of a day."""
        from kernel.ledger.ingest import DateWindow

        return DateWindow(as_of, self.future_days, self.past_days, self.earliest)


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
    known = {"db", "rules", "notifiers", "plugins", "calendar", "date_window"}
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
    block = plugins.get("block") or []
    if isinstance(block, str):
        block = [block]
    if not isinstance(block, list) or not all(isinstance(b, str) and b for b in block):
        problems.append(
            doc.problem(("plugins", "block"), "CONFIG", "plugins.block 应为插件名称的列表")
        )
        block = []
    if plugins.get("dir") is not None and not isinstance(plugins.get("dir"), str):
        problems.append(doc.problem(("plugins", "dir"), "CONFIG", "plugins.dir 应为目录路径"))
    for key in plugins:
        if key not in ("block", "dir"):
            problems.append(
                doc.problem(
                    ("plugins", key),
                    "CONFIG",
                    f"未知配置项 plugins.{key}（可用：block、dir）",
                    key=True,
                )
            )
    window = _date_window(doc, data.get("date_window"), problems)
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
        block=tuple(block),
        plugin_dir=(base / str(plugin_dir)) if plugin_dir else None,
        source=str(target),
        missing_year=missing_year,
        **window,
    )


def _date_window(doc: SourceDoc, raw: Any, problems: list[Problem]) -> dict[str, Any]:
    """The ``date_window`` entry: future_days, past_days (whole days, >= 0), earliest (a date)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(
            doc.problem(("date_window",), "CONFIG", "date_window 应为映射，如 {future_days: 7}")
        )
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = ("date_window", key)
        if key in ("future_days", "past_days"):
            if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100_000:
                out[key] = value
            else:
                problems.append(
                    doc.problem(
                        where, "CONFIG", f"date_window.{key} 应为 0 到 100000 之间的整数（天数）"
                    )
                )
        elif key == "earliest":
            try:
                out[key] = dt.date.fromisoformat(str(value))
            except ValueError:
                problems.append(
                    doc.problem(where, "CONFIG", "date_window.earliest 应为日期，如 2000-01-01")
                )
        else:
            problems.append(
                doc.problem(
                    where,
                    "CONFIG",
                    f"未知配置项 date_window.{key}（可用：future_days、past_days、earliest）",
                    key=True,
                )
            )
    return out
