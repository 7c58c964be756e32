"""Console accounts: add, change a password, disable, and check a sign-in with its lockout.

Passwords are hashed with Argon2id (argon2-cffi, the reference implementation's binding) and
only the hash is stored, in the ledger database (``accounts``, see the storage backends). After
:data:`MAX_FAILURES` failed sign-ins in a row an account is locked for :data:`LOCK_FOR`; a
correct password while it is locked is refused too, so guessing gains nothing. Times are
arguments (``now``): the caller supplies the clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from dataclasses import replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.errors import InputError
from kernel.storage.contract import AccountRecord, Storage

ROLES = ("office", "unit", "auditor")
#: failed sign-ins in a row that lock an account
MAX_FAILURES = 5
#: how long a locked account stays locked
LOCK_FOR = dt.timedelta(minutes=15)
MIN_PASSWORD = 8
_NAME = re.compile(r"^[\w.\-@\u4e00-\u9fff]{1,64}$")

_hasher = PasswordHasher()
#: a hash to verify against when the name is unknown, so both cases take the same time
_DUMMY = _hasher.hash("huhang-no-such-account")


class SignInRefused(InputError):
    """A sign-in that failed: wrong name or password, disabled or locked (one plain message)."""


def check_password(password: str) -> None:
    """Refuse a password that is too short."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"密码至少需要 {MIN_PASSWORD} 个字符")


def add_account(
    storage: Storage, name: str, password: str, *, principal: str, unit: str, role: str
) -> AccountRecord:
    """Create an account; refuses a taken name, an unknown role or a short password."""
    if not _NAME.match(name):
        raise InputError(f"账号名 {name!r} 只能包含汉字、字母、数字和 . - _ @，最长 64 个字符")
    if role not in ROLES:
        raise InputError(f"角色 {role!r} 不存在，可选：{'、'.join(ROLES)}")
    if not principal or not unit:
        raise InputError("账号必须绑定主体名称和单位")
    check_password(password)
    if storage.account(name) is not None:
        raise InputError(f"账号 {name} 已存在")
    record = AccountRecord(
        name=name,
        password_hash=_hasher.hash(password),
        principal=principal,
        unit=unit,
        role=role,
    )
    storage.save_account(record)
    return record


def _existing(storage: Storage, name: str) -> AccountRecord:
    record = storage.account(name)
    if record is None:
        raise InputError(f"账号 {name} 不存在")
    return record


def set_password(storage: Storage, name: str, password: str) -> AccountRecord:
    """Change the password, unlock the account and end its sessions."""
    check_password(password)
    record = _existing(storage, name)
    record = replace(
        record,
        password_hash=_hasher.hash(password),
        failures=0,
        locked_until=None,
        generation=record.generation + 1,
    )
    storage.save_account(record)
    return record


def disable_account(storage: Storage, name: str) -> AccountRecord:
    """Disable the account and end its sessions."""
    record = _existing(storage, name)
    record = replace(record, disabled=True, generation=record.generation + 1)
    storage.save_account(record)
    return record


def sign_in(storage: Storage, name: str, password: str, now: dt.datetime) -> AccountRecord:
    """The account if the password is right and it may sign in; :class:`SignInRefused` if not."""
    record = storage.account(name)
    if record is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY, password)
        raise SignInRefused("账号或密码不正确")
    if record.locked_until is not None and record.locked_until > now:
        minutes = max(1, int((record.locked_until - now).total_seconds() // 60) + 1)
        raise SignInRefused(f"连续登录失败次数过多，账号已锁定，请 {minutes} 分钟后再试")
    try:
        _hasher.verify(record.password_hash, password)
    except (VerificationError, InvalidHashError):
        failures = record.failures + 1
        locked = now + LOCK_FOR if failures >= MAX_FAILURES else None
        storage.save_account(
            replace(record, failures=0 if locked else failures, locked_until=locked)
        )
        if locked is not None:
            raise SignInRefused(
                f"连续 {MAX_FAILURES} 次登录失败，账号已锁定 {int(LOCK_FOR.total_seconds() // 60)} 分钟"
            ) from None
        raise SignInRefused("账号或密码不正确") from None
    if record.disabled:
        raise SignInRefused("账号已停用，请联系助商稳企办")
    if record.failures or record.locked_until:
        record = replace(record, failures=0, locked_until=None)
        storage.save_account(record)
    return record


def end_session(
    storage: Storage, name: str, nonce: str, ends: dt.datetime, now: dt.datetime
) -> None:
    """End one browser's session (signing out): its nonce is kept until the session would have
    expired, and the nonces of sessions that have expired since are dropped."""
    record = storage.account(name)
    if record is None:
        return
    kept = {k: v for k, v in record.signed_out if dt.datetime.fromisoformat(v) > now}
    kept[nonce] = ends.isoformat()
    storage.save_account(replace(record, signed_out=tuple(sorted(kept.items()))))


def end_sessions(storage: Storage, name: str) -> None:
    """End every open session of the account (signing out everywhere)."""
    record = storage.account(name)
    if record is not None:
        storage.save_account(replace(record, generation=record.generation + 1, signed_out=()))
