"""The notifier contract. Notifier types are plugins (``huhang_register_notifiers``).

A notifier sends one :class:`kernel.storage.contract.Notice` somewhere (a terminal, a file, a robot
webhook, an e-mail). It never talks to the ledger: notices wait in the storage's outbox, and
:mod:`kernel.notify.outbox` hands them to notifiers with a timeout, retries and back-off, so a notifier
that fails or hangs never loses a notice and never blocks the ledger.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from kernel.errors import InputError
from kernel.escape import add_secret, visible
from kernel.inputs.suggest import did_you_mean
from kernel.storage.contract import Notice
from kernel.vocabulary import NOTICE_KIND_WORDS


class NotifierError(Exception):
    """A delivery failed; the outbox will retry. The message must not contain secrets."""


class NotifierConfigError(InputError):
    """A ``notifiers:`` entry in the configuration is wrong (exit code 2)."""


class Notifier(ABC):
    """Sends notices to one destination."""

    #: the name of this notifier in the configuration (and in the outbox)
    name: str = ""
    #: seconds a single delivery may take before it counts as failed
    timeout: float = 10.0

    @abstractmethod
    def send(self, notice: Notice) -> None:
        """Deliver one notice, or raise :class:`NotifierError`."""

    def describe(self) -> str:
        """One line for ``huhang plugins`` and logs, without secrets."""
        return self.name

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in logs or errors (keys, tokens, passwords)."""
        return ()

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


NotifierFactory = Callable[[str, Mapping[str, Any]], Notifier]


#: Chinese names of the notice kinds
KIND_LABELS = NOTICE_KIND_WORDS

#: keys a configuration entry may carry besides the notifier's own options
ENTRY_KEYS = frozenset({"type", "name"})

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def kind_label(notice: Notice) -> str:
    """``督办`` for ``supervision``; unknown kinds as they are."""
    return KIND_LABELS.get(notice.kind, notice.kind)


def chinese_date(notice: Notice) -> str:
    """The notice date as ``2026年3月2日``."""
    return f"{notice.day.year}年{notice.day.month}月{notice.day.day}日"


def render_text(notice: Notice) -> str:
    """The plain-text form of a notice (console, e-mail, robots without markdown).

    The kind is shown once, here (``【督办】``): a notice's title never carries it.
    """
    lines = [
        f"【{kind_label(notice)}】{notice.title}",
        f"单位：{notice.unit}",
        f"日期：{chinese_date(notice)}",
    ]
    if notice.ticket_id:
        lines.append(f"办理单：{notice.ticket_id}")
    lines += ["", notice.body.strip(), "", f"通知编号：{notice.notice_id}"]
    return visible("\n".join(lines))  # names and summaries come from input: no raw controls


def expand_env(value: str, error: Callable[[str], NotifierConfigError]) -> str:
    """Replace each ``${NAME}`` with the environment variable; unset or empty is an error.

    Every value put in is remembered as a secret (:func:`kernel.escape.add_secret`).

    ``error(problem)`` builds the configuration error (it names the notifier and option).
    """

    def lookup(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if not found:
            raise error(f"引用的环境变量 {match.group(1)} 未设置或为空")
        add_secret(found)  # masked wherever it would be shown: URL paths, errors, the outbox
        return found

    return _ENV_REF.sub(lookup, value)


class Options:
    """Checked access to the options of one ``notifiers:`` entry, with Chinese errors."""

    def __init__(
        self, kind: str, name: str, raw: Mapping[str, Any] | None, allowed: Iterable[str]
    ) -> None:
        self.kind = kind
        self.name = name
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise NotifierConfigError(f"通知方式 '{name}'（{kind}）的选项应是键值对")
        self.raw = raw
        known = set(allowed)
        for key in raw:
            if key not in known and key not in ENTRY_KEYS:
                hint = did_you_mean(str(key), known)
                raise self.error(str(key), f"不认识（可用：{'、'.join(sorted(known))}）{hint}")

    def error(self, option: str, problem: str) -> NotifierConfigError:
        """A configuration error naming the notifier and the option."""
        return NotifierConfigError(
            f"通知方式 '{self.name}'（{self.kind}）的选项 {option} {problem}"
        )

    def string(
        self,
        key: str,
        *,
        default: str | None = None,
        required: bool = False,
        env: bool = False,
        choices: Iterable[str] | None = None,
    ) -> str | None:
        """A string option; ``env`` expands ``${VAR}``; ``choices`` limits the values."""
        value = self.raw.get(key)
        if value is None:
            if required:
                raise self.error(key, "是必填项")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, "应是字符串")
        text = str(value).strip()
        if env:
            text = expand_env(text, partial(self.error, key))
        if not text:
            if required:
                raise self.error(key, "不能为空")
            return default
        if choices is not None:
            options = list(choices)
            if text not in options:
                hint = did_you_mean(text, options)
                raise self.error(key, f"应是 {'、'.join(options)} 之一，而不是 '{text}'{hint}")
        return text

    def required(self, key: str, *, env: bool = False) -> str:
        """A string option that must be present and non-empty."""
        value = self.string(key, required=True, env=env)
        assert value is not None
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        """A positive number of seconds (or similar); must exceed ``minimum``."""
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"应是数字，而不是 {value!r}")
        if value <= minimum:
            raise self.error(key, f"应大于 {minimum:g}")
        return float(value)

    def integer(self, key: str, default: int | None, *, low: int, high: int) -> int | None:
        """An integer option in ``[low, high]``."""
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"应是整数，而不是 {value!r}")
        if not low <= value <= high:
            raise self.error(key, f"应在 {low} 到 {high} 之间")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false option."""
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"应是 true 或 false，而不是 {value!r}")
        return value

    def string_list(self, key: str, *, required: bool = False) -> list[str]:
        """A list of strings (a single string counts as a list of one)."""
        value = self.raw.get(key)
        if value is None:
            if required:
                raise self.error(key, "是必填项")
            return []
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise self.error(key, "应是字符串列表")
        out = [i.strip() for i in items if i.strip()]
        if required and not out:
            raise self.error(key, "不能为空")
        return out

    def string_map(self, key: str, *, env: bool = False) -> dict[str, str]:
        """A mapping of strings to strings (for example HTTP headers)."""
        value = self.raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise self.error(key, "应是「名称: 字符串值」的键值对")
        if not env:
            return dict(value)
        return {k: expand_env(v, partial(self.error, f"{key}.{k}")) for k, v in value.items()}
