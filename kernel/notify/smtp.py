"""Built-in notifier ``smtp``: send each notice as a plain-text UTF-8 e-mail.

The subject is ``<subject_prefix><kind>：<title>`` (for example ``【护航】督办：…``), encoded per
RFC 2047; the body is :func:`kernel.notify.console.render_text`, base64-encoded so no
relay has to support 8-bit mail. ``security`` is ``starttls`` (port 587), ``ssl`` (465) or
``none`` (25, for a local relay). The password may be written as ``${ENV_VAR}`` and never
appears in errors, logs, :meth:`describe` or ``repr``.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from typing import Any

from kernel.hookspecs import hookimpl
from kernel.notify.contract import (
    Notifier,
    NotifierError,
    NotifierFactory,
    Options,
    kind_label,
    render_text,
)
from kernel.notify.outbox import redact
from kernel.storage.contract import Notice

log = logging.getLogger("huhang.notify.smtp")

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_SUBJECT_PREFIX = "【护航】"


class SmtpNotifier(Notifier):
    """Mails notices through one SMTP server."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
        timeout: float = 30.0,
        tls_verify: bool = True,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"unknown SMTP security {security!r}")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = list(recipients)
        self.security = security
        self.username = username
        self._password = password
        self.subject_prefix = subject_prefix
        self.timeout = timeout
        self.tls_verify = tls_verify
        secrets = [password] if password else []
        if password:
            for raw in (password, f"\0{username or ''}\0{password}"):
                secrets.append(base64.b64encode(raw.encode("utf-8")).decode("ascii"))
        self._secrets = tuple(secrets)

    def secrets(self) -> tuple[str, ...]:
        """The password (and its base64 forms on the wire), for :func:`kernel.notify.outbox.redact`."""
        return self._secrets

    def describe(self) -> str:
        """``name: 邮件 smtp.example.org:587（starttls）→ a@example.org``."""
        user = f"，用户 {self.username}" if self.username else ""
        return (
            f"{self.name}: 邮件 {self.host}:{self.port}（{self.security}{user}）"
            f"→ {', '.join(self.recipients)}"
        )

    def __repr__(self) -> str:
        return (
            f"SmtpNotifier(name={self.name!r}, host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, username={self.username!r})"
        )

    def build_message(self, notice: Notice) -> EmailMessage:
        """The e-mail for ``notice``."""
        message = EmailMessage()
        message["Subject"] = f"{self.subject_prefix}{kind_label(notice)}：{notice.title}"
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Date"] = formatdate(localtime=True)
        domain = getaddresses([self.sender])[0][1].rpartition("@")[2] or "huhang.local"
        message["Message-ID"] = make_msgid(domain=domain)
        message["X-Huhang-Notice-Id"] = notice.notice_id
        message.set_content(render_text(notice) + "\n", charset="utf-8", cte="base64")
        return message

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def send(self, notice: Notice) -> None:
        """Send the e-mail; raise :class:`NotifierError` unless the server accepted it."""
        message = self.build_message(notice)
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=self._context())
                if self.username:
                    _login(smtp, self.username, self._password or "")
                refused = smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as exc:
            raise self._failure(f"登录被拒绝（{exc.smtp_code} {_text(exc.smtp_error)}）") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise self._failure(f"服务器不支持所需功能：{exc}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            who = "；".join(f"{a}（{c} {_text(m)}）" for a, (c, m) in exc.recipients.items())
            raise self._failure(f"收件人全部被拒绝：{who}") from None
        except smtplib.SMTPResponseException as exc:
            raise self._failure(f"服务器拒绝（{exc.smtp_code} {_text(exc.smtp_error)}）") from None
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib wraps read timeouts
                raise self._failure(f"超时（{self.timeout:g} 秒）") from None
            raise self._failure(f"服务器断开了连接：{exc}") from None
        except smtplib.SMTPException as exc:
            raise self._failure(f"{type(exc).__name__}: {exc}") from None
        except TimeoutError:
            raise self._failure(f"超时（{self.timeout:g} 秒）") from None
        except UnicodeError as exc:  # never echo the text: it may be a credential
            raise self._failure(f"编码出错（{type(exc).__name__}）") from None
        except ssl.SSLError as exc:
            raise self._failure(f"TLS 出错：{exc.reason or exc}") from None
        except OSError as exc:
            raise self._failure(f"无法连接：{exc.strerror or exc}") from None
        if refused:
            log.warning(
                "%s",
                redact(
                    f"通知 '{self.name}' 的邮件有收件人被拒绝：{'、'.join(sorted(refused))}",
                    self._secrets,
                ),
            )
        log.debug("通知 %s 已通过 %s 发送", notice.notice_id, self.name)

    def _failure(self, problem: str) -> NotifierError:
        text = f"通知 '{self.name}' 发送邮件失败（{self.host}:{self.port}）：{problem}"
        return NotifierError(redact(text, self._secrets))


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """Log in; non-ASCII credentials go as UTF-8 AUTH PLAIN (RFC 4616), which smtplib lacks."""
    if username.isascii() and password.isascii():
        smtp.login(username, password)
        return
    smtp.ehlo_or_helo_if_needed()
    if "PLAIN" not in smtp.esmtp_features.get("auth", "").upper().split():
        raise smtplib.SMTPNotSupportedError(
            "服务器不支持 AUTH PLAIN，无法使用含非 ASCII 字符的账号或密码"
        )
    blob = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {blob}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _address(opts: Options, key: str, value: str) -> str:
    """Check one e-mail address (``a@b.cn`` or ``名称 <a@b.cn>``)."""
    pairs = getaddresses([value])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise opts.error(key, f"不是有效的邮件地址：{value!r}")
    try:
        Address(addr_spec=pairs[0][1])
    except (ValueError, IndexError):
        raise opts.error(key, f"不是有效的邮件地址：{value!r}") from None
    return value


def smtp_factory(name: str, options: Mapping[str, Any]) -> SmtpNotifier:
    """Build an SMTP notifier from its options (see the module docstring)."""
    allowed = (
        "host",
        "port",
        "security",
        "username",
        "password",
        "from",
        "to",
        "subject_prefix",
        "timeout",
        "tls_verify",
    )
    opts = Options("smtp", name, options, allowed)
    host = opts.required("host", env=True)
    security = opts.string("security", default="starttls", choices=SECURITY) or "starttls"
    port = opts.integer("port", DEFAULT_PORTS[security], low=1, high=65535)
    username = opts.string("username", env=True)
    password = opts.string("password", env=True)
    if password and not username:
        raise opts.error("username", "缺失：设置了 password 时必须同时设置 username")
    if username and not password:
        raise opts.error("password", "缺失：设置了 username 时必须同时设置 password")
    if password and security == "none":
        log.warning("通知方式 '%s' 以明文（security: none）发送密码，仅适用于本机或可信内网", name)
    sender = _address(opts, "from", opts.required("from"))
    recipients = [_address(opts, "to", a) for a in opts.string_list("to", required=True)]
    prefix = opts.raw.get("subject_prefix", DEFAULT_SUBJECT_PREFIX)
    if not isinstance(prefix, str):
        raise opts.error("subject_prefix", "应是字符串")
    return SmtpNotifier(
        name,
        host=host,
        port=port or DEFAULT_PORTS[security],
        sender=sender,
        recipients=recipients,
        security=security,
        username=username,
        password=password,
        subject_prefix=prefix,
        timeout=opts.number("timeout", 30.0),
        tls_verify=opts.boolean("tls_verify", True),
    )


@hookimpl
def huhang_register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register ``smtp``."""
    register("smtp", smtp_factory)
