"""The webhook notifier against local HTTP servers: body shapes, signatures, errors, secrets."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kernel.notify.contract import NotifierConfigError, NotifierError
from kernel.notify.outbox import deliver, redact
from kernel.notify.webhook import (
    WECOM_MARKDOWN_BYTES,
    WebhookNotifier,
    dingtalk_sign,
    feishu_sign,
    webhook_factory,
)
from kernel.storage.contract import NOTICE_PENDING, Notice
from kernel.storage.memory import MemoryStorage

WECOM_KEY = "wecom-key-7f3a9c2e-0b1d"
DING_TOKEN = "ding-access-token-5e8b1f"
DING_SECRET = "SECding0123456789abcdef"
FEISHU_TOKEN = "feishu-hook-token-4d2c"
FEISHU_SECRET = "feishu-secret-9a8b7c"
JSON_TOKEN = "json-token-1a2b3c"
JSON_SECRET = "json-secret-x9y8"
ALL_SECRETS = (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET, JSON_TOKEN)
FIXED_CLOCK = 1_767_225_600.123  # 2026-01-01T00:00:00.123Z

NOTICE = Notice(
    notice_id="督办:HZ-1:C-RESOLVE:1",
    kind="supervision",
    unit="商务局",
    title="办理单 T-0001 办理超期",
    body="请于3个工作日内办结。\n逾期将予以通报。",
    day=dt.date(2026, 3, 2),
    ticket_id="T-0001",
    data={"overdue_days": 2},
)


# ---------------------------------------------------------------------- local servers


@dataclass
class Received:
    """One request as the test server saw it."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


Responder = Callable[[Received], tuple[int, Any]]


@dataclass
class Server:
    """A ThreadingHTTPServer on 127.0.0.1 that records requests and answers via ``respond``."""

    respond: Responder
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                parts = urlsplit(self.path)
                got = Received(
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                outer.received.append(got)
                status, answer = outer.respond(got)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # keep stderr quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], Server]]:
    servers: list[Server] = []

    def start(respond: Responder) -> Server:
        server = Server(respond)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (via the backlog) but never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (connection refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def ok_for(fmt: str) -> Responder:
    answer = {"code": 0, "msg": "success"} if fmt == "feishu" else {"errcode": 0, "errmsg": "ok"}
    return lambda _req: (200, answer)


def url_for(fmt: str, base: str) -> str:
    return {
        "json": f"{base}/notify?token={JSON_TOKEN}",
        "wecom": f"{base}/cgi-bin/webhook/send?key={WECOM_KEY}",
        "dingtalk": f"{base}/robot/send?access_token={DING_TOKEN}",
        "feishu": f"{base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
    }[fmt]


def make(fmt: str, base: str, **options: Any) -> WebhookNotifier:
    secret = {"dingtalk": DING_SECRET, "feishu": FEISHU_SECRET, "json": JSON_SECRET}.get(fmt)
    opts: dict[str, Any] = {"url": url_for(fmt, base), "format": fmt, "timeout": 2}
    if secret:
        opts["secret"] = secret
    opts.update(options)
    return webhook_factory(f"{fmt}-机器人", opts)


# ---------------------------------------------------------------------- body shapes


def test_json_posts_the_notice_dict(serve: Callable[[Responder], Server]) -> None:
    server = serve(lambda _req: (204, b""))
    notifier = webhook_factory("对接", {"url": url_for("json", server.base)})
    notifier.send(NOTICE)
    (got,) = server.received
    assert got.json == NOTICE.to_dict()
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert got.query == {"token": [JSON_TOKEN]}


def test_json_with_secret_is_signed(serve: Callable[[Responder], Server]) -> None:
    server = serve(lambda _req: (200, b"ok"))
    make("json", server.base, headers={"X-Extra": "1"}).send(NOTICE)
    (got,) = server.received
    timestamp = got.headers["x-huhang-timestamp"]
    expected = hmac.new(
        JSON_SECRET.encode(), timestamp.encode() + b"." + got.body, hashlib.sha256
    ).hexdigest()
    assert got.headers["x-huhang-signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    assert got.headers["x-extra"] == "1"


def test_wecom_markdown(serve: Callable[[Responder], Server]) -> None:
    server = serve(ok_for("wecom"))
    make("wecom", server.base).send(NOTICE)
    (got,) = server.received
    assert got.path == "/cgi-bin/webhook/send"
    assert got.query == {"key": [WECOM_KEY]}
    body = got.json
    assert set(body) == {"msgtype", "markdown"}
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert set(body["markdown"]) == {"content"}
    assert content.startswith("### 【督办】办理单 T-0001 办理超期")
    for part in ("商务局", "2026年3月2日", "T-0001", NOTICE.notice_id, "逾期将予以通报。"):
        assert part in content


def test_wecom_content_is_cut_to_4096_bytes(serve: Callable[[Responder], Server]) -> None:
    server = serve(ok_for("wecom"))
    long_notice = Notice("N-long", "report", "全市", "周报", "很长的内容。" * 2000, NOTICE.day)
    make("wecom", server.base).send(long_notice)
    content = server.received[0].json["markdown"]["content"]
    assert len(content.encode("utf-8")) <= WECOM_MARKDOWN_BYTES
    assert content.endswith("已截断）")


def test_dingtalk_markdown_and_signature(serve: Callable[[Responder], Server]) -> None:
    def respond(req: Received) -> tuple[int, Any]:
        timestamp, sign = req.query["timestamp"][0], req.query["sign"][0]  # parse_qs decodes
        digest = hmac.new(
            DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), sign):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    server = serve(respond)
    make("dingtalk", server.base).send(NOTICE)
    (got,) = server.received
    assert got.query["access_token"] == [DING_TOKEN]
    assert abs(int(got.query["timestamp"][0]) - time.time() * 1000) < 60_000  # milliseconds
    body = got.json
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"title", "text"}
    assert body["markdown"]["title"] == "【督办】办理单 T-0001 办理超期"
    assert "商务局" in body["markdown"]["text"]


def test_dingtalk_sign_is_url_encoded() -> None:
    timestamp, sign = dingtalk_sign(DING_SECRET, FIXED_CLOCK)
    assert timestamp == "1767225600123"
    digest = hmac.new(
        DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
    ).digest()
    raw = base64.b64encode(digest).decode()
    assert sign == raw.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


def test_dingtalk_without_secret_is_not_signed(serve: Callable[[Responder], Server]) -> None:
    server = serve(ok_for("dingtalk"))
    notifier = webhook_factory(
        "钉钉", {"url": url_for("dingtalk", server.base), "format": "dingtalk"}
    )
    notifier.send(NOTICE)
    assert server.received[0].query == {"access_token": [DING_TOKEN]}


def test_feishu_text_and_signature(serve: Callable[[Responder], Server]) -> None:
    def respond(req: Received) -> tuple[int, Any]:
        body = req.json
        key = f"{body['timestamp']}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if body["sign"] != expected:
            return 200, {"code": 19021, "msg": "sign match fail", "data": {}}
        return 200, {"code": 0, "msg": "success", "data": {}}

    server = serve(respond)
    make("feishu", server.base).send(NOTICE)
    (got,) = server.received
    assert got.path == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
    body = got.json
    assert set(body) == {"timestamp", "sign", "msg_type", "content"}
    assert isinstance(body["timestamp"], str)
    assert abs(int(body["timestamp"]) - time.time()) < 60  # seconds
    assert body["msg_type"] == "text"
    assert body["content"]["text"].startswith("【督办】办理单 T-0001 办理超期")


def test_feishu_sign_known_value() -> None:
    timestamp, sign = feishu_sign(FEISHU_SECRET, FIXED_CLOCK)
    assert timestamp == "1767225600"
    key = f"1767225600\n{FEISHU_SECRET}".encode()
    assert sign == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_feishu_old_statuscode_answer_is_success(serve: Callable[[Responder], Server]) -> None:
    server = serve(lambda _req: (200, {"StatusCode": 0, "StatusMessage": "success"}))
    make("feishu", server.base).send(NOTICE)  # raises NotifierError if the answer were a failure
    assert len(server.received) == 1
    failing = serve(lambda _req: (200, {"StatusCode": 9499, "StatusMessage": "Bad Request"}))
    with pytest.raises(NotifierError, match="9499"):
        make("feishu", failing.base).send(NOTICE)


# ---------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("fmt", "answer", "expected"),
    [
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}, "errcode 93000"),
        ("dingtalk", {"errcode": 310000, "errmsg": "keywords not in content"}, "errcode 310000"),
        ("feishu", {"code": 19021, "msg": "sign match fail"}, "code 19021"),
        ("wecom", b"<html>gateway</html>", "无法识别的响应"),
    ],
)
def test_api_error_codes_raise(
    serve: Callable[[Responder], Server], fmt: str, answer: Any, expected: str
) -> None:
    server = serve(lambda _req: (200, answer))
    with pytest.raises(NotifierError, match=expected):
        make(fmt, server.base).send(NOTICE)


@pytest.mark.parametrize("fmt", ["json", "wecom", "dingtalk", "feishu"])
def test_http_500_raises(serve: Callable[[Responder], Server], fmt: str) -> None:
    server = serve(lambda _req: (500, b"internal error"))
    with pytest.raises(NotifierError, match="HTTP 500") as info:
        make(fmt, server.base).send(NOTICE)
    assert "发送失败" in str(info.value)


def test_redirect_is_not_followed(serve: Callable[[Responder], Server]) -> None:
    server = serve(lambda _req: (302, b""))
    with pytest.raises(NotifierError, match="HTTP 302"):
        make("json", server.base).send(NOTICE)
    assert len(server.received) == 1


def test_silent_server_times_out(silent_port: int) -> None:
    notifier = make("wecom", f"http://127.0.0.1:{silent_port}", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(NotifierError, match="超时") as info:
        notifier.send(NOTICE)
    assert time.monotonic() - start < 2.0
    assert "0.5 秒" in str(info.value)


def test_connection_refused(closed_port: int) -> None:
    with pytest.raises(NotifierError, match="无法连接"):
        make("dingtalk", f"http://127.0.0.1:{closed_port}").send(NOTICE)


# ---------------------------------------------------------------------- secrets


def _echo_everything(req: Received) -> tuple[int, Any]:
    """A hostile server that echoes the full request, secrets included, in its error."""
    echo = f"{req.path}?{json.dumps(req.query)} {req.headers} {req.body.decode()}"
    return 400, {"errcode": 40001, "errmsg": echo, "code": 40001, "msg": echo}


FAILURES = [
    (mode, fmt)
    for mode in ("http-echo", "api-echo", "timeout", "refused")
    for fmt in ("json", "wecom", "dingtalk", "feishu")
    if (mode, fmt) != ("api-echo", "json")  # plain JSON has no API error codes
]


@pytest.mark.parametrize(("mode", "fmt"), FAILURES)
def test_secrets_never_leak(
    serve: Callable[[Responder], Server],
    silent_port: int,
    closed_port: int,
    caplog: pytest.LogCaptureFixture,
    fmt: str,
    mode: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    received: list[Received] = []
    if mode == "http-echo":
        server = serve(_echo_everything)
        base, received = server.base, server.received
    elif mode == "api-echo":
        server = serve(lambda req: (200, _echo_everything(req)[1]))
        base, received = server.base, server.received
    elif mode == "timeout":
        base = f"http://127.0.0.1:{silent_port}"
    else:
        base = f"http://127.0.0.1:{closed_port}"
    notifier = make(fmt, base, timeout=0.25, headers={"Authorization": "Bearer hdr-token-77"})
    with pytest.raises(NotifierError) as info:
        notifier.send(NOTICE)

    storage = MemoryStorage()
    with storage.transaction() as tx:
        tx.add_notice(NOTICE, [notifier.name])
    report = deliver(storage, {notifier.name: notifier}, now=dt.datetime(2026, 3, 2, 9))
    (delivery,) = storage.deliveries()
    assert delivery.status == NOTICE_PENDING
    assert report.retried == 1

    texts = {
        "error": str(info.value),
        "describe": notifier.describe(),
        "repr": repr(notifier),
        "logs": caplog.text,
        "last_error": delivery.last_error or "",
        "report": repr(report),
    }
    signs = [r.query["sign"][0] for r in received if "sign" in r.query]
    signs += [r.json["sign"] for r in received if r.body and "sign" in r.json]
    for where, text in texts.items():
        for secret in (*ALL_SECRETS, JSON_SECRET, "hdr-token-77", *signs):
            assert secret not in text, f"{secret} leaked into {where}: {text}"
    assert "***" in notifier.describe()
    assert notifier.name in str(info.value)


def test_describe_and_repr_show_a_masked_url() -> None:
    notifier = make("dingtalk", "https://oapi.dingtalk.com")
    assert notifier.describe() == (
        "dingtalk-机器人: 钉钉机器人 https://oapi.dingtalk.com/robot/send?access_token=***（加签）"
    )
    feishu = make("feishu", "https://open.feishu.cn")
    assert "hook/***" in repr(feishu)
    assert FEISHU_TOKEN not in repr(feishu)


def test_redact_hides_encoded_forms() -> None:
    secret = "a+b/c=d 中"
    text = "raw a+b/c=d 中, quoted a%2Bb%2Fc%3Dd%20%E4%B8%AD, plus a%2Bb%2Fc%3Dd+%E4%B8%AD"
    assert redact(text, [secret, None, ""]) == "raw ***, quoted ***, plus ***"


# ---------------------------------------------------------------------- configuration


def test_env_substitution(
    serve: Callable[[Responder], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(ok_for("dingtalk"))
    monkeypatch.setenv("DING_TOKEN", DING_TOKEN)
    monkeypatch.setenv("DING_SECRET", DING_SECRET)
    notifier = webhook_factory(
        "钉钉",
        {
            "url": server.base + "/robot/send?access_token=${DING_TOKEN}",
            "format": "dingtalk",
            "secret": "${DING_SECRET}",
        },
    )
    notifier.send(NOTICE)
    assert server.received[0].query["access_token"] == [DING_TOKEN]
    assert DING_TOKEN not in notifier.describe()


def test_missing_env_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUHANG_TEST_UNSET", raising=False)
    with pytest.raises(NotifierConfigError) as info:
        webhook_factory(
            "企业微信",
            {"url": "https://x.example/send?key=${HUHANG_TEST_UNSET}", "format": "wecom"},
        )
    message = str(info.value)
    assert "HUHANG_TEST_UNSET" in message
    assert "企业微信" in message
    assert "url" in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "url 是必填项"),
        ({"url": "ftp://x.example/a"}, "http:// 或 https://"),
        ({"url": "https://x.example/a", "format": "wecomm"}, "是否想写 'wecom'"),
        ({"url": "https://x.example/a", "timeout": 0}, "timeout 应大于 0"),
        ({"url": "https://x.example/a", "timout": 3}, "是否想写 'timeout'"),
        ({"url": "https://x.example/a?key=k", "format": "wecom", "secret": "s"}, "secret"),
        ({"url": "https://x.example/a", "format": "feishu"}, "飞书"),
        ({"url": "https://x.example/a", "headers": {"X": 1}}, "headers"),
    ],
)
def test_bad_options(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(NotifierConfigError, match=expected) as info:
        webhook_factory("值班群", options)
    assert "值班群" in str(info.value)


def test_header_values_support_env(
    serve: Callable[[Responder], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(lambda _req: (200, b""))
    monkeypatch.setenv("HUHANG_TEST_TOKEN", "hdr-env-token")
    notifier = webhook_factory(
        "对接",
        {
            "url": server.base + "/in",
            "headers": {"Authorization": "Bearer ${HUHANG_TEST_TOKEN}"},
        },
    )
    notifier.send(NOTICE)
    assert server.received[0].headers["authorization"] == "Bearer hdr-env-token"
    assert "hdr-env-token" in notifier.secrets()
