"""Signed session cookies with a CSRF token each; nothing about a session is kept on the server.

The cookie holds the account name, the account's ``generation``, the time of sign-in, the time
of the browser's last request and a random nonce, signed with HMAC-SHA256 under the console's
secret, so every worker process of ``huhang serve`` that shares the secret accepts it. It is
``Secure`` (unless the operator turns that off for a plain-HTTP test), ``HttpOnly`` and
``SameSite=Strict``. A session ends :data:`IDLE` after the browser's last request (the console
renews the cookie at most every :data:`RENEW_AFTER`), at the latest :data:`LIFETIME` after
sign-in; signing out ends that browser's session (its nonce is kept on the account until the
session would have expired), and every browser of the account ends when its ``generation``
changes: signing out everywhere, a new password, disabling. The CSRF token is the HMAC of the
nonce, so it is bound to the session, stays the same when the cookie is renewed and is never
guessable from outside.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass

COOKIE = "huhang_session"
#: the cookie of the sign-in form's CSRF token (there is no session yet)
LOGIN_COOKIE = "huhang_login_csrf"
#: a session ends this long after sign-in, however busy
LIFETIME = dt.timedelta(hours=10)
#: a session ends this long after the browser's last request
IDLE = dt.timedelta(minutes=30)
#: the cookie is renewed (its last-request time moved) at most this often
RENEW_AFTER = dt.timedelta(minutes=1)
#: the environment variable that gives every worker the same secret
SECRET_ENV = "HUHANG_WEB_SECRET"


@dataclass(frozen=True)
class Session:
    """One signed-in browser: ``sid`` is the cookie's value."""

    sid: str
    account: str
    generation: int
    csrf: str
    started: dt.datetime
    #: the time of the last request the cookie records (renewed by :meth:`SessionSigner.renew`)
    seen: dt.datetime
    #: the random value that names this session (kept on the account when it signs out)
    nonce: str = ""

    @property
    def ends(self) -> dt.datetime:
        """When the session ends at the latest (:data:`LIFETIME` after sign-in)."""
        return self.started + LIFETIME


def console_secret() -> bytes:
    """The secret from :data:`SECRET_ENV`, else a new random one (sessions end on restart)."""
    text = os.environ.get(SECRET_ENV, "")
    return text.encode() if len(text) >= 32 else secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Makes and checks session cookies under one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, text: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}|{text}".encode(), hashlib.sha256).digest())

    def _session(
        self, account: str, generation: int, started: dt.datetime, seen: dt.datetime, nonce: str
    ) -> Session:
        body = {
            "a": account,
            "g": generation,
            "t": int(started.timestamp()),
            "s": int(seen.timestamp()),
            "n": nonce,
        }
        text = _b64(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
        sid = f"{text}.{self._mac('session', text)}"
        return Session(sid, account, generation, self._mac("csrf", nonce), started, seen, nonce)

    def open(self, account: str, generation: int, now: dt.datetime) -> Session:
        """A new session for the account."""
        return self._session(account, generation, now, now, _b64(os.urandom(18)))

    def renew(self, session: Session, now: dt.datetime) -> Session | None:
        """The session with its last request moved to ``now``, or None if it is recent enough."""
        if now - session.seen < RENEW_AFTER:
            return None
        started, nonce = session.started, session.nonce
        return self._session(session.account, session.generation, started, now, nonce)

    def get(self, sid: str | None, now: dt.datetime) -> Session | None:
        """The session of a cookie if its signature holds and it has not expired, else None."""
        if not sid or sid.count(".") != 1:
            return None
        text, mac = sid.split(".")
        if not hmac.compare_digest(mac, self._mac("session", text)):
            return None
        try:
            body = json.loads(_unb64(text))
            started = dt.datetime.fromtimestamp(int(body["t"]), dt.UTC)
            seen = dt.datetime.fromtimestamp(int(body["s"]), dt.UTC)
            account, generation, nonce = str(body["a"]), int(body["g"]), str(body["n"])
        except (ValueError, KeyError, TypeError):
            return None
        if not started <= now <= started + LIFETIME or now > seen + IDLE:
            return None
        return Session(sid, account, generation, self._mac("csrf", nonce), started, seen, nonce)


def same_token(expected: str | None, given: str | None) -> bool:
    """Compare CSRF tokens in constant time; a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
