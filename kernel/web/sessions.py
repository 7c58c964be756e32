"""Server-side sessions with a CSRF token each; the browser holds only a random session id.

The cookie is ``Secure`` (unless the operator turns that off for a plain-HTTP test), ``HttpOnly``
and ``SameSite=Strict``. Sessions live in the serving process: a restart signs everyone out. A
session ends on sign-out, after :data:`IDLE` without a request, after :data:`LIFETIME`, and when
its account's ``generation`` changes (password changed, account disabled).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import threading
from dataclasses import dataclass, replace

COOKIE = "huhang_session"
#: the cookie of the sign-in form's CSRF token (there is no session yet)
LOGIN_COOKIE = "huhang_login_csrf"
IDLE = dt.timedelta(hours=2)
LIFETIME = dt.timedelta(hours=10)


@dataclass(frozen=True)
class Session:
    """One signed-in browser."""

    sid: str
    account: str
    generation: int
    csrf: str
    started: dt.datetime
    seen: dt.datetime


class SessionStore:
    """The open sessions of this process, by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def open(self, account: str, generation: int, now: dt.datetime) -> Session:
        """A new session with a fresh id and CSRF token."""
        session = Session(
            secrets.token_urlsafe(32), account, generation, secrets.token_urlsafe(32), now, now
        )
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None, now: dt.datetime) -> Session | None:
        """The live session of this id (and mark it seen), or None."""
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.seen > IDLE or now - session.started > LIFETIME:
                del self._sessions[sid]
                return None
            session = replace(session, seen=now)
            self._sessions[sid] = session
            return session

    def close(self, sid: str | None) -> None:
        """End a session (sign-out)."""
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)

    def close_account(self, account: str) -> None:
        """End every session of an account."""
        with self._lock:
            for sid in [s.sid for s in self._sessions.values() if s.account == account]:
                del self._sessions[sid]


def same_token(expected: str | None, given: str | None) -> bool:
    """Compare CSRF tokens in constant time; a missing one never matches."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
