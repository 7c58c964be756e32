"""The SMTP notifier against a tiny SMTP server on 127.0.0.1 (written here, no smtpd)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from kernel.notify.contract import NotifierConfigError, NotifierError
from kernel.notify.outbox import deliver
from kernel.notify.smtp import SmtpNotifier, smtp_factory
from kernel.storage.contract import NOTICE_SENT, Notice
from kernel.storage.memory import MemoryStorage

PASSWORD = "s3cret-密码-Pw!"  # non-ASCII: smtplib.login cannot send it, the notifier can
ASCII_PASSWORD = "Plain-s3cret_Pw"
BOTH = pytest.mark.parametrize("password", [ASCII_PASSWORD, PASSWORD], ids=["ascii", "utf8"])
USER = "huhang@example.org"

NOTICE = Notice(
    notice_id="通报:HZ-7:C-NOTIFY:1",
    kind="notice",
    unit="汉台区人社局",
    title="办理单 T-0042 超期未办结",
    body="该办理单已超期 5 个工作日。\n请说明原因并于本周内办结。",
    day=dt.date(2026, 3, 9),
    ticket_id="T-0042",
)


# ---------------------------------------------------------------------- a tiny SMTP server


@dataclass
class Mail:
    """One message as the server received it."""

    sender: str
    recipients: list[str]
    data: bytes
    login: tuple[str, str] | None

    def parsed(self) -> email.message.EmailMessage:
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        return message


@dataclass
class SmtpServer:
    """EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT -- enough for smtplib."""

    credentials: tuple[str, str] | None = None  # require AUTH with these
    reject_auth_with: str | None = None  # the 535 text (to test that echoes are redacted)
    mails: list[Mail] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, text: str) -> None:
                self.wfile.write(text.encode("utf-8") + b"\r\n")

            def line(self) -> str:
                return self.rfile.readline().decode("utf-8").rstrip("\r\n")

            def auth(self, args: list[str]) -> tuple[str, str] | None:
                mechanism = args[0].upper() if args else ""
                if mechanism == "PLAIN":
                    if len(args) > 1:
                        blob = args[1]
                    else:
                        self.reply("334 ")
                        blob = self.line()
                    _, user, password = base64.b64decode(blob).decode("utf-8").split("\0")
                    return user, password
                if mechanism == "LOGIN":
                    if len(args) > 1:
                        user = base64.b64decode(args[1]).decode("utf-8")
                    else:
                        self.reply("334 VXNlcm5hbWU6")
                        user = base64.b64decode(self.line()).decode("utf-8")
                    self.reply("334 UGFzc3dvcmQ6")
                    return user, base64.b64decode(self.line()).decode("utf-8")
                return None

            def handle(self) -> None:
                self.reply("220 test.local ESMTP ready")
                login: tuple[str, str] | None = None
                sender, recipients = "", list[str]()
                while True:
                    raw = self.line()
                    if not raw and self.rfile.closed:
                        return
                    verb, _, rest = raw.partition(" ")
                    verb = verb.upper()
                    if verb == "EHLO":
                        self.reply("250-test.local")
                        self.reply("250-8BITMIME")
                        self.reply("250 AUTH PLAIN LOGIN")
                    elif verb == "HELO":
                        self.reply("250 test.local")
                    elif verb == "AUTH":
                        try:
                            got = self.auth(rest.split())
                        except (ValueError, binascii.Error):
                            got = None
                        if got is not None and got == outer.credentials:
                            login = got
                            self.reply("235 2.7.0 Authentication successful")
                        else:
                            self.reply(f"535 5.7.8 {outer.reject_auth_with or 'bad credentials'}")
                    elif verb == "MAIL":
                        if outer.credentials and login is None:
                            self.reply("530 5.7.0 Authentication required")
                            continue
                        sender, recipients = rest.split(":", 1)[1].strip().strip("<>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(rest.split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        lines = []
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                        outer.mails.append(Mail(sender, recipients, b"".join(lines), login))
                        self.reply("250 OK queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    elif not raw:
                        return  # client went away
                    else:
                        self.reply("502 Command not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    servers: list[SmtpServer] = []

    def start(**kwargs: Any) -> SmtpServer:
        server = SmtpServer(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def options(port: int, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "护航系统 <huhang@example.org>",
        "to": ["duban@example.org", "张主任 <zhang@example.org>"],
        "timeout": 2,
    }
    base.update(extra)
    return base


# ---------------------------------------------------------------------- tests


def test_chinese_subject_and_body_arrive_decoded(smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    smtp_factory("邮件", options(server.port)).send(NOTICE)
    (mail,) = server.mails
    assert mail.sender == "huhang@example.org"
    assert mail.recipients == ["duban@example.org", "zhang@example.org"]
    assert mail.login is None
    message = mail.parsed()
    assert message["Subject"] == "【护航】通报：办理单 T-0042 超期未办结"
    assert message["From"].addresses[0].display_name == "护航系统"
    assert message["X-Huhang-Notice-Id"] == NOTICE.notice_id
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    body = message.get_content()
    for part in (
        "【通报】办理单 T-0042 超期未办结",
        "单位：汉台区人社局",
        "2026年3月9日",
        "请说明原因",
    ):
        assert part in body
    raw_headers = mail.data.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()  # RFC 2047-encoded, no 8-bit headers on the wire


def test_subject_prefix_option(smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    smtp_factory("邮件", options(server.port, subject_prefix="[测试] ")).send(NOTICE)
    assert server.mails[0].parsed()["Subject"] == "[测试] 通报：办理单 T-0042 超期未办结"


@BOTH
def test_auth_with_password_from_env(
    smtp_server: Callable[..., SmtpServer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    password: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HUHANG_SMTP_PASSWORD", password)
    server = smtp_server(credentials=(USER, password))
    notifier = smtp_factory(
        "邮件", options(server.port, username=USER, password="${HUHANG_SMTP_PASSWORD}")
    )
    storage = MemoryStorage()
    with storage.transaction() as tx:
        tx.add_notice(NOTICE, ["邮件"])
    report = deliver(storage, {"邮件": notifier}, now=dt.datetime(2026, 3, 9, 9))
    assert report.sent == 1
    assert storage.deliveries()[0].status == NOTICE_SENT
    assert server.mails[0].login == (USER, password)
    for text in (notifier.describe(), repr(notifier), caplog.text):
        assert password not in text


@BOTH
def test_rejected_password_never_appears(
    smtp_server: Callable[..., SmtpServer], caplog: pytest.LogCaptureFixture, password: str
) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = base64.b64encode(f"\0{USER}\0{password}".encode()).decode()
    # A server that echoes what it got (the password, and its base64 form) in the 535 reply.
    server = smtp_server(credentials=(USER, "other"), reject_auth_with=f"{password} {encoded}")
    notifier = smtp_factory("邮件", options(server.port, username=USER, password=password))
    with pytest.raises(NotifierError, match="登录被拒绝（535") as info:
        notifier.send(NOTICE)
    storage = MemoryStorage()
    with storage.transaction() as tx:
        tx.add_notice(NOTICE, ["邮件"])
    report = deliver(storage, {"邮件": notifier}, now=dt.datetime(2026, 3, 9, 9))
    assert report.retried == 1
    texts = [str(info.value), notifier.describe(), repr(notifier), caplog.text]
    texts.append(storage.deliveries()[0].last_error or "")
    for text in texts:
        assert password not in text
        assert encoded not in text
    assert server.mails == []


def test_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    notifier = smtp_factory("邮件", options(port, username=USER, password=PASSWORD))
    with pytest.raises(NotifierError, match="无法连接") as info:
        notifier.send(NOTICE)
    assert PASSWORD not in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_silent_server_times_out() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)  # accepts (via the backlog) but never greets
    try:
        notifier = smtp_factory("邮件", options(sock.getsockname()[1], timeout=0.3))
        start = time.monotonic()
        with pytest.raises(NotifierError, match="超时"):
            notifier.send(NOTICE)
        assert time.monotonic() - start < 2.0
    finally:
        sock.close()


def test_defaults_and_describe() -> None:
    notifier = smtp_factory(
        "邮件",
        {"host": "smtp.example.org", "from": "a@example.org", "to": "b@example.org"},
    )
    assert isinstance(notifier, SmtpNotifier)
    assert (notifier.port, notifier.security, notifier.timeout) == (587, "starttls", 30.0)
    assert notifier.describe() == "邮件: 邮件 smtp.example.org:587（starttls）→ b@example.org"
    ssl_notifier = smtp_factory(
        "邮件", {"host": "h", "security": "ssl", "from": "a@x.cn", "to": ["b@x.cn"]}
    )
    assert ssl_notifier.port == 465


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"host": None}, "host 是必填项"),
        ({"from": None}, "from 是必填项"),
        ({"to": []}, "to 不能为空"),
        ({"to": ["不是地址"]}, "to 不是有效的邮件地址"),
        ({"security": "tls"}, "security 应是 starttls、ssl、none 之一"),
        ({"port": 70000}, "port 应在 1 到 65535 之间"),
        ({"password": "x"}, "username"),
        ({"username": "u"}, "password"),
        ({"username": "u", "password": "${HUHANG_TEST_UNSET_PW}"}, "HUHANG_TEST_UNSET_PW"),
        ({"subjet_prefix": "x"}, "是否想写 'subject_prefix'"),
    ],
)
def test_bad_options(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], expected: str
) -> None:
    monkeypatch.delenv("HUHANG_TEST_UNSET_PW", raising=False)
    opts = {k: v for k, v in {**options(25), **changes}.items() if v is not None}
    with pytest.raises(NotifierConfigError, match=expected) as info:
        smtp_factory("邮件通知", opts)
    assert "邮件通知" in str(info.value)
