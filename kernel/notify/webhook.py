"""Built-in notifier ``webhook``: POST notices to an HTTP endpoint or a group robot.

Formats (option ``format``):

* ``json`` -- ``Notice.to_dict()`` as the JSON body; any 2xx answer is success. With a
  ``secret``, the request carries ``X-Huhang-Timestamp`` (seconds) and ``X-Huhang-Signature:
  sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``.
* ``wecom`` -- 企业微信群机器人 (``.../cgi-bin/webhook/send?key=KEY``):
  ``{"msgtype": "markdown", "markdown": {"content": ...}}``; success when ``errcode`` is 0.
* ``dingtalk`` -- 钉钉自定义机器人 (``.../robot/send?access_token=TOKEN``):
  ``{"msgtype": "markdown", "markdown": {"title": ..., "text": ...}}``; with a ``secret``
  (加签) the URL gets ``&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(key=secret,
  msg="<ms>\\n<secret>")))>``; success when ``errcode`` is 0.
* ``feishu`` -- 飞书自定义机器人 (``.../open-apis/bot/v2/hook/TOKEN``):
  ``{"msg_type": "text", "content": {"text": ...}}``; with a ``secret`` (签名校验) the body
  also has ``timestamp`` (seconds, a string) and ``sign`` = ``base64(HMAC-SHA256(key=
  "<s>\\n<secret>", msg=b""))``; success when ``code`` (or the older ``StatusCode``) is 0.

Secrets -- the ``secret``, every query value of the URL (``key=``, ``access_token=``), the path
after ``/hook/`` and header values -- never appear in errors, logs, :meth:`describe` or
``repr``: every message passes through :func:`kernel.notify.outbox.redact`. ``url``, ``secret`` and
header values may be written as ``${ENV_VAR}``. Redirects are not followed (a POST must not
turn into a GET elsewhere); proxies from ``https_proxy``/``no_proxy`` are honoured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

from kernel.escape import visible
from kernel.hookspecs import hookimpl
from kernel.notify.contract import (
    Notifier,
    NotifierError,
    NotifierFactory,
    Options,
    chinese_date,
    kind_label,
    render_text,
)
from kernel.notify.outbox import MASK, redact
from kernel.storage.contract import Notice

log = logging.getLogger("huhang.notify.webhook")

FORMATS = ("json", "wecom", "dingtalk", "feishu")
PLATFORMS = {"json": "Webhook", "wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书"}
#: 企业微信 limits markdown content to 4096 bytes
WECOM_MARKDOWN_BYTES = 4096
#: how much of a response body is read (robots answer with a few dozen bytes)
MAX_RESPONSE_BYTES = 64 * 1024
TRUNCATED = "\n…（内容过长，已截断）"


def render_markdown(notice: Notice, *, paragraph: str = "\n") -> str:
    """The markdown form of a notice for robots; ``paragraph`` separates the lines."""
    meta = [f"**单位**：{notice.unit}", f"**日期**：{chinese_date(notice)}"]
    if notice.ticket_id:
        meta.append(f"**办理单**：{notice.ticket_id}")
    meta.append(f"**编号**：{notice.notice_id}")
    body = paragraph.join(line for line in notice.body.strip().splitlines() if line.strip())
    return visible(paragraph.join([f"### 【{kind_label(notice)}】{notice.title}", *meta, "", body]))


def fit_bytes(text: str, limit: int, suffix: str = TRUNCATED) -> str:
    """``text`` cut (on a character boundary) so that its UTF-8 form fits ``limit`` bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = max(limit - len(suffix.encode("utf-8")), 0)
    return data[:room].decode("utf-8", errors="ignore") + suffix


def url_secrets(url: str) -> tuple[list[str], str]:
    """The secret parts of a webhook URL and the URL with them masked (for messages)."""
    parts = urlsplit(url)
    secrets = [s for s in (parts.username, parts.password) if s]
    query = parse_qsl(parts.query, keep_blank_values=True)
    secrets += [value for _, value in query if value]
    secrets += [p.split("=", 1)[1] for p in parts.query.split("&") if "=" in p]
    if parts.query:
        secrets.append(parts.query)
    segments = parts.path.split("/")
    if "hook" in segments:  # 飞书 /open-apis/bot/v2/hook/<token>
        cut = segments.index("hook") + 1
        secrets += [s for s in segments[cut:] if s]
        segments = segments[:cut] + [MASK if s else s for s in segments[cut:]]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    safe = f"{parts.scheme}://{host}{'/'.join(segments)}"
    if query:
        safe += "?" + "&".join(f"{key}={MASK}" for key, _ in query)
    # Values of 1-3 characters (``?debug=1``) are flags, not secrets; masking them would
    # garble every number in a message.
    return [s for s in secrets if len(s) >= 4], safe


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Treat 3xx as an error instead of re-sending the notice elsewhere as a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _json_or_none(payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class WebhookNotifier(Notifier):
    """Posts notices to a URL in one of :data:`FORMATS`."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        format: str = "json",
        secret: str | None = None,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if format not in FORMATS:
            raise ValueError(f"unknown webhook format {format!r}")
        self.name = name
        self.format = format
        self.timeout = timeout
        self._url = url
        self._secret = secret or None
        self._headers = dict(headers or {})
        self._clock = clock
        found, self.safe_url = url_secrets(url)
        for value in self._headers.values():  # "Bearer <token>": hide the token on its own too
            found += [v for v in (value, *value.split()[1:]) if len(v) >= 4]
        self._secrets = tuple(found)
        if self._secret:
            self._secrets += (self._secret,)
        self._opener = urllib.request.build_opener(_NoRedirect)

    @property
    def platform(self) -> str:
        """``企业微信``, ``钉钉``, ``飞书`` or ``Webhook``."""
        return PLATFORMS[self.format]

    def secrets(self) -> tuple[str, ...]:
        """Everything :func:`kernel.notify.outbox.redact` must hide for this notifier."""
        return self._secrets

    def describe(self) -> str:
        """``name: 钉钉机器人 https://host/robot/send?access_token=***（加签）``."""
        what = "Webhook" if self.format == "json" else f"{self.platform}机器人"
        signed = "（加签）" if self._secret else ""
        return f"{self.name}: {what} {self.safe_url}{signed}"

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r}, format={self.format!r}, url={self.safe_url!r})"

    # ------------------------------------------------------------------ request

    def build_request(self, notice: Notice) -> tuple[str, bytes, dict[str, str]]:
        """The URL (signed for 钉钉), the JSON body and the headers for ``notice``."""
        url = self._url
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "huhang"}
        payload: dict[str, Any]
        if self.format == "wecom":
            content = fit_bytes(render_markdown(notice), WECOM_MARKDOWN_BYTES)
            payload = {"msgtype": "markdown", "markdown": {"content": content}}
        elif self.format == "dingtalk":
            title = f"【{kind_label(notice)}】{notice.title}"
            text = render_markdown(notice, paragraph="\n\n")
            payload = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
            if self._secret:
                timestamp, sign = dingtalk_sign(self._secret, self._clock())
                url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={sign}"
        elif self.format == "feishu":
            payload = {}
            if self._secret:
                timestamp, sign = feishu_sign(self._secret, self._clock())
                payload.update(timestamp=timestamp, sign=sign)
            payload.update(msg_type="text", content={"text": render_text(notice)})
        else:
            payload = notice.to_dict()
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
        if self.format == "json" and self._secret:
            timestamp = str(int(self._clock()))
            digest = hmac.new(
                self._secret.encode("utf-8"), timestamp.encode() + b"." + body, hashlib.sha256
            ).hexdigest()
            headers.update(
                {"X-Huhang-Timestamp": timestamp, "X-Huhang-Signature": f"sha256={digest}"}
            )
        headers.update(self._headers)
        return url, body, headers

    def send(self, notice: Notice) -> None:
        """POST the notice; raise :class:`NotifierError` unless the endpoint confirmed it."""
        url, body, headers = self.build_request(notice)
        try:
            self._post(url, body, headers)
        except NotifierError as exc:  # also hide this request's own values (钉钉 sign)
            raise NotifierError(redact(str(exc), url_secrets(url)[0])) from None
        log.debug("通知 %s 已发送到 %s", notice.notice_id, self.safe_url)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status = int(response.status)
                payload = response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            try:
                payload = exc.read(MAX_RESPONSE_BYTES)
            except (OSError, http.client.HTTPException):
                payload = b""
            finally:
                exc.close()
            raise self._failure(f"HTTP {exc.code}{self._detail(payload)}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise self._timeout() from None
            raise self._failure(f"无法连接：{exc.reason}") from None
        except TimeoutError:
            raise self._timeout() from None
        except (OSError, http.client.HTTPException) as exc:
            raise self._failure(f"连接出错：{type(exc).__name__}: {exc}") from None
        self._check(status, payload)

    # ------------------------------------------------------------------ responses

    def _check(self, status: int, payload: bytes) -> None:
        if not 200 <= status < 300:
            raise self._failure(f"HTTP {status}{self._detail(payload)}")
        if self.format == "json":
            return
        data = _json_or_none(payload)
        code = self._code(data)
        if data is None or code is None:
            snippet = payload[:200].decode("utf-8", errors="replace")
            raise self._failure(f"HTTP {status}，无法识别的响应：{snippet!r}")
        if code not in (0, "0"):
            raise self._failure(f"HTTP {status}{self._detail(payload)}")

    def _code(self, data: dict[str, Any] | None) -> object:
        if data is None:
            return None
        if self.format == "feishu":
            return data.get("code", data.get("StatusCode"))
        return data.get("errcode")

    def _detail(self, payload: bytes) -> str:
        """``，errcode 310000，sign not match`` from a robot answer, or a body snippet."""
        data = _json_or_none(payload)
        code = self._code(data) if self.format != "json" else None
        if data is not None and code is not None:
            word = "code" if self.format == "feishu" else "errcode"
            message = str(data.get("msg", data.get("errmsg", data.get("StatusMessage", ""))))
            message = message[:200].strip()
            return f"，{word} {code}，{message}" if message else f"，{word} {code}"
        snippet = payload[:200].decode("utf-8", errors="replace").strip()
        return f"，响应：{snippet}" if snippet else ""

    def _failure(self, problem: str) -> NotifierError:
        text = f"通知 '{self.name}'（{self.platform}）发送失败：{problem}（{self.safe_url}）"
        return NotifierError(redact(text, self._secrets))

    def _timeout(self) -> NotifierError:
        text = (
            f"通知 '{self.name}'（{self.platform}）发送超时（{self.timeout:g} 秒，{self.safe_url}）"
        )
        return NotifierError(redact(text, self._secrets))


def dingtalk_sign(secret: str, now: float) -> tuple[str, str]:
    """钉钉加签: (timestamp in ms, URL-encoded base64 HMAC-SHA256 of "ts\\nsecret")."""
    timestamp = str(round(now * 1000))
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return timestamp, quote_plus(base64.b64encode(digest).decode("ascii"))


def feishu_sign(secret: str, now: float) -> tuple[str, str]:
    """飞书签名校验: (timestamp in s, base64 HMAC-SHA256 keyed by "ts\\nsecret" of b"")."""
    timestamp = str(int(now))
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return timestamp, base64.b64encode(digest).decode("ascii")


def webhook_factory(name: str, options: Mapping[str, Any]) -> WebhookNotifier:
    """Build a webhook notifier from ``url``, ``format``, ``secret``, ``timeout``, ``headers``."""
    opts = Options("webhook", name, options, ("url", "format", "secret", "timeout", "headers"))
    url = opts.required("url", env=True)
    fmt = opts.string("format", default="json", choices=FORMATS) or "json"
    secret = opts.string("secret", env=True)
    if secret and fmt == "wecom":
        raise opts.error("secret", "不适用于企业微信群机器人（它的密钥就是地址中的 key）")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise opts.error("url", "不是有效的地址") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise opts.error("url", "应是以 http:// 或 https:// 开头的完整地址")
    if fmt == "feishu" and "/hook/" not in parts.path:
        raise opts.error("url", "不像飞书机器人地址（应形如 …/open-apis/bot/v2/hook/<令牌>）")
    return WebhookNotifier(
        name,
        url,
        format=fmt,
        secret=secret,
        timeout=opts.number("timeout", 10.0),
        headers=opts.string_map("headers", env=True),
    )


@hookimpl
def huhang_register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register ``webhook``."""
    register("webhook", webhook_factory)
