"""The storage contract as a reusable pytest suite: run it against every ledger backend.

An integrator subclasses :class:`StorageContract` in a test module, provides the ``storage``
fixture (a fresh, empty store per test) and, for a persistent backend, ``reopen``::

    from collections.abc import Iterator
    import pytest
    from kernel.storage.contract import Storage
    from kernel.testing.storage_contract import StorageContract
    from my_plugin import PostgresStorage

    class TestPostgresStorage(StorageContract):
        @pytest.fixture
        def storage(self, tmp_path) -> Iterator[Storage]:
            with PostgresStorage("postgresql://localhost/huhang_test") as store:
                yield store

        def reopen(self, storage: Storage) -> Storage:
            storage.close()
            return PostgresStorage(storage.url)

Every ``test_*`` method then runs against that backend. The suite needs no rule set or ledger:
it builds :class:`kernel.ledger.events.Event` and :class:`kernel.storage.contract.Notice` values directly. Its
expectations are those of the reference backend, ``kernel.storage.memory``.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kernel.ledger.events import Event
from kernel.storage.contract import NOTICE_FAILED, NOTICE_PENDING, NOTICE_SENT, Notice, Storage

DAY = dt.date(2026, 3, 2)
ENTERPRISE = "91610700MA6YT2A0X4"
OTHER_ENTERPRISE = "91610702MA6YT2A0X9"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
BEIJING = dt.timezone(dt.timedelta(hours=8))


def make_event(
    event_id: str,
    type: str = "ticket.progress_reported",
    *,
    ticket_id: str | None = "T-1",
    enterprise: str | None = ENTERPRISE,
    payload: dict[str, Any] | None = None,
    **fields: Any,
) -> Event:
    """An event for the contract tests (storage does not validate events)."""
    return Event(
        event_id=event_id,
        type=type,
        date=fields.pop("date", DAY),
        actor=fields.pop("actor", "商务局"),
        payload={"n": event_id} if payload is None else payload,
        ticket_id=ticket_id,
        enterprise=enterprise,
        **fields,
    )


def make_notice(notice_id: str, **fields: Any) -> Notice:
    """A notice for the contract tests."""
    return Notice(
        notice_id=notice_id,
        kind=fields.pop("kind", "supervision"),
        unit=fields.pop("unit", "商务局"),
        title=fields.pop("title", f"督办通知 {notice_id}"),
        body=fields.pop("body", "请于 3 个工作日内办结并反馈。"),
        day=fields.pop("day", DAY),
        **fields,
    )


def append(storage: Storage, *events: Event) -> list[int]:
    """Store each event in its own transaction; the seqs."""
    seqs = []
    for event in events:
        with storage.transaction() as tx:
            seqs.append(tx.insert(event))
    return seqs


def queue(storage: Storage, notice: Notice, notifiers: list[str]) -> bool:
    """Queue one notice in its own transaction."""
    with storage.transaction() as tx:
        return tx.add_notice(notice, notifiers)


def ids(events: Iterator[Event] | list[Event]) -> list[str]:
    """The event ids, in order."""
    return [e.event_id for e in events]


class _Boom(Exception):
    pass


class StorageContract:
    """Mixin: the executable contract of :class:`kernel.storage.contract.Storage` (see module doc)."""

    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        """A fresh, empty store; closed after the test. Subclasses must override this."""
        raise NotImplementedError("subclass StorageContract and define a `storage` fixture")

    def reopen(self, storage: Storage) -> Storage:
        """Close ``storage`` and open the same store again (persistent backends override)."""
        return storage

    # ------------------------------------------------------------------ the event log

    def test_new_store_is_empty(self, storage: Storage) -> None:
        assert storage.count() == 0
        assert list(storage.events()) == []
        assert storage.deliveries() == []
        assert storage.due_deliveries(NOW) == []

    def test_append_and_read_back(self, storage: Storage) -> None:
        events = [make_event(f"E-{i}", ticket_id=f"T-{i % 2}") for i in range(1, 6)]
        assert append(storage, *events) == [1, 2, 3, 4, 5]
        stored = list(storage.events())
        assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
        assert [e.to_json() for e in stored] == [e.to_json() for e in events]
        assert stored == events

    def test_inserts_in_one_transaction_get_consecutive_seqs(self, storage: Storage) -> None:
        append(storage, make_event("E-0"))
        with storage.transaction() as tx:
            seqs = [tx.insert(make_event(f"E-{i}")) for i in range(1, 4)]
        assert seqs == [2, 3, 4]
        assert [(e.seq, e.event_id) for e in storage.events()] == [
            (1, "E-0"),
            (2, "E-1"),
            (3, "E-2"),
            (4, "E-3"),
        ]

    def test_get_by_id(self, storage: Storage) -> None:
        event = make_event("E-1", person="王芳", note="电话回访", recorded_at="2026-03-02T10:00:00")
        append(storage, make_event("E-0"), event)
        with storage.transaction() as tx:
            found = tx.get("E-1")
            assert tx.get("E-404") is None
        assert found == event
        assert found is not None and found.seq == 2
        assert found.to_json() == event.to_json()

    def test_optional_fields_round_trip(self, storage: Storage) -> None:
        bare = make_event("E-1", "enterprise.registered", ticket_id=None, payload={})
        full = make_event(
            "E-2", person="李强", note="备注", recorded_at="2026-03-02T08:00:00+08:00"
        )
        append(storage, bare, full)
        first, second = storage.events()
        assert (first.ticket_id, first.person, first.note, first.recorded_at) == (None,) * 4
        assert first.payload == {}
        assert second == full

    def test_duplicate_id_in_one_transaction_is_refused(self, storage: Storage) -> None:
        with pytest.raises(ValueError), storage.transaction() as tx:
            tx.insert(make_event("E-1"))
            tx.insert(make_event("E-1", payload={"other": True}))
        assert storage.count() == 0  # the error rolled the transaction back

    def test_duplicate_id_across_transactions_is_refused(self, storage: Storage) -> None:
        original = make_event("E-1")
        append(storage, original)
        with pytest.raises(ValueError), storage.transaction() as tx:
            tx.insert(make_event("E-1", payload={"other": True}))
        assert storage.count() == 1
        assert list(storage.events()) == [original]

    def test_refused_insert_can_be_caught_inside_the_transaction(self, storage: Storage) -> None:
        append(storage, make_event("E-1"))
        with storage.transaction() as tx:
            with pytest.raises(ValueError):
                tx.insert(make_event("E-1"))
            assert tx.insert(make_event("E-2")) == 2
        assert ids(storage.events()) == ["E-1", "E-2"]

    def test_events_filters(self, storage: Storage) -> None:
        append(
            storage,
            make_event("R-1", "enterprise.registered", ticket_id=None),
            make_event("C-1", "ticket.collected", ticket_id="T-1"),
            make_event("R-2", "enterprise.registered", ticket_id=None, enterprise=OTHER_ENTERPRISE),
            make_event("C-2", "ticket.collected", ticket_id="T-2", enterprise=OTHER_ENTERPRISE),
            make_event("P-1", "ticket.progress_reported", ticket_id="T-1"),
            make_event("V-1", "contact.recorded", ticket_id=None),
            make_event(
                "P-2", "ticket.progress_reported", ticket_id="T-2", enterprise=OTHER_ENTERPRISE
            ),
            make_event("S-1", "supervision.issued", ticket_id="T-1", enterprise=None),
        )
        assert ids(storage.events(after_seq=5)) == ["V-1", "P-2", "S-1"]
        assert ids(storage.events(after_seq=8)) == []
        assert ids(storage.events(after_seq=99)) == []
        assert ids(storage.events(ticket_id="T-1")) == ["C-1", "P-1", "S-1"]
        assert ids(storage.events(ticket_id="T-404")) == []
        assert ids(storage.events(enterprise=ENTERPRISE)) == ["R-1", "C-1", "P-1", "V-1"]
        assert ids(storage.events(types=("enterprise.registered",))) == ["R-1", "R-2"]
        assert ids(storage.events(types=("ticket.collected", "contact.recorded"))) == [
            "C-1",
            "C-2",
            "V-1",
        ]
        assert ids(storage.events(types=())) == []
        assert ids(storage.events(types=("ticket.collected", "contact.recorded"), after_seq=2)) == [
            "C-2",
            "V-1",
        ]
        assert ids(storage.events(ticket_id="T-1", after_seq=2)) == ["P-1", "S-1"]
        assert ids(storage.events(ticket_id="T-2", types=("ticket.progress_reported",))) == ["P-2"]
        both = storage.events(enterprise=ENTERPRISE, types=("enterprise.registered",), after_seq=0)
        assert ids(both) == ["R-1"]
        assert ids(storage.events(ticket_id="T-1", enterprise=OTHER_ENTERPRISE)) == []
        assert [e.seq for e in storage.events(ticket_id="T-2")] == [4, 7]

    def test_events_of_types_cross_pages_in_ledger_order(self, storage: Storage) -> None:
        """A type filter over more events than one page of a streaming read (1,200 events,
        two types interleaved with a third) yields each once, in ledger order."""
        kinds = ("contact.recorded", "ticket.progress_reported", "enterprise.changed")
        made = [
            make_event(f"E-{n:04d}", kinds[n % 3], ticket_id=None if n % 3 != 1 else f"T-{n}")
            for n in range(1200)
        ]
        append(storage, *made)
        wanted = [e.event_id for e in made if e.type != "ticket.progress_reported"]
        assert ids(storage.events(types=(kinds[0], kinds[2]))) == wanted
        assert ids(storage.events(types=(kinds[2],), after_seq=600)) == [
            e.event_id for e in made[600:] if e.type == kinds[2]
        ]

    def test_events_are_in_ledger_order(self, storage: Storage) -> None:
        order = [f"E-{i:02d}" for i in (5, 3, 9, 1, 7, 2, 8, 4, 6)]
        append(storage, *(make_event(i, ticket_id=f"T-{n % 3}") for n, i in enumerate(order)))
        assert ids(storage.events()) == order
        assert ids(storage.events(ticket_id="T-1")) == order[1::3]

    def test_transaction_reads_its_own_inserts(self, storage: Storage) -> None:
        append(
            storage,
            make_event("R-1", "enterprise.registered", ticket_id=None),
            make_event("C-1", "ticket.collected"),
        )
        with storage.transaction() as tx:
            tx.insert(make_event("P-1"))
            tx.insert(make_event("X-1", "enterprise.changed", ticket_id=None))
            tx.insert(make_event("V-1", "contact.recorded", ticket_id=None))
            tx.insert(make_event("C-9", "ticket.collected", ticket_id="T-9"))
            assert ids(tx.ticket_events("T-1")) == ["C-1", "P-1"]
            assert ids(tx.ticket_events("T-9")) == ["C-9"]
            assert ids(tx.enterprise_events(ENTERPRISE)) == ["R-1", "X-1"]  # enterprise.* only
            assert ids(tx.enterprise_events(OTHER_ENTERPRISE)) == []
            found = tx.get("P-1")
            assert found is not None and found.seq == 3
            assert [e.seq for e in tx.ticket_events("T-1")] == [2, 3]

    def test_reads_outside_a_transaction_show_committed_events_only(self, storage: Storage) -> None:
        append(storage, make_event("E-1"))
        with storage.transaction() as tx:
            tx.insert(make_event("E-2"))
            tx.add_notice(make_notice("N-1"), ["console"])
            assert storage.count() == 1
            assert ids(storage.events()) == ["E-1"]
            assert storage.deliveries() == []
        assert storage.count() == 2
        assert len(storage.deliveries()) == 1

    def test_rollback_stores_nothing(self, storage: Storage) -> None:
        append(storage, make_event("E-1"))
        queue(storage, make_notice("N-1"), ["console"])
        with pytest.raises(_Boom), storage.transaction() as tx:
            tx.insert(make_event("E-2"))
            tx.insert(make_event("E-3"))
            assert tx.add_notice(make_notice("N-2"), ["console", "webhook"])
            raise _Boom
        assert storage.count() == 1
        assert ids(storage.events()) == ["E-1"]
        assert [d.notice.notice_id for d in storage.deliveries()] == ["N-1"]
        assert append(storage, make_event("E-2")) == [2]  # seq and id were not used up
        assert queue(storage, make_notice("N-2"), ["console"])

    def test_count(self, storage: Storage) -> None:
        append(storage, *(make_event(f"E-{i}") for i in range(7)))
        with storage.transaction() as tx:
            for i in range(7, 10):
                tx.insert(make_event(f"E-{i}"))
        assert storage.count() == 10

    def test_ticket_last_seqs(self, storage: Storage) -> None:
        assert storage.ticket_last_seqs() == (0, {})
        append(
            storage,
            make_event("E-1", ticket_id="T-1"),
            make_event("E-2", ticket_id="T-2"),
            make_event("E-3", ticket_id=None, type="contact.recorded"),
            make_event("E-4", ticket_id="T-1", type="supervision.issued"),
            make_event("E-5", ticket_id=None, type="contact.recorded"),
        )
        assert storage.ticket_last_seqs() == (5, {"T-1": 4, "T-2": 2})

    def test_write_while_iterating(self, storage: Storage) -> None:
        append(storage, *(make_event(f"E-{i}") for i in range(5)))
        seen = []
        for event in storage.events():
            seen.append(event.event_id)
            append(storage, make_event(f"N-{event.event_id}"))
        assert seen == [f"E-{i}" for i in range(5)]  # the events stored when iteration began
        assert storage.count() == 10

    def test_transactions_are_exclusive_across_threads(self, storage: Storage) -> None:
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for i in range(20):
                    with storage.transaction() as tx:
                        if tx.get(f"E-{i}") is None:
                            time.sleep(0.0005)  # widen the read-check-insert window
                            tx.insert(make_event(f"E-{i}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert storage.count() == 20
        assert [e.seq for e in storage.events()] == list(range(1, 21))

    # ------------------------------------------------------------------ the outbox

    def test_add_notice_is_idempotent(self, storage: Storage) -> None:
        notice = make_notice("督办:T-1:C-RESOLVE:1")
        with storage.transaction() as tx:
            assert tx.add_notice(notice, ["console", "webhook"]) is True
            assert tx.add_notice(notice, ["console", "webhook"]) is False
        assert queue(storage, notice, ["console", "webhook", "smtp"]) is False
        deliveries = storage.deliveries()
        assert [(d.notice.notice_id, d.notifier) for d in deliveries] == [
            (notice.notice_id, "console"),
            (notice.notice_id, "webhook"),
        ]

    def test_notice_without_notifiers_still_takes_its_id(self, storage: Storage) -> None:
        assert queue(storage, make_notice("N-1"), []) is True
        assert queue(storage, make_notice("N-1"), ["console"]) is False
        assert storage.deliveries() == []

    def test_one_pending_delivery_per_notifier(self, storage: Storage) -> None:
        notice = make_notice(
            "N-1",
            kind="warning",
            ticket_id="T-1",
            data={"days_left": 2, "units": ["商务局", "人社局"], "nested": {"ok": True}},
        )
        queue(storage, notice, ["console", "webhook", "smtp"])
        deliveries = storage.deliveries()
        assert [d.notifier for d in deliveries] == ["console", "webhook", "smtp"]
        for d in deliveries:
            assert d.notice == notice
            assert (d.status, d.attempts, d.next_attempt_at, d.last_error) == (
                NOTICE_PENDING,
                0,
                None,
                None,
            )

    def test_due_deliveries(self, storage: Storage) -> None:
        queue(storage, make_notice("N-1"), ["console", "webhook"])
        queue(storage, make_notice("N-2"), ["console"])
        queue(storage, make_notice("N-3"), ["console"])
        key = [(d.notice.notice_id, d.notifier) for d in storage.due_deliveries(NOW)]
        assert key == [
            ("N-1", "console"),
            ("N-1", "webhook"),
            ("N-2", "console"),
            ("N-3", "console"),
        ]
        # retry in an hour, expressed in Beijing time
        later = (NOW + dt.timedelta(hours=1)).astimezone(BEIJING)
        storage.update_delivery(
            "N-1", "console", status=NOTICE_PENDING, attempts=1, next_attempt_at=later,
            last_error="超时",
        )  # fmt: skip
        storage.update_delivery(
            "N-1", "webhook", status=NOTICE_SENT, attempts=1, next_attempt_at=None, last_error=None
        )
        storage.update_delivery(
            "N-3", "console", status=NOTICE_FAILED, attempts=5, next_attempt_at=None,
            last_error="拒绝",
        )  # fmt: skip

        def due(now: dt.datetime, limit: int = 100) -> list[tuple[str, str]]:
            return [(d.notice.notice_id, d.notifier) for d in storage.due_deliveries(now, limit)]

        assert due(NOW) == [("N-2", "console")]
        assert due(NOW + dt.timedelta(minutes=59)) == [("N-2", "console")]
        assert due(NOW + dt.timedelta(hours=1)) == [("N-1", "console"), ("N-2", "console")]
        assert due(NOW + dt.timedelta(days=1), limit=1) == [("N-1", "console")]
        assert due(NOW + dt.timedelta(days=1), limit=0) == []

    def test_update_delivery(self, storage: Storage) -> None:
        queue(storage, make_notice("N-1"), ["console", "webhook"])
        retry_at = dt.datetime(2026, 3, 2, 17, 30, 15, 250000, tzinfo=BEIJING)
        storage.update_delivery(
            "N-1", "webhook", status=NOTICE_PENDING, attempts=2, next_attempt_at=retry_at,
            last_error="HTTP 502：网关错误",
        )  # fmt: skip
        console, webhook = storage.deliveries()
        assert (console.status, console.attempts, console.last_error) == (NOTICE_PENDING, 0, None)
        assert webhook.notifier == "webhook"
        assert (webhook.status, webhook.attempts) == (NOTICE_PENDING, 2)
        assert webhook.next_attempt_at == retry_at
        assert webhook.last_error == "HTTP 502：网关错误"
        assert webhook.notice == make_notice("N-1")
        storage.update_delivery(
            "N-1", "webhook", status=NOTICE_SENT, attempts=3, next_attempt_at=None, last_error=None
        )
        webhook = storage.deliveries()[1]
        assert (webhook.status, webhook.attempts, webhook.next_attempt_at, webhook.last_error) == (
            NOTICE_SENT,
            3,
            None,
            None,
        )

    def test_deliveries_status_filter_and_order(self, storage: Storage) -> None:
        for n in range(1, 5):
            queue(storage, make_notice(f"N-{n}"), ["console"])
        for n, status in ((3, NOTICE_SENT), (1, NOTICE_FAILED), (4, NOTICE_SENT)):
            storage.update_delivery(
                f"N-{n}", "console", status=status, attempts=1, next_attempt_at=None,
                last_error=None,
            )  # fmt: skip

        def names(status: str | None = None) -> list[str]:
            return [d.notice.notice_id for d in storage.deliveries(status=status)]

        assert names() == ["N-1", "N-2", "N-3", "N-4"]  # queue order, not update order
        assert names(NOTICE_SENT) == ["N-3", "N-4"]
        assert names(NOTICE_FAILED) == ["N-1"]
        assert names(NOTICE_PENDING) == ["N-2"]
        assert names("unknown") == []

    def test_update_unknown_delivery_raises_key_error(self, storage: Storage) -> None:
        queue(storage, make_notice("N-1"), ["console"])
        for notice_id, notifier in (("N-404", "console"), ("N-1", "webhook")):
            with pytest.raises(KeyError):
                storage.update_delivery(
                    notice_id, notifier, status=NOTICE_SENT, attempts=1, next_attempt_at=None,
                    last_error=None,
                )  # fmt: skip
        assert [d.status for d in storage.deliveries()] == [NOTICE_PENDING]

    # ------------------------------------------------------------------ content and scale

    def test_chinese_and_unusual_text_round_trips_exactly(self, storage: Storage) -> None:
        text = '汉中市汉运物流有限公司：招工难、用地难\n第二行\t制表\r回车 \u2028分隔 𠮷 😀 "引号" \\ 反斜杠'
        event = make_event(
            "汉台-事件-0001",
            ticket_id="汉台-0001",
            actor="汉台区商务局",
            person="张明",
            note=text,
            payload={"摘要": text, "单位": ["人社局", "住建局"], "数量": 3, "比例": 0.25},
        )
        append(storage, make_event("E-0"), event, make_event("E-2"))
        (stored,) = storage.events(ticket_id="汉台-0001")
        assert stored.to_json() == event.to_json()
        assert stored == event
        with storage.transaction() as tx:
            assert tx.get("汉台-事件-0001") == event
        notice = make_notice("督办:汉台-0001", title="关于汉台-0001的督办", body=text)
        queue(storage, notice, ["企业微信"])
        (delivery,) = storage.deliveries()
        assert delivery.notice == notice
        assert delivery.notifier == "企业微信"
        storage.update_delivery(
            "督办:汉台-0001", "企业微信", status=NOTICE_FAILED, attempts=1, next_attempt_at=None,
            last_error=text,
        )  # fmt: skip
        assert storage.deliveries()[0].last_error == text

    def test_large_payloads(self, storage: Storage) -> None:
        big = "问题描述" * 250_000  # 1,000,000 characters, about 3 MB in UTF-8
        many = {f"字段{i}": {"值": i, "列表": list(range(10))} for i in range(5_000)}
        events = [make_event("BIG", payload={"text": big}), make_event("MANY", payload=many)]
        append(storage, make_event("E-0"), *events, make_event("E-3"))
        stored = list(storage.events())
        assert ids(stored) == ["E-0", "BIG", "MANY", "E-3"]
        assert stored[1:3] == events
        assert stored[1].payload["text"] == big
        queue(storage, make_notice("N-BIG", body=big), ["console"])
        assert storage.deliveries()[0].notice.body == big

    def test_reopen_keeps_everything(self, storage: Storage) -> None:
        events = [make_event(f"E-{i}", ticket_id=f"T-{i % 3}") for i in range(30)]
        append(storage, *events)
        queue(storage, make_notice("N-1"), ["console", "webhook"])
        queue(storage, make_notice("N-2"), ["console"])
        retry_at = NOW + dt.timedelta(minutes=5)
        storage.update_delivery(
            "N-1", "webhook", status=NOTICE_PENDING, attempts=1, next_attempt_at=retry_at,
            last_error="超时",
        )  # fmt: skip
        before = storage.deliveries()
        reopened = self.reopen(storage)
        try:
            assert reopened.count() == 30
            stored = list(reopened.events())
            assert stored == events
            assert [e.seq for e in stored] == list(range(1, 31))
            assert ids(reopened.events(ticket_id="T-1")) == [e.event_id for e in events[1::3]]
            assert reopened.deliveries() == before
            assert queue(reopened, make_notice("N-1"), ["console"]) is False
            assert append(reopened, make_event("E-30")) == [31]
            with pytest.raises(ValueError), reopened.transaction() as tx:
                tx.insert(make_event("E-7"))
        finally:
            if reopened is not storage:
                reopened.close()

    def test_ten_thousand_events_stay_consistent(self, storage: Storage) -> None:
        total, per_tx = 10_000, 100
        for start in range(0, total, per_tx):
            with storage.transaction() as tx:
                for i in range(start, start + per_tx):
                    seq = tx.insert(make_event(f"E-{i:05d}", ticket_id=f"T-{i % 97}"))
                    assert seq == i + 1
        assert storage.count() == total
        stored = list(storage.events())
        assert [e.seq for e in stored] == list(range(1, total + 1))
        assert ids(stored) == [f"E-{i:05d}" for i in range(total)]
        ticket = list(storage.events(ticket_id="T-5"))
        assert ids(ticket) == [f"E-{i:05d}" for i in range(5, total, 97)]
        assert ids(storage.events(after_seq=total - 3)) == [
            f"E-{i:05d}" for i in (9997, 9998, 9999)
        ]
        with storage.transaction() as tx:
            found = tx.get("E-04321")
            assert found is not None and found.seq == 4322
            assert len(tx.ticket_events("T-5")) == len(ticket)
