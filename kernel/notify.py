"""The notifier contract. Notifier types are plugins (``huhang_register_notifiers``).

A notifier sends one :class:`kernel.storage.Notice` somewhere (a terminal, a file, a robot
webhook, an e-mail). It never talks to the ledger: notices wait in the storage's outbox, and
:mod:`kernel.outbox` hands them to notifiers with a timeout, retries and back-off, so a notifier
that fails or hangs never loses a notice and never blocks the ledger.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from kernel.errors import InputError
from kernel.storage import Notice


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

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


NotifierFactory = Callable[[str, Mapping[str, Any]], Notifier]
