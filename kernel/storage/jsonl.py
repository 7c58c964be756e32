"""Built-in storage: JSON lines, a readable export and import format.

URL forms: ``jsonl:///abs/ledger.jsonl``, ``jsonl:relative.jsonl`` or a bare path ending in
``.jsonl`` / ``.ndjson``. Three files sit side by side:

* ``<path>``: one event per line as :meth:`Event.to_json`; an event's ``seq`` is its line
  number (1-based).
* ``<path>.outbox.jsonl``: the outbox as append-only records, ``{"op": "notice", …}`` when a
  notice is queued and ``{"op": "delivery", …}`` for each delivery's status; the latest record
  of a delivery wins.
* ``<path>.lock``: ``flock``-ed exclusively by a writer (shared by a reader catching up), so
  transactions are exclusive across processes. While a commit of several lines is being
  written it holds the commit's intent (the file sizes before and after); a commit that a
  crash left half-written is cut off again by the next writer, and ignored by readers.

A transaction buffers its lines and writes them (then ``fsync``) only when it commits, so a
rolled-back transaction writes nothing. Each store keeps an index of the event file in memory
(offsets, ids, tickets, enterprises, types) and reads the lines another process appended
before it answers. POSIX only (``fcntl``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import sys
import threading
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kernel.errors import InputError
from kernel.hookspecs import hookimpl
from kernel.ledger.events import Event
from kernel.storage.contract import NOTICE_PENDING, Delivery, Notice, Storage, StorageFactory
from kernel.storage.sqlite import (
    datetime_from_text,
    datetime_key,
    datetime_text,
    existing_path,
    path_from_url,
    unique_notifiers,
)

log = logging.getLogger("huhang.storage.jsonl")

OUTBOX_SUFFIX = ".outbox.jsonl"
LOCK_SUFFIX = ".lock"
READ_CHUNK = 1 << 20


def _json_line(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lines(fd: int, start: int, end: int) -> Iterator[tuple[int, bytes, bool]]:
    """``(offset, line, complete)`` for the bytes ``[start, end)`` of a file.

    ``line`` keeps no newline; only the last one can be incomplete (no newline after it).
    """
    pos = start
    pending = b""
    while pos < end:
        chunk = os.pread(fd, min(READ_CHUNK, end - pos), pos)
        if not chunk:  # the file is shorter than it was a moment ago
            break
        pos += len(chunk)
        data = pending + chunk
        base = pos - len(data)
        begin = 0
        while True:
            newline = data.find(b"\n", begin)
            if newline < 0:
                break
            yield base + begin, data[begin:newline], True
            begin = newline + 1
        pending = data[begin:]
    if pending:
        yield pos - len(pending), pending, False


@dataclass(frozen=True)
class _Intent:
    """A commit being written: both files' sizes before and after it."""

    events: tuple[int, int]
    outbox: tuple[int, int]

    def done(self, events_size: int, outbox_size: int) -> bool:
        return events_size >= self.events[1] and outbox_size >= self.outbox[1]


class _Log:
    """One append-only JSON-lines file: its descriptor and how far it has been read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        if created:
            os.fsync(self.fd)
            _fsync_dir(path.parent)
        self.size = 0  # bytes read and accepted so far
        self.bare_tail = False  # the last accepted line has no newline (a hand-written file)
        self.warned_at = -1

    def file_size(self) -> int:
        return os.fstat(self.fd).st_size

    def check_same_file(self) -> None:
        try:
            same = os.stat(self.path).st_ino == os.fstat(self.fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            raise InputError(f"账本文件 {self.path} 在使用中被删除或替换，请重新打开")

    def scan(
        self, limit: int, accept: Callable[[int, dict[str, Any]], None], *, repair: bool
    ) -> None:
        """Pass the lines between ``size`` and ``limit`` to ``accept(offset, record)``.

        A last line without a newline counts if it is a whole JSON object (a hand-written
        file); otherwise it is a crash remnant, left out (and cut off when ``repair``). Any
        other line that is not a JSON object is an :class:`InputError`.
        """
        if limit < self.size:
            raise InputError(f"账本文件 {self.path} 比已读取的内容短，可能被截断或改写，请检查")
        start = self.size
        for offset, raw, complete in _lines(self.fd, start, limit):
            if offset == start and self.bare_tail and not raw.strip():
                self.size = offset + 1  # the newline a writer put after a bare last line
                self.bare_tail = False
                continue
            record = self._parse(raw)
            if complete or record is not None:
                if record is None:
                    raise InputError(f"账本文件 {self.path} 在字节 {offset} 处有一行不是 JSON 对象")
                accept(offset, record)
                self.size = offset + len(raw) + complete
                self.bare_tail = not complete
                continue
            # an incomplete last line: a crash while writing, or a file being edited
            if repair:
                log.warning(
                    "账本文件 %s 末尾有不完整的一行（%d 字节，可能是写入时中断），已删除",
                    self.path,
                    len(raw),
                )
                os.ftruncate(self.fd, offset)
                os.fsync(self.fd)
            elif self.warned_at != offset:
                self.warned_at = offset
                log.warning(
                    "账本文件 %s 末尾有不完整的一行（%d 字节，可能是写入时中断），已忽略",
                    self.path,
                    len(raw),
                )

    @staticmethod
    def _parse(raw: bytes) -> dict[str, Any] | None:
        try:
            record = json.loads(raw)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _JsonlTransaction:
    """Reads see the file plus this transaction's own inserts; writes wait for commit."""

    def __init__(self, store: JsonlStorage) -> None:
        self.store = store
        self.base = len(store._offsets)
        self.new_events: list[Event] = []
        self.new_ids: dict[str, Event] = {}
        self.new_notices: set[str] = set()
        self.records: list[dict[str, Any]] = []  # outbox lines to append on commit

    def get(self, event_id: str) -> Event | None:
        seq = self.store._by_id.get(event_id)
        if seq is not None:
            return self.store._read_event(seq)
        return self.new_ids.get(event_id)

    def ticket_events(self, ticket_id: str) -> list[Event]:
        stored = [self.store._read_event(s) for s in self.store._by_ticket.get(ticket_id, ())]
        return stored + [e for e in self.new_events if e.ticket_id == ticket_id]

    def enterprise_events(self, credit_code: str) -> list[Event]:
        types = self.store._types
        stored = [
            self.store._read_event(s)
            for s in self.store._by_enterprise.get(credit_code, ())
            if types[s - 1].startswith("enterprise.")
        ]
        return stored + [
            e
            for e in self.new_events
            if e.enterprise == credit_code and e.type.startswith("enterprise.")
        ]

    def insert(self, event: Event) -> int:
        if self.get(event.event_id) is not None:
            raise ValueError(f"event {event.event_id} already stored")
        seq = self.base + len(self.new_events) + 1
        stored = replace(event, seq=seq)
        self.new_events.append(stored)
        self.new_ids[event.event_id] = stored
        return seq

    def add_notice(self, notice: Notice, notifiers: list[str]) -> bool:
        if notice.notice_id in self.store._notices or notice.notice_id in self.new_notices:
            return False
        self.new_notices.add(notice.notice_id)
        self.records.append({"op": "notice", "notice": notice.to_dict()})
        self.records.extend(
            _delivery_record(Delivery(notice, name)) for name in unique_notifiers(notifiers)
        )
        return True


def _delivery_record(d: Delivery) -> dict[str, Any]:
    return {
        "op": "delivery",
        "notice_id": d.notice.notice_id,
        "notifier": d.notifier,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": datetime_text(d.next_attempt_at),
        "last_error": d.last_error,
    }


class JsonlStorage(Storage):
    """The ledger as JSON-lines files; safe for several threads and several processes."""

    @classmethod
    def open_existing(cls, url: str) -> JsonlStorage:
        """Open a ledger file that exists; never create one (``LedgerMissing`` instead)."""
        existing_path(url, "jsonl")
        return cls(url)

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_from_url(url, "jsonl")
        self._lock = threading.RLock()
        self._in_tx = False
        self._offsets = array("q")  # seq - 1 -> byte offset of the line
        self._types: list[str] = []  # seq - 1 -> event type
        self._by_id: dict[str, int] = {}
        self._by_ticket: dict[str, list[int]] = {}
        self._by_enterprise: dict[str, list[int]] = {}
        self._notices: dict[str, Notice] = {}
        self._deliveries: dict[tuple[str, str], Delivery] = {}
        self._lock_fd = -1
        self._events: _Log | None = None
        self._outbox: _Log | None = None
        try:
            self._lock_fd = os.open(
                Path(f"{self.path}{LOCK_SUFFIX}"), os.O_RDWR | os.O_CREAT, 0o644
            )
            self._events = _Log(self.path)
            self._outbox = _Log(Path(f"{self.path}{OUTBOX_SUFFIX}"))
            with self._lock:
                self._catch_up()
        except OSError as exc:
            self.close()
            raise InputError(f"无法打开账本文件 {self.path}：{exc.strerror or exc}") from exc
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ the files

    @property
    def _ev(self) -> _Log:
        if self._events is None:
            raise ValueError(f"{self.url}: the storage is closed")
        return self._events

    @property
    def _ob(self) -> _Log:
        if self._outbox is None:
            raise ValueError(f"{self.url}: the storage is closed")
        return self._outbox

    def _read_intent(self) -> _Intent | None:
        raw = os.pread(self._lock_fd, 4096, 0)
        try:
            data = json.loads(raw)
            (ev_before, ev_after), (ob_before, ob_after) = data["events"], data["outbox"]
            return _Intent((int(ev_before), int(ev_after)), (int(ob_before), int(ob_after)))
        except (ValueError, KeyError, TypeError):
            return None  # empty, or torn while being written (then nothing was appended)

    def _refresh(self, *, repair: bool) -> None:
        """Index what other processes committed; the caller holds the file lock.

        ``repair`` (a writer, holding the lock exclusively) also cuts off what a crashed
        writer left half-written; a reader just does not look at it.
        """
        ev, ob = self._ev, self._ob
        ev.check_same_file()
        ob.check_same_file()
        ev_limit, ob_limit = ev.file_size(), ob.file_size()
        intent = self._read_intent()
        if intent is not None and not intent.done(ev_limit, ob_limit):
            ev_limit, ob_limit = intent.events[0], intent.outbox[0]
            if repair:
                log.warning(
                    "账本文件 %s 有一次未写完的提交（进程曾中断），已撤销该次提交", self.path
                )
                for part, size in ((ev, ev_limit), (ob, ob_limit)):
                    os.ftruncate(part.fd, size)
                    os.fsync(part.fd)
        if intent is not None and repair:
            os.ftruncate(self._lock_fd, 0)
        ev.scan(ev_limit, self._index_event, repair=repair)
        ob.scan(ob_limit, self._index_outbox, repair=repair)

    def _catch_up(self) -> None:
        """Bring the index up to date for a reader (the caller holds ``_lock``)."""
        if self._in_tx:  # this thread's own transaction already refreshed (and holds the lock)
            return
        ev, ob = self._ev, self._ob
        if ev.file_size() == ev.size and ob.file_size() == ob.size:
            return  # nothing new was committed since the last look
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        try:
            self._refresh(repair=False)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _index_event(self, offset: int, record: dict[str, Any]) -> None:
        seq = len(self._offsets) + 1
        try:
            event = Event.from_dict(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"账本文件 {self.path} 第 {seq} 行不是有效的事件（{type(exc).__name__}: {exc}）"
            ) from exc
        if event.event_id in self._by_id:
            raise InputError(
                f"账本文件 {self.path} 第 {seq} 行的事件编号 {event.event_id} "
                f"与第 {self._by_id[event.event_id]} 行重复"
            )
        self._add_to_index(offset, event, seq)

    def _add_to_index(self, offset: int, event: Event, seq: int) -> None:
        self._offsets.append(offset)
        self._types.append(sys.intern(event.type))
        self._by_id[event.event_id] = seq
        if event.ticket_id is not None:
            self._by_ticket.setdefault(event.ticket_id, []).append(seq)
        if event.enterprise is not None:
            self._by_enterprise.setdefault(event.enterprise, []).append(seq)

    def _index_outbox(self, offset: int, record: dict[str, Any]) -> None:
        try:
            if record["op"] == "notice":
                notice = Notice.from_dict(record["notice"])
                self._notices.setdefault(notice.notice_id, notice)
                return
            key = (str(record["notice_id"]), str(record["notifier"]))
            current = self._deliveries.get(key)
            notice = current.notice if current is not None else self._notices[key[0]]
            self._deliveries[key] = Delivery(
                notice=notice,
                notifier=key[1],
                status=str(record["status"]),
                attempts=int(record["attempts"]),
                next_attempt_at=datetime_from_text(record.get("next_attempt_at")),
                last_error=record.get("last_error"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"发件箱文件 {self._ob.path} 在字节 {offset} 处的记录无效"
                f"（{type(exc).__name__}: {exc}）"
            ) from exc

    def _read_event(self, seq: int) -> Event:
        start = self._offsets[seq - 1]
        end = self._offsets[seq] if seq < len(self._offsets) else self._ev.size
        return Event.from_dict(json.loads(os.pread(self._ev.fd, end - start, start)), seq=seq)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock:
            if self._in_tx:
                raise RuntimeError(f"{self.url}: a transaction is already open in this thread")
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._in_tx = True
            try:
                self._refresh(repair=True)
                yield
            finally:
                self._in_tx = False
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _commit(self, events: list[Event], records: list[dict[str, Any]]) -> None:
        """Append and fsync the lines of one transaction (the caller holds the lock)."""
        if not events and not records:
            return
        ev, ob = self._ev, self._ob
        lead = b"\n" if events and ev.bare_tail else b""  # end a last line that has no newline
        ev_lines = [(e.to_json() + "\n").encode("utf-8") for e in events]
        ev_data = lead + b"".join(ev_lines)
        ob_data = b"\n" if records and ob.bare_tail else b""
        ob_data += b"".join(_json_line(r) for r in records)
        ev_before, ob_before = ev.size, ob.size
        intent = len(events) + len(records) > 1  # a single torn line is recognised anyway
        if intent:
            text = json.dumps(
                {
                    "events": [ev_before, ev_before + len(ev_data)],
                    "outbox": [ob_before, ob_before + len(ob_data)],
                }
            ).encode()
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, text, 0)
            os.fsync(self._lock_fd)
        try:
            if ev_data:
                _write_all(ev.fd, ev_data)
                os.fsync(ev.fd)
            if ob_data:
                _write_all(ob.fd, ob_data)
                os.fsync(ob.fd)
        except BaseException:
            try:  # undo what reached the files; the intent covers a crash during this
                os.ftruncate(ev.fd, ev_before)
                os.ftruncate(ob.fd, ob_before)
                os.fsync(ev.fd)
                os.fsync(ob.fd)
                os.ftruncate(self._lock_fd, 0)
            except OSError:
                log.exception("could not undo a failed commit to %s", self.path)
            raise
        if intent:
            os.ftruncate(self._lock_fd, 0)
        offset = ev_before + len(lead)
        for event, line in zip(events, ev_lines, strict=True):
            self._add_to_index(offset, event, len(self._offsets) + 1)
            offset += len(line)
        ev.size, ev.bare_tail = ev_before + len(ev_data), ev.bare_tail and not events
        for i, record in enumerate(records):
            self._index_outbox(ob_before + i, record)
        ob.size, ob.bare_tail = ob_before + len(ob_data), ob.bare_tail and not records

    @contextmanager
    def transaction(self) -> Iterator[_JsonlTransaction]:
        """Exclusive across threads and processes; the lines are written only on commit."""
        with self._exclusive():
            tx = _JsonlTransaction(self)
            yield tx
            self._commit(tx.new_events, tx.records)

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
        """Append the delivery's new status; KeyError for an unknown delivery."""
        with self._exclusive():
            current = self._deliveries.get((notice_id, notifier))
            if current is None:
                raise KeyError((notice_id, notifier))
            updated = replace(
                current,
                status=status,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                last_error=last_error,
            )
            self._commit([], [_delivery_record(updated)])

    # ------------------------------------------------------------------ reading

    def events(
        self,
        *,
        after_seq: int = 0,
        ticket_id: str | None = None,
        enterprise: str | None = None,
        types: tuple[str, ...] | None = None,
    ) -> Iterator[Event]:
        """Stream the events committed when the iteration starts, in ``seq`` order."""
        with self._lock:
            self._catch_up()
            count = len(self._offsets)
            end = self._ev.size
            fd = self._ev.fd
            chosen: list[int] | None = None
            if ticket_id is not None:
                chosen = list(self._by_ticket.get(ticket_id, ()))
            elif enterprise is not None:
                chosen = list(self._by_enterprise.get(enterprise, ()))
            after_seq = max(after_seq, 0)
            start = self._offsets[after_seq] if after_seq < count else end
        type_of = self._types  # only grows, so positions below ``count`` stay valid

        def wanted(seq: int) -> bool:
            return types is None or type_of[seq - 1] in types

        def finish(seq: int, record: dict[str, Any]) -> Event | None:
            event = Event.from_dict(record, seq=seq)
            if ticket_id is not None and event.ticket_id != ticket_id:
                return None
            if enterprise is not None and event.enterprise != enterprise:
                return None
            return event

        if chosen is not None:
            for seq in chosen:
                if seq > after_seq and wanted(seq):
                    found = finish(seq, json.loads(self._line(fd, seq, count, end)))
                    if found is not None:
                        yield found
            return
        seq = after_seq
        for _, raw, _complete in _lines(fd, start, end):
            seq += 1
            if seq > count:
                return
            if wanted(seq):
                found = finish(seq, json.loads(raw))
                if found is not None:
                    yield found

    def _line(self, fd: int, seq: int, count: int, end: int) -> bytes:
        start = self._offsets[seq - 1]
        stop = self._offsets[seq] if seq < count else end
        return os.pread(fd, stop - start, start)

    def count(self) -> int:
        """How many events are stored (committed)."""
        with self._lock:
            self._catch_up()
            return len(self._offsets)

    def deliveries(self, *, status: str | None = None) -> list[Delivery]:
        """Outbox entries in the order they were queued."""
        with self._lock:
            self._catch_up()
            return [d for d in self._deliveries.values() if status is None or d.status == status]

    def due_deliveries(self, now: dt.datetime, limit: int = 100) -> list[Delivery]:
        """Pending deliveries whose next attempt is at or before ``now``, oldest first."""
        key = datetime_key(now)
        with self._lock:
            self._catch_up()
            due = [
                d
                for d in self._deliveries.values()
                if d.status == NOTICE_PENDING
                and (d.next_attempt_at is None or datetime_key(d.next_attempt_at) <= key)
            ]
        return due[: max(limit, 0)]

    def close(self) -> None:
        """Close the files (idempotent)."""
        with self._lock:
            for part in (self._events, self._outbox):
                if part is not None:
                    part.close()
            self._events = self._outbox = None
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1


@hookimpl
def huhang_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register ``jsonl:`` (also the backend of a bare ``.jsonl`` / ``.ndjson`` path)."""
    register("jsonl", JsonlStorage)
