"""Built-in notifier ``file``: append each notice as one JSON line to an outbox file.

Integrators tail the file (``tail -F``) or read it in batches. Each line is
``Notice.to_dict()`` plus ``notifier`` (the configured name) and ``sent_at`` (ISO 8601 with the
UTC offset). Every line is written with one ``write`` on a file opened for appending and then
fsync'ed, so readers never see half a line and a confirmed delivery survives a crash. Delivery is
at-least-once: deduplicate on ``notice_id``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kernel.escape import visible
from kernel.hookspecs import hookimpl
from kernel.notify.contract import Notifier, NotifierError, NotifierFactory, Options
from kernel.storage.contract import Notice


def _local_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


class FileNotifier(Notifier):
    """Appends notices as JSON lines to ``path``."""

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        timeout: float = 10.0,
        clock: Callable[[], dt.datetime] = _local_now,
    ) -> None:
        self.name = name
        self.path = path
        self.timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()

    def line(self, notice: Notice) -> bytes:
        """The JSON line (UTF-8, with the newline) written for ``notice``."""
        record = notice.to_dict()
        record["notifier"] = self.name
        record["sent_at"] = self._clock().isoformat(timespec="seconds")
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        return (visible(text) + "\n").encode("utf-8")  # still JSON: controls as \uXXXX

    def send(self, notice: Notice) -> None:
        """Append one line and fsync it; any file error raises :class:`NotifierError`."""
        data = self.line(notice)
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise NotifierError(f"通知 '{self.name}' 无法写入文件 {self.path}：{reason}") from None

    def describe(self) -> str:
        """``name: 文件 PATH``."""
        return f"{self.name}: 文件 {self.path}"

    def __repr__(self) -> str:
        return f"FileNotifier(name={self.name!r}, path={str(self.path)!r})"


def file_factory(name: str, options: Mapping[str, Any]) -> FileNotifier:
    """Build a file notifier. Options: ``path`` (required, ``${VAR}`` allowed), ``timeout``."""
    opts = Options("file", name, options, ("path", "timeout"))
    path = Path(opts.required("path", env=True)).expanduser()
    if path.is_dir():
        raise opts.error("path", f"指向的是目录而不是文件：{path}")
    return FileNotifier(name, path, timeout=opts.number("timeout", 10.0))


@hookimpl
def huhang_register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register ``file``."""
    register("file", file_factory)
