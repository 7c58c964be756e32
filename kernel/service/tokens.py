"""API access tokens: made once, shown once, stored only as a SHA-256 digest.

A token reads ``hh_<id>_<secret>``: ``id`` (12 hex digits) names the stored record, ``secret``
(43 URL-safe characters, 256 random bits) is never stored. A token this random needs no slow
hash: the digest cannot be reversed and cannot be guessed. Checking compares digests in
constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from kernel.errors import InputError
from kernel.service.access import ROLES, Principal
from kernel.storage.contract import Storage, TokenRecord

PREFIX = "hh_"
_TOKEN = re.compile(r"^hh_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
#: longest principal name (it is recorded on every event the token submits)
NAME_MAX = 64


def digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is shown to the user once and never again."""

    token: str
    record: TokenRecord


def create_token(
    storage: Storage,
    *,
    name: str,
    unit: str,
    role: str,
    now: dt.datetime,
    expires_at: dt.datetime | None = None,
) -> NewToken:
    """Make and store a token for a principal."""
    if role not in ROLES:
        raise InputError(f"角色 '{role}' 无效，应为 {'、'.join(ROLES)} 之一")
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise InputError(f"令牌名称应为 1 到 {NAME_MAX} 个可显示字符")
    if expires_at is not None and expires_at <= now:
        raise InputError(f"过期时间 {expires_at.isoformat()} 早于现在")
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    record = TokenRecord(
        token_id=token_id,
        digest=digest(token),
        name=name,
        unit=unit,
        role=role,
        created_at=now,
        expires_at=expires_at,
    )
    storage.add_token(record)
    return NewToken(token, record)


def token_state(record: TokenRecord, now: dt.datetime) -> str:
    """``active``, ``expired`` or ``revoked`` at ``now``."""
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"


TOKEN_STATE_WORDS = {"active": "有效", "expired": "已过期", "revoked": "已吊销"}


def authenticate(storage: Storage, token: str, now: dt.datetime) -> Principal | None:
    """The principal of a valid token at ``now``, or None (unknown, wrong, expired, revoked)."""
    match = _TOKEN.match(token)
    if match is None:
        return None
    record = storage.token(match.group(1))
    if record is None or not hmac.compare_digest(record.digest, digest(token)):
        return None
    if token_state(record, now) != "active":
        return None
    return Principal(record.name, record.unit, record.role, record.token_id)
