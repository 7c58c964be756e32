"""The only module that imports durable_rules.

It drives the C extension ``durable_rules_engine`` directly and hides its traps (see
docs/internals/engine.md) behind a small interface:

* one reused session (the default sid) for every evaluation: the extension fails after 1,024
  live sessions and ``delete_state`` can abort the process, so no sid is ever created per ticket;
* first match posts the message as an *event* (only the lowest ``pri`` fires); collect asserts
  it as a *fact*, drains every fired rule, de-duplicates (a rule fires once per ``$or`` branch)
  and always retracts the fact, so an identical later ticket is not "already observed";
* "no rule matched" (code 1) is an ordinary result, not an exception; any other non-zero code
  raises :class:`EngineError` -- nothing is swallowed, and no ``Host``, action callback or timer
  thread is ever started;
* every rule is guarded by the discriminator ``_k == 1`` that every message carries, so a rule
  that only tests absence (``$nex``) cannot match the engine's own state fact and loop;
* messages and rule definitions are written by one JSON encoder (``ensure_ascii=False``, numbers
  without exponents), and only ``_k`` plus the compiler's own field names are sent, so business
  ids can never collide with the engine's ``id``/``sid``;
* each :class:`Engine` gets a fresh, unique ruleset name, so rules can be replaced at run time by
  building a new engine and closing the old one; a lock serialises calls, since the extension
  never releases the GIL and a ruleset is not safe to share between threads.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import durable_rules_engine as _dre

from kernel.errors import EngineError, InputError

DISCRIMINATOR = "_k"
_CODE_NOT_HANDLED = 1
_CODE_OBSERVED = 2
_names = itertools.count(1)
_CODE_RE = re.compile(r"error code: (\d+)")

# The extension's fixed limits; the rule loader keeps well below them.
MAX_RULES = 4096
MAX_PRI = 65535


def encode(value: Any) -> str:
    """JSON text for durable-rules: UTF-8 text as is, numbers never in exponent form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} cannot be sent to the engine")
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{encode(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(v) for v in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} for the engine")


#: The C string encoder, UTF-8 kept as is (what ensure_ascii=False writes), twice as fast.
encode_text: Callable[[str], str] = json.encoder.encode_basestring
_encode_text = encode_text


def encode_scalar(value: Any) -> str:
    """:func:`encode` for one field value, strings first (the hot path of every evaluation)."""
    kind = type(value)
    if kind is str:
        return _encode_text(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    return encode(value)


class EngineLimitExceeded(InputError):
    """A rule set the engine cannot evaluate for some ticket (too many tests hold at once)."""


# durable-rules keeps at most 64 matched tests per message on a fixed stack (code 303).
_STACK_LIMIT_CODE = 303


def _raise(exc: Exception, detail: str) -> EngineError | EngineLimitExceeded:
    match = _CODE_RE.search(str(exc))
    code = int(match.group(1)) if match else -1
    if code == _STACK_LIMIT_CODE:
        return EngineLimitExceeded(
            "这张办理单同时满足的规则测试超过了 durable-rules 的上限（约 64 个），无法评估；"
            "请拆分规则文件或合并相近的条件（huhang lint 会指出哪个文件）"
        )
    return EngineError(code, f"{detail}: {exc}")


class Engine:
    """A compiled set of conditions, evaluated by durable-rules.

    ``conditions[i]`` is the durable-rules test of rule ``i`` (without the discriminator), or
    None for a rule that always holds. Rule ``i`` has priority ``i``: under first match the
    earliest rule in the list wins.
    """

    def __init__(self, conditions: Sequence[Mapping[str, Any] | None]) -> None:
        if len(conditions) > min(MAX_RULES, MAX_PRI):
            raise ValueError(f"{len(conditions)} rules exceed the engine's limit of {MAX_RULES}")
        self.size = len(conditions)
        self.name = f"huhang-{next(_names)}"
        definition: dict[str, Any] = {}
        for index, condition in enumerate(conditions):
            tests: list[Any] = [{DISCRIMINATOR: 1}]
            if condition is not None:
                tests.append(condition)
            definition[f"r{index}"] = {"pri": index, "all": [{"m": {"$and": tests}}]}
        self.definition_json = encode(definition)
        self._lock = threading.Lock()
        try:
            self._handle: int | None = _dre.create_ruleset(self.name, self.definition_json)
        except _dre.error as exc:
            raise _raise(exc, "create_ruleset") from exc

    # ------------------------------------------------------------------ evaluation

    def message(self, fields: Mapping[str, Any]) -> str:
        """The JSON message for a flat mapping of compiled field names to values."""
        if DISCRIMINATOR in fields or "id" in fields or "sid" in fields:
            raise ValueError("message fields must not use the engine's reserved names")
        # Keys are the compiler's own ASCII names (f_..., n_..., h0_...), safe to write as is.
        body = ",".join(f'"{k}":{encode_scalar(v)}' for k, v in fields.items())
        return "{" + f'"{DISCRIMINATOR}":1' + ("," + body if body else "") + "}"

    def first(self, fields: Mapping[str, Any]) -> int | None:
        """Index of the first rule (lowest index) that holds, or None when none does."""
        return self.first_text(self.message(fields))

    def collect(self, fields: Mapping[str, Any]) -> list[int]:
        """Indexes of every rule that holds, ascending and without duplicates."""
        return self.collect_text(self.message(fields))

    def first_text(self, text: str) -> int | None:
        """:meth:`first` for a message already encoded (see :meth:`message`)."""
        with self._lock:
            handle = self._handle
            if handle is None:
                raise RuntimeError(f"engine {self.name} is closed")
            try:
                code, state = _dre.assert_event(handle, text)
            except _dre.error as exc:
                raise _raise(exc, "assert_event") from exc
            if code == _CODE_NOT_HANDLED:
                return None
            if code:
                self._check(code, "assert_event")
            fired = self._drain(handle, state)
        if not fired:
            return None
        return fired[0] if len(fired) == 1 else min(fired)

    def collect_text(self, text: str) -> list[int]:
        """:meth:`collect` for a message already encoded (see :meth:`message`)."""
        fired = self.fired_text(text)
        if len(fired) < 2:
            return list(fired)
        return sorted(set(fired))

    def fired_text(self, text: str) -> tuple[int, ...]:
        """The rules that fired for an encoded message, as the engine gave them.

        In firing order, a rule once per ``$or`` branch that held: :meth:`collect_text` without
        its sort, for a caller that keys what it derives from a fired set on this tuple.
        """
        with self._lock:
            handle = self._handle
            if handle is None:
                raise RuntimeError(f"engine {self.name} is closed")
            try:
                try:
                    code, state = _dre.assert_fact(handle, text)
                except _dre.error as exc:
                    raise _raise(exc, "assert_fact") from exc
                if code == _CODE_NOT_HANDLED:
                    return ()
                if code:
                    self._check(code, "assert_fact")
                return tuple(self._drain(handle, state))
            finally:
                try:
                    _dre.retract_fact(handle, text)
                except _dre.error as exc:  # pragma: no cover - would mean a corrupt session
                    raise _raise(exc, "retract_fact") from exc

    def _drain(self, handle: int, state: int) -> list[int]:
        fired: list[int] = []
        try:
            result = _dre.start_action_for_state(handle, state)
            if not result:
                return fired
            text = result[1]
            start = _dre.complete_and_start_action
            while text:
                # The action message is {"r<index>": {...}}; the key is always first (anything
                # else fails to parse as an index below).
                fired.append(int(text[3 : text.index('"', 3)]))
                text = start(handle, state)
            return fired
        except _dre.error as exc:
            raise _raise(exc, "start_action") from exc
        except ValueError as exc:
            raise EngineError(-1, f"unexpected action message {text[:40]!r}") from exc

    @staticmethod
    def _check(code: int, detail: str) -> None:
        if code == _CODE_OBSERVED:
            raise EngineError(code, f"{detail}: the fact was already asserted (not retracted)")
        if code != 0:
            raise EngineError(code, detail)

    def _live(self) -> int:
        if self._handle is None:
            raise RuntimeError(f"engine {self.name} is closed")
        return self._handle

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Free the ruleset. The engine cannot be used afterwards."""
        with self._lock:
            if self._handle is not None:
                handle, self._handle = self._handle, None
                _dre.delete_ruleset(handle)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()
