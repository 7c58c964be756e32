"""Built-in storage: everything in memory (tests, scenarios, what-if replays)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from kernel.hookspecs import hookimpl
from kernel.ledger.events import Event
from kernel.storage.contract import (
    NOTICE_PENDING,
    AccountRecord,
    Delivery,
    Notice,
    Storage,
    StorageFactory,
    TokenRecord,
)


class _MemoryTransaction:
    def __init__(self, store: MemoryStorage) -> None:
        self.store = store
        self.new_events: list[Event] = []
        self.new_by_id: dict[str, Event] = {}
        self.new_deliveries: list[Delivery] = []
        self.new_notices: set[str] = set()

    def get(self, event_id: str) -> Event | None:
        return self.store._by_id.get(event_id) or self.new_by_id.get(event_id)

    def ticket_events(self, ticket_id: str) -> list[Event]:
        stored = [self.store._events[i] for i in self.store._by_ticket.get(ticket_id, [])]
        return stored + [e for e in self.new_events if e.ticket_id == ticket_id]

    def enterprise_events(self, credit_code: str) -> list[Event]:
        stored = [self.store._events[i] for i in self.store._by_enterprise.get(credit_code, [])]
        return stored + [
            e
            for e in self.new_events
            if e.enterprise == credit_code and e.type.startswith("enterprise.")
        ]

    def insert(self, event: Event) -> int:
        if self.get(event.event_id) is not None:
            raise ValueError(f"event {event.event_id} already stored")
        seq = len(self.store._events) + len(self.new_events) + 1
        stored = replace(event, seq=seq)
        self.new_events.append(stored)
        self.new_by_id[event.event_id] = stored
        return seq

    def add_notice(self, notice: Notice, notifiers: list[str]) -> bool:
        if notice.notice_id in self.store._notice_ids or notice.notice_id in self.new_notices:
            return False
        self.new_notices.add(notice.notice_id)
        self.new_deliveries.extend(Delivery(notice, name) for name in dict.fromkeys(notifiers))
        return True


class MemoryStorage(Storage):
    """A process-local store; nothing survives the process."""

    def __init__(self, url: str = "memory:") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._events: list[Event] = []
        self._by_id: dict[str, Event] = {}
        self._by_ticket: dict[str, list[int]] = {}
        self._by_enterprise: dict[str, list[int]] = {}
        self._in_transaction = threading.local()
        self._deliveries: list[Delivery] = []
        self._notice_ids: set[str] = set()
        self._tokens: dict[str, TokenRecord] = {}
        self._accounts: dict[str, AccountRecord] = {}

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        with self._lock:
            if getattr(self._in_transaction, "active", False):
                raise RuntimeError("transactions cannot be nested")
            self._in_transaction.active = True
            try:
                tx = _MemoryTransaction(self)
                yield tx
            finally:
                self._in_transaction.active = False
            for event in tx.new_events:  # commit only after the block succeeded
                position = len(self._events)
                self._by_id[event.event_id] = event
                if event.ticket_id is not None:
                    self._by_ticket.setdefault(event.ticket_id, []).append(position)
                if event.enterprise is not None and event.type.startswith("enterprise."):
                    self._by_enterprise.setdefault(event.enterprise, []).append(position)
                self._events.append(event)
            self._deliveries.extend(tx.new_deliveries)
            self._notice_ids.update(tx.new_notices)

    def events(
        self,
        *,
        after_seq: int = 0,
        ticket_id: str | None = None,
        enterprise: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[Event]:
        with self._lock:
            if ticket_id is not None:
                snapshot = [self._events[i] for i in self._by_ticket.get(ticket_id, [])]
            else:
                snapshot = list(self._events[after_seq:])
        for event in snapshot:
            if (event.seq or 0) <= after_seq:
                continue
            if enterprise is not None and event.enterprise != enterprise:
                continue
            if types is not None and event.type not in types:
                continue
            yield event

    def count(self) -> int:
        return len(self._events)

    def add_token(self, record: TokenRecord) -> None:
        """Keep a token record (its id must be new)."""
        with self._lock:
            if record.token_id in self._tokens:
                raise ValueError(f"token {record.token_id} already stored")
            self._tokens[record.token_id] = record

    def tokens(self) -> list[TokenRecord]:
        """Every token record, oldest first."""
        with self._lock:
            return list(self._tokens.values())

    def revoke_token(self, token_id: str, at: dt.datetime) -> bool:
        """Mark a token revoked; False if unknown or already revoked."""
        with self._lock:
            record = self._tokens.get(token_id)
            if record is None or record.revoked_at is not None:
                return False
            self._tokens[token_id] = replace(record, revoked_at=at)
            return True

    def deliveries(self, *, status: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if status is None or d.status == status]

    def due_deliveries(self, now: dt.datetime, limit: int = 100) -> list[Delivery]:
        with self._lock:
            due = [
                d
                for d in self._deliveries
                if d.status == NOTICE_PENDING
                and (d.next_attempt_at is None or d.next_attempt_at <= now)
            ]
        return due[:limit]

    def update_delivery(
        self,
        notice_id: str,
        notifier: str,
        *,
        status: str,
        attempts: int,
        next_attempt_at: dt.datetime | None,
        last_error: str | None,
    ) -> None:
        with self._lock:
            for i, d in enumerate(self._deliveries):
                if d.notice.notice_id == notice_id and d.notifier == notifier:
                    self._deliveries[i] = replace(
                        d,
                        status=status,
                        attempts=attempts,
                        next_attempt_at=next_attempt_at,
                        last_error=last_error,
                    )
                    return
        raise KeyError((notice_id, notifier))

    def accounts(self) -> list[AccountRecord]:
        """Every console account, by name."""
        with self._lock:
            return [self._accounts[name] for name in sorted(self._accounts)]

    def save_account(self, record: AccountRecord) -> None:
        """Store an account, replacing the one of the same name."""
        with self._lock:
            self._accounts[record.name] = record


@hookimpl
def huhang_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register ``memory:``."""
    register("memory", MemoryStorage)
