"""``huhang serve`` (the HTTP API) and ``huhang token`` (its access tokens)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any

from kernel.cli import args as a
from kernel.cli.exits import EXIT_INPUT, EXIT_OK
from kernel.errors import InputError

INSTALL_HINT = "huhang serve 需要先安装：pip install 'huhang[serve]'"


def register(sub: Any) -> None:
    """``serve`` and ``token create|list|revoke``."""
    p = sub.add_parser("serve", help="启动 HTTP API（FastAPI + uvicorn），按访问令牌区分角色")
    a.add_store(p)
    p.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
    p.add_argument("--port", type=_port_arg, default=8080, help="端口（默认 8080）")
    p.add_argument(
        "--workers",
        type=a.positive_arg,
        default=1,
        metavar="N",
        help="工作进程数（默认 1；多个进程共用台账时建议用 PostgreSQL）",
    )
    p.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="网页控制台的登录 Cookie 也经 HTTP 发送（仅供本机测试；正式使用请经 HTTPS）",
    )
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("token", help="API 访问令牌：生成、列出、吊销")
    token = p.add_subparsers(dest="token_command", metavar="ACTION", parser_class=type(p))
    token.required = True
    q = token.add_parser("create", help="为一个单位生成访问令牌（只显示一次）")
    q.add_argument(
        "--role",
        choices=("office", "unit", "auditor"),
        required=True,
        help="角色：office 助商稳企办（全部权限）、unit 责任单位（只读写本单位的）、auditor 审计（只读）",
    )
    q.add_argument(
        "--unit", default=None, metavar="UNIT", help="单位简称（office 默认 助商稳企办）"
    )
    q.add_argument(
        "--name", default=None, metavar="NAME", help="令牌名称，如 12345热线（默认同单位）"
    )
    q.add_argument(
        "--expires", type=a.date_arg, default=None, metavar="DATE", help="有效期至（含当天）"
    )
    a.add_store(q)
    q = token.add_parser("list", help="列出访问令牌（不显示令牌本身）")
    a.add_store(q)
    q = token.add_parser("revoke", help="吊销访问令牌")
    q.add_argument("token_id", metavar="ID", help="令牌编号（token list 中的 ID）")
    a.add_store(q)
    p.set_defaults(handler=cmd_token)


def _port_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' 不是端口号") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError("端口号应在 1 到 65535 之间")
    return value


def _require_serve() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError(INSTALL_HINT) from None


def cmd_serve(args: argparse.Namespace) -> int:
    """Open the ledger (making it if missing), then serve until stopped."""
    _require_serve()
    import uvicorn

    from kernel.service.app import create_app
    from kernel.service.asgi import ENV_CONFIG, ENV_DB, ENV_RULES
    from kernel.service.context import open_service

    context = open_service(db=args.db, rules=args.rules, config=args.config, create=True)
    url = context.ledger.storage.url
    print(
        f"护航 API：http://{args.host}:{args.port}/api/v1/docs（台账 {url}，"
        f"{args.workers} 个工作进程）；Ctrl+C 停止",
        file=sys.stderr,
    )
    print(
        f"网页控制台：http://{args.host}:{args.port}/（账号由 huhang user add 开设）",
        file=sys.stderr,
    )
    from kernel.web.app import mount_console

    secure = not args.insecure_cookies
    if args.workers == 1:
        app = mount_console(create_app(context), secure_cookies=secure)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        context.close()
        return EXIT_OK
    context.close()
    os.environ[ENV_DB] = url if "***" not in url else (args.db or "")
    os.environ[ENV_RULES] = str(args.rules or "")
    os.environ[ENV_CONFIG] = str(args.config or "")
    from kernel.web.asgi import ENV_INSECURE
    from kernel.web.sessions import SECRET_ENV

    if len(os.environ.get(SECRET_ENV, "")) < 32:  # one session secret for every worker
        import secrets

        os.environ[SECRET_ENV] = secrets.token_urlsafe(32)
    os.environ[ENV_INSECURE] = "0" if secure else "1"
    import shutil
    import tempfile

    from kernel.service.metrics import ENV_DIR

    # the workers add up their metrics through files here, for this run only
    os.environ[ENV_DIR] = tempfile.mkdtemp(prefix="huhang-metrics-")
    try:
        uvicorn.run(
            "kernel.web.asgi:create_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level="warning",
        )
    finally:
        shutil.rmtree(os.environ.pop(ENV_DIR), ignore_errors=True)
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    """Create, list or revoke API tokens in the ledger's database."""
    from kernel.cli.clock import now
    from kernel.cli.context import open_context
    from kernel.service.tokens import TOKEN_STATE_WORDS, create_token, token_state
    from kernel.vocabulary import ROLE_WORDS

    # a fresh database gets its first token: only create may make the ledger
    ctx = open_context(args, create=args.token_command == "create")
    try:
        storage = ctx.ledger.storage
        at = now()
        if args.token_command == "create":
            unit = args.unit or ("助商稳企办" if args.role == "office" else None)
            if unit is None:
                raise InputError(f"角色 {args.role} 需要用 --unit 指定单位")
            if args.role in ("office", "unit"):
                found = ctx.ruleset.reference.check("units", unit)
                if found is not None:
                    raise InputError(f"--unit 的值{found[1]}")
            expires = None
            if args.expires is not None:
                expires = dt.datetime.combine(
                    args.expires + dt.timedelta(days=1), dt.time(), tzinfo=at.tzinfo
                )
            made = create_token(
                storage,
                name=args.name or unit,
                unit=unit,
                role=args.role,
                now=at,
                expires_at=expires,
            )
            record = made.record
            print(made.token)
            print(
                f"已生成令牌 {record.token_id}：{record.name}（{record.unit}，"
                f"{ROLE_WORDS[record.role]}）"
                + (f"，有效期至 {args.expires}" if args.expires else "，长期有效")
                + "。令牌只显示这一次，请妥善保存；在请求头中写 Authorization: Bearer <令牌>",
                file=sys.stderr,
            )
            return EXIT_OK
        if args.token_command == "list":
            from tabulate import tabulate

            rows = [
                (
                    t.token_id,
                    t.name,
                    t.unit,
                    ROLE_WORDS.get(t.role, t.role),
                    t.created_at.astimezone(at.tzinfo).strftime("%Y-%m-%d %H:%M"),
                    t.expires_at.astimezone(at.tzinfo).strftime("%Y-%m-%d %H:%M")
                    if t.expires_at
                    else "长期",
                    TOKEN_STATE_WORDS[token_state(t, at)],
                )
                for t in storage.tokens()
            ]
            if not rows:
                print("没有访问令牌（用 huhang token create 生成）")
                return EXIT_OK
            print(
                tabulate(
                    rows, headers=("ID", "名称", "单位", "角色", "生成时间", "有效期至", "状态")
                )
            )
            return EXIT_OK
        if storage.revoke_token(args.token_id, at):
            print(f"已吊销令牌 {args.token_id}")
            return EXIT_OK
        if storage.token(args.token_id) is None:
            raise InputError(f"没有编号为 {args.token_id} 的令牌（见 huhang token list）")
        print(f"令牌 {args.token_id} 此前已吊销", file=sys.stderr)
        return EXIT_INPUT
    finally:
        ctx.close()
