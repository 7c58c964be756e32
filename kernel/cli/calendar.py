"""``huhang calendar``: ask the working-day calendar, import the yearly notice, diff a year."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel.cli import args as a
from kernel.cli.clock import today
from kernel.cli.exits import EXIT_INCOMPLETE, EXIT_OK
from kernel.errors import InputError

if TYPE_CHECKING:
    from kernel.calendar.workdays import WorkCalendar
    from kernel.config import Config

WEEKDAYS = "一二三四五六日"
#: A notice is a page of text; more than this is not one (read no further).
MAX_NOTICE_BYTES = 1_000_000


def _year_arg(text: str) -> int:
    if not (len(text) == 4 and text.isdigit()) or not 2000 <= int(text) <= 2099:
        raise argparse.ArgumentTypeError(f"'{text}' 不是有效的年份（应为 2000–2099 的 YYYY）")
    return int(text)


def register(sub: Any) -> None:
    """``calendar add-days | is-workday | import | diff``."""
    p = sub.add_parser("calendar", help="工作日历：查询、导入年度放假安排通知、比较暂定与正式日历")
    cal = p.add_subparsers(dest="calendar_command", metavar="ACTION", parser_class=type(p))
    cal.required = True
    q = cal.add_parser("add-days", help="DATE 之后第 N 个工作日")
    q.add_argument("date", type=a.date_arg, metavar="DATE", help="起算日期")
    q.add_argument("days", type=a.count_arg, metavar="N", help="工作日数")
    q.add_argument("--inclusive", action="store_true", help="含本数：DATE 若是工作日算第 1 天")
    a.add_rules(q)
    a.add_config(q)
    q.set_defaults(handler=cmd_add_days)
    q = cal.add_parser("is-workday", help="DATE 是否为工作日")
    q.add_argument("date", type=a.date_arg, metavar="DATE", help="日期")
    a.add_rules(q)
    a.add_config(q)
    q.set_defaults(handler=cmd_is_workday)
    q = cal.add_parser(
        "import",
        help="把国务院办公厅的放假安排通知（文本）转成 rules/calendar/YYYY.yaml",
        description="读取通知全文（从网页复制的文本即可），逐项核对后写入年度日历文件；"
        "也可导入延长或调整当年假期的通知，写进已有的年度文件。",
    )
    q.add_argument("file", metavar="FILE", help="通知文本文件（UTF-8 或 GB18030），- 表示标准输入")
    q.add_argument(
        "--year", type=_year_arg, default=None, metavar="YYYY", help="通知中没有年份时指定"
    )
    q.add_argument(
        "--output",
        default=None,
        metavar="PATH",
        help="写到哪里（默认 规则目录/calendar/YYYY.yaml；- 表示只输出到屏幕）",
    )
    q.add_argument(
        "--published",
        type=a.date_arg,
        default=None,
        metavar="DATE",
        help="通知中没有落款日期时指定",
    )
    q.add_argument("--force", action="store_true", help="覆盖内容不同的已有年度文件")
    a.add_rules(q)
    a.add_config(q)
    q.set_defaults(handler=cmd_import)
    q = cal.add_parser(
        "diff",
        help="导入正式日历后：列出按暂定日历与按正式日历计算不同的时限和考核得分",
    )
    q.add_argument("year", type=_year_arg, metavar="YYYY", help="刚导入正式日历的年份")
    q.add_argument(
        "--as-of", type=a.date_arg, default=None, metavar="DATE", help="比较截至哪天（默认今天）"
    )
    q.add_argument(
        "--period", default=None, metavar="YYYY|YYYY-MM|YYYY-Qn", help="比较哪个考核期（默认当年）"
    )
    a.add_format(q)
    a.add_store(q)
    q.set_defaults(handler=cmd_diff)


# --------------------------------------------------------------------------- policy


def configured_calendar(calendar: WorkCalendar, config: Config) -> WorkCalendar:
    """The calendar under huhang.yaml's ``calendar.missing_year``."""
    from kernel.calendar.provisional import apply_policy

    return apply_policy(calendar, config.missing_year)


def _load(args: argparse.Namespace) -> tuple[Config, WorkCalendar]:
    from kernel.config import load_config
    from kernel.rules.load import load_rules

    config = load_config(args.config)
    calendar = load_rules(args.rules or config.rules).calendar
    assert calendar is not None
    return config, configured_calendar(calendar, config)


def _mark(calendar: WorkCalendar, day: dt.date) -> str:
    return "（暂定）" if calendar.is_provisional(day) else ""


def cmd_is_workday(args: argparse.Namespace) -> int:
    """Whether a day is a working day (exit 1 when it is not)."""
    _, calendar = _load(args)
    day: dt.date = args.date
    works = calendar.is_workday(day)
    holiday = calendar.holiday_name(day)
    weekday = WEEKDAYS[day.weekday()]
    mark = _mark(calendar, day)
    if works:
        extra = "（调休上班）" if day.weekday() >= 5 else ""
        print(f"{day}（星期{weekday}）是工作日{extra}{mark}")
    else:
        print(
            f"{day}（星期{weekday}）不是工作日"
            + (f"（{holiday}）" if holiday else "（周末）")
            + mark
        )
    return EXIT_OK if works else EXIT_INCOMPLETE


def cmd_add_days(args: argparse.Namespace) -> int:
    """The N-th working day after a date."""
    from kernel.calendar.workdays import CountingRule

    _, calendar = _load(args)
    rule = CountingRule.INCLUSIVE if args.inclusive else CountingRule.NEXT_DAY
    result = calendar.add_workdays(args.date, args.days, rule)
    how = "含本数" if args.inclusive else "从次日起算"
    print(
        f"{args.date} 起第 {args.days} 个工作日（{how}）：{result}"
        f"（星期{WEEKDAYS[result.weekday()]}）{_mark(calendar, result)}"
    )
    return EXIT_OK


# --------------------------------------------------------------------------- import


def read_notice_text(location: str) -> tuple[str, str]:
    """The text of a notice file (or stdin) and the name to show in messages."""
    if location == "-":
        raw = sys.stdin.buffer.read(MAX_NOTICE_BYTES + 1)
        name = "<标准输入>"
    else:
        path = Path(location)
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_NOTICE_BYTES + 1)
        except OSError as exc:
            raise InputError(f"无法读取通知文件 {location}：{exc.strerror or exc}") from None
        name = location
    if len(raw) > MAX_NOTICE_BYTES:
        raise InputError(f"{name} 超过 {MAX_NOTICE_BYTES // 1000} KB，不像是一份放假安排通知")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding), name
        except UnicodeDecodeError:
            continue
    raise InputError(f"{name} 不是 UTF-8 或 GB18030 编码的文本")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    import tempfile  # lazily: most commands never write a calendar file

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_in_folder(text: str, year: int, folder: Path, target: Path) -> None:
    """Validate the new file as the loader will, together with the folder's other years."""
    import tempfile

    from kernel.calendar.workdays import WorkCalendar, load_year_file

    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / f"{year}.yaml"
        probe.write_text(text, encoding="utf-8")
        new = load_year_file(probe)
    others = (
        [
            load_year_file(f)
            for f in sorted(folder.glob("*.yaml"))
            if f.resolve() != target.resolve()
        ]
        if folder.is_dir()
        else []
    )
    WorkCalendar([*(o for o in others if o.year != year), new])


def cmd_import(args: argparse.Namespace) -> int:
    """Read a notice, check it, and write (or amend) the year file."""
    from kernel.calendar.notice import ARRANGEMENT, amend_year, parse_notice, year_from_notice
    from kernel.calendar.workdays import load_year_file
    from kernel.calendar.yearfile import render_year
    from kernel.config import load_config
    from kernel.rules.load import default_rules_dir, display_path

    config = load_config(args.config)
    text, name = read_notice_text(args.file)
    notice = parse_notice(text, name, year=args.year)
    folder = (args.rules or config.rules or default_rules_dir()) / "calendar"
    target = Path(args.output) if args.output not in (None, "-") else folder / f"{notice.year}.yaml"
    if notice.kind == ARRANGEMENT:
        year = year_from_notice(notice, published=args.published)
    else:
        if not target.is_file():
            raise InputError(
                f"这是调整 {notice.year} 年假期的通知，需要先有 {display_path(target)}"
                f"（先导入 {notice.year} 年的放假安排通知）"
            )
        year = amend_year(load_year_file(target), notice, published=args.published)
    output = render_year(year)
    _check_in_folder(output, notice.year, folder, target)
    if args.output == "-":
        sys.stdout.write(output)
        return EXIT_OK
    shown = display_path(target)
    if target.is_file():
        current = target.read_text(encoding="utf-8")
        if current == output:
            print(f"{shown} 已是这份通知的内容，未改动")
            return EXIT_OK
        if notice.kind == ARRANGEMENT and not args.force:
            raise InputError(
                f"{shown} 已存在且内容不同；核对后加 --force 覆盖（或用 --output - 先看结果）"
            )
    _write_atomic(target, output)
    days = sum((h.end - h.start).days + 1 for h in year.holidays)
    action = "已写入" if notice.kind == ARRANGEMENT else "已按调整通知更新"
    print(
        f"{action} {shown}：{year.year} 年放假 {len(year.holidays)} 段共 {days} 天，"
        f"调休上班 {len(year.makeup_workdays)} 天（依据 {notice.source}）"
    )
    if config.missing_year == "provisional":
        print(
            f"此前按暂定日历计算的 {year.year} 年日期可能变化："
            f"运行 huhang calendar diff {year.year} 查看（台账中已有的记录不会改写）"
        )
    return EXIT_OK


# --------------------------------------------------------------------------- diff


def cmd_diff(args: argparse.Namespace) -> int:
    """What moves between the provisional and the official year."""
    from kernel.cli.context import open_context
    from kernel.tools.calendardiff import calendar_diff, render_diff

    ctx = open_context(args)
    try:
        official = ctx.plugins.calendar(ctx.ruleset.home("calendar"))  # the files, without policy
        as_of = args.as_of or today()
        diff = calendar_diff(
            ctx.ruleset,
            official,
            ctx.ledger.project(),
            list(ctx.ledger.events()),
            args.year,
            as_of,
            args.period,
        )
    finally:
        ctx.close()
    if args.format == "json":
        print(json.dumps(diff.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_diff(diff))
    return EXIT_OK
