"""``huhang user``: the web console's sign-in accounts (add, passwd, disable, list)."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from kernel.cli import args as a
from kernel.cli.context import open_context
from kernel.cli.exits import EXIT_OK
from kernel.errors import InputError

ROLE_CHOICES = ("office", "unit", "auditor")


def register(sub: Any) -> None:
    """``user add``, ``user passwd``, ``user disable`` and ``user list``."""
    p = sub.add_parser("user", help="网页控制台的登录账号：开设、改密码、停用、列出")
    user = p.add_subparsers(dest="user_command", metavar="ACTION", parser_class=type(p))
    user.required = True
    q = user.add_parser("add", help="开设账号（绑定主体名称、单位和角色）")
    q.add_argument("name", metavar="NAME", help="登录名")
    q.add_argument(
        "--role",
        choices=ROLE_CHOICES,
        required=True,
        help="角色：office 助商稳企办、unit 责任单位、auditor 审计查阅",
    )
    q.add_argument(
        "--unit", default=None, metavar="UNIT", help="所属单位简称（office 默认 助商稳企办）"
    )
    q.add_argument(
        "--principal", default=None, metavar="NAME", help="主体名称，如姓名（默认同登录名）"
    )
    _password_options(q)
    q = user.add_parser("passwd", help="修改密码（同时解除锁定、结束已登录的会话）")
    q.add_argument("name", metavar="NAME", help="登录名")
    _password_options(q)
    q = user.add_parser("disable", help="停用账号（结束已登录的会话）")
    q.add_argument("name", metavar="NAME", help="登录名")
    a.add_store(q)
    q = user.add_parser("list", help="列出账号（不显示密码）")
    a.add_store(q)
    p.set_defaults(handler=cmd_user)


def _password_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="从标准输入读取密码（一行），用于脚本；否则在终端提示输入两次",
    )
    a.add_store(p)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("没有终端可以输入密码：请用 --password-stdin 从标准输入提供")
    first = getpass.getpass("密码：")
    if getpass.getpass("再输入一次：") != first:
        raise InputError("两次输入的密码不一致")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    """Change or list the accounts stored in the ledger database."""
    from kernel.ledger.events import OFFICE

    try:
        from kernel.web import accounts
    except ImportError:
        raise InputError("huhang user 需要先安装：pip install 'huhang[serve]'") from None

    ctx = open_context(args)  # accounts go into an existing ledger (serve or ingest makes one)
    try:
        storage = ctx.ledger.storage
        if args.user_command == "add":
            unit = args.unit or (OFFICE if args.role == "office" else None)
            if unit is None:
                raise InputError("unit 和 auditor 角色必须用 --unit 指定单位")
            found = ctx.ruleset.reference.check("units", unit)
            if found is not None:
                raise InputError(f"单位{found[1]}")
            if args.role == "unit" and unit == OFFICE:
                raise InputError(f"{OFFICE}的账号请用 --role office")
            record = accounts.add_account(
                storage,
                args.name,
                _password(args),
                principal=args.principal or args.name,
                unit=unit,
                role=args.role,
            )
            print(f"已开设账号 {record.name}（{record.principal}，{record.unit}，{record.role}）")
        elif args.user_command == "passwd":
            accounts.set_password(storage, args.name, _password(args))
            print(f"已修改账号 {args.name} 的密码")
        elif args.user_command == "disable":
            accounts.disable_account(storage, args.name)
            print(f"已停用账号 {args.name}")
        else:
            for r in storage.accounts():
                state = "停用" if r.disabled else ("锁定" if r.locked_until else "正常")
                print(f"{r.name}\t{r.principal}\t{r.unit}\t{r.role}\t{state}")
    finally:
        ctx.close()
    return EXIT_OK
