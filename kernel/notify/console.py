"""Built-in notifier ``console``: print each notice as a short Chinese block.

What the built-in notifiers share (:func:`~kernel.notify.contract.render_text`,
:class:`~kernel.notify.contract.Options`, ``${ENV_VAR}`` expansion) is in
:mod:`kernel.notify.contract`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from kernel.hookspecs import hookimpl
from kernel.notify.contract import (
    Notifier,
    NotifierError,
    NotifierFactory,
    Options,
    render_text,
)
from kernel.storage.contract import Notice


class ConsoleNotifier(Notifier):
    """Prints notices to standard output (or to ``stream``)."""

    def __init__(self, name: str, *, stream: TextIO | None = None, timeout: float = 10.0) -> None:
        self.name = name
        self.timeout = timeout
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, notice: Notice) -> None:
        """Print the notice block; a broken stream raises :class:`NotifierError`."""
        stream = self._stream if self._stream is not None else sys.stdout
        block = render_text(notice)
        rule = "─" * 24
        try:
            with self._lock:
                stream.write(f"{rule}\n{block}\n{rule}\n")
                stream.flush()
        except (OSError, ValueError) as exc:  # ValueError: write to a closed file
            raise NotifierError(f"通知 '{self.name}' 无法输出到终端：{exc}") from None

    def describe(self) -> str:
        """``name: 终端输出``."""
        return f"{self.name}: 终端输出"

    def __repr__(self) -> str:
        return f"ConsoleNotifier(name={self.name!r})"


def console_factory(name: str, options: Mapping[str, Any]) -> ConsoleNotifier:
    """Build a console notifier. Options: ``timeout``; ``stream`` (tests and embedding)."""
    opts = Options("console", name, options, ("stream", "timeout"))
    stream = opts.raw.get("stream")
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise opts.error("stream", "应是可写入的文本流")
    return ConsoleNotifier(name, stream=stream, timeout=opts.number("timeout", 10.0))


@hookimpl
def huhang_register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register ``console``."""
    register("console", console_factory)
