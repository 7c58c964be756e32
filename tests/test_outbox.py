"""The outbox dispatcher with MemoryStorage: sent, back-off, failed, retry, hangs, file, console."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.notify import console as notify_console
from kernel.notify import file as notify_file
from kernel.notify import smtp as notify_smtp
from kernel.notify import webhook as notify_webhook
from kernel.notify.console import ConsoleNotifier, console_factory
from kernel.notify.contract import Notifier, NotifierConfigError, NotifierError
from kernel.notify.file import FileNotifier, file_factory
from kernel.notify.outbox import backoff, deliver, pending_counts
from kernel.outputs.progress import Progress
from kernel.plugins import DEFAULT_PLUGINS, get_plugin_manager
from kernel.storage.contract import NOTICE_FAILED, NOTICE_PENDING, NOTICE_SENT, Delivery, Notice
from kernel.storage.memory import MemoryStorage

T0 = dt.datetime(2026, 3, 2, 9, 0)
MINUTE = dt.timedelta(minutes=1)


def notice(n: int = 1, kind: str = "supervision") -> Notice:
    return Notice(
        notice_id=f"督办:HZ-{n}:C-RESOLVE:1",
        kind=kind,
        unit="商务局",
        title=f"办理单 T-{n:04d} 办理超期",
        body="请于3个工作日内办结。",
        day=dt.date(2026, 3, 2),
        ticket_id=f"T-{n:04d}",
    )


def queue(
    storage: MemoryStorage, notifiers: list[str], count: int = 1, first: int = 1
) -> list[Notice]:
    notices = [notice(n) for n in range(first, first + count)]
    with storage.transaction() as tx:
        for item in notices:
            assert tx.add_notice(item, notifiers)
    return notices


def only(storage: MemoryStorage, notifier: str = "hook") -> Delivery:
    (found,) = [d for d in storage.deliveries() if d.notifier == notifier]
    return found


class Recording(Notifier):
    """Succeeds and remembers what it sent and when."""

    def __init__(self, name: str = "hook") -> None:
        self.name = name
        self.sent: list[tuple[str, float]] = []

    def send(self, notice: Notice) -> None:
        self.sent.append((notice.notice_id, time.monotonic()))


class Failing(Notifier):
    """Fails ``failures`` times (forever by default), then succeeds."""

    def __init__(self, name: str = "hook", failures: int = 10**6) -> None:
        self.name = name
        self.failures = failures
        self.calls = 0

    def send(self, notice: Notice) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NotifierError(f"通知 '{self.name}' 发送失败：HTTP 503")


class Hanging(Notifier):
    """Blocks far longer than its timeout (until the test releases it)."""

    def __init__(self, release: threading.Event, name: str = "hang") -> None:
        self.name = name
        self.timeout = 0.4
        self.release = release
        self.calls = 0

    def send(self, notice: Notice) -> None:
        self.calls += 1
        self.release.wait(10)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let abandoned worker threads finish so the test process exits promptly


# ---------------------------------------------------------------------- outcomes


def test_success_marks_sent() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"], count=2)
    hook = Recording()
    report = deliver(storage, {"hook": hook}, now=T0)
    assert (report.sent, report.retried, report.failed, report.skipped) == (2, 0, 0, 0)
    assert [n for n, _ in hook.sent] == [notice(1).notice_id, notice(2).notice_id]  # in order
    for delivery in storage.deliveries():
        assert (delivery.status, delivery.attempts, delivery.last_error) == (NOTICE_SENT, 1, None)
    assert deliver(storage, {"hook": hook}, now=T0).outcomes == []  # nothing left to send
    assert report.summary() == "通知发送：成功 2，待重试 0，失败 0，跳过 0"


def test_backoff_times_then_failed() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"])
    hook = Failing()
    now = T0
    expected_waits = [1, 2, 4, 8]  # minutes: base_delay * 2**(attempts-1)
    for attempt, wait in enumerate(expected_waits, start=1):
        report = deliver(storage, {"hook": hook}, now=now)
        assert report.retried == 1
        delivery = only(storage)
        assert delivery.status == NOTICE_PENDING
        assert delivery.attempts == attempt
        assert delivery.next_attempt_at == now + wait * MINUTE
        assert delivery.last_error == "通知 'hook' 发送失败：HTTP 503"
        assert report.outcomes[0].next_attempt_at == now + wait * MINUTE
        # not due a moment before the retry time
        assert deliver(storage, {"hook": hook}, now=now + wait * MINUTE / 2).outcomes == []
        now += wait * MINUTE
    report = deliver(storage, {"hook": hook}, now=now)  # the 5th attempt
    assert report.failed == 1
    delivery = only(storage)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        NOTICE_FAILED,
        5,
        None,
    )
    assert hook.calls == 5
    assert deliver(storage, {"hook": hook}, now=now + dt.timedelta(days=1)).outcomes == []


def test_max_attempts_and_base_delay_are_options() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"])
    hook = Failing()
    deliver(storage, {"hook": hook}, now=T0, max_attempts=2, base_delay=dt.timedelta(seconds=30))
    assert only(storage).next_attempt_at == T0 + dt.timedelta(seconds=30)
    report = deliver(storage, {"hook": hook}, now=T0 + MINUTE, max_attempts=2)
    assert report.failed == 1
    assert only(storage).status == NOTICE_FAILED


def test_backoff_is_capped() -> None:
    assert backoff(1, MINUTE) == MINUTE
    assert backoff(4, MINUTE) == 8 * MINUTE
    assert backoff(10, MINUTE) == dt.timedelta(hours=6)
    assert backoff(200, MINUTE) == dt.timedelta(hours=6)
    assert backoff(3, dt.timedelta(hours=1), dt.timedelta(hours=2)) == dt.timedelta(hours=2)


def test_retry_failed_sends_failed_deliveries_again() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"])
    hook = Failing(failures=1)
    deliver(storage, {"hook": hook}, now=T0, max_attempts=1)
    assert only(storage).status == NOTICE_FAILED
    assert deliver(storage, {"hook": hook}, now=T0 + MINUTE).outcomes == []  # not without retry
    report = deliver(storage, {"hook": hook}, now=T0 + MINUTE, retry_failed=True)
    assert report.sent == 1
    assert (only(storage).status, only(storage).attempts) == (NOTICE_SENT, 2)


def test_retry_failed_that_fails_again_stays_failed() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"])
    hook = Failing()
    deliver(storage, {"hook": hook}, now=T0, max_attempts=1)
    report = deliver(storage, {"hook": hook}, now=T0 + MINUTE, retry_failed=True)
    assert report.failed == 1
    delivery = only(storage)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        NOTICE_FAILED,
        2,
        None,
    )


def test_hanging_notifier_does_not_block_the_others(release: threading.Event) -> None:
    storage = MemoryStorage()
    queue(storage, ["hang", "hook"], count=3)
    hang, hook = Hanging(release), Recording()
    start = time.monotonic()
    report = deliver(storage, {"hang": hang, "hook": hook}, now=T0)
    elapsed = time.monotonic() - start

    assert elapsed < hang.timeout + 0.5  # one timeout, not one per notice, no waiting for it
    assert len(hook.sent) == 3
    assert all(at - start < hang.timeout for _, at in hook.sent)  # sent alongside, not after
    assert hang.calls == 1  # the rest of its lane waits for the next run
    first, *rest = [d for d in storage.deliveries() if d.notifier == "hang"]
    assert first.status == NOTICE_PENDING  # not lost
    assert first.attempts == 1
    assert first.next_attempt_at == T0 + MINUTE
    assert first.last_error is not None and "超时" in first.last_error
    for delivery in rest:
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
            NOTICE_PENDING,
            0,
            None,
        )
    assert (report.sent, report.retried, report.skipped) == (3, 1, 2)


def test_unconfigured_notifier_stays_pending() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook", "gone"])
    report = deliver(storage, {"hook": Recording()}, now=T0)
    assert (report.sent, report.skipped) == (1, 1)
    gone = only(storage, "gone")
    assert (gone.status, gone.attempts) == (NOTICE_PENDING, 0)
    (skipped,) = report.errors
    assert skipped.notifier == "gone"
    assert skipped.error is not None and "未配置" in skipped.error


def test_unexpected_exception_is_a_failed_attempt_and_redacted() -> None:
    class Buggy(Notifier):
        name = "buggy"

        def send(self, notice: Notice) -> None:
            raise RuntimeError("boom with token=tok-123")

        def secrets(self) -> tuple[str, ...]:
            return ("tok-123",)

    storage = MemoryStorage()
    queue(storage, ["buggy"])
    report = deliver(storage, {"buggy": Buggy()}, now=T0)
    assert report.retried == 1
    error = only(storage, "buggy").last_error
    assert error == "通知 'buggy' 发送出错：RuntimeError: boom with token=***"


# ---------------------------------------------------------------------- file and console


def test_file_notifier_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "outbox.jsonl"
    notifier = file_factory("台账文件", {"path": str(path)})
    assert isinstance(notifier, FileNotifier)
    storage = MemoryStorage()
    notices = queue(storage, ["台账文件"], count=3)
    report = deliver(storage, {"台账文件": notifier}, now=T0)
    assert report.sent == 3
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line, sent in zip(lines, notices, strict=True):
        record = json.loads(line)
        assert record["notifier"] == "台账文件"
        assert dt.datetime.fromisoformat(record["sent_at"]).tzinfo is not None
        assert Notice.from_dict(record) == sent
        assert "督办" in line  # UTF-8, not \\u escapes
    notifier.send(notices[0])  # appends
    assert len(path.read_text(encoding="utf-8").splitlines()) == 4


def test_file_notifier_error_is_a_notifier_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    notifier = file_factory("文件", {"path": str(blocker / "outbox.jsonl")})
    with pytest.raises(NotifierError, match="无法写入文件"):
        notifier.send(notice())


def test_file_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotifierConfigError, match="path 是必填项"):
        file_factory("文件", {})
    with pytest.raises(NotifierConfigError, match="目录"):
        file_factory("文件", {"path": str(tmp_path)})
    monkeypatch.setenv("HUHANG_OUTBOX_DIR", str(tmp_path))
    notifier = file_factory("文件", {"path": "${HUHANG_OUTBOX_DIR}/o.jsonl"})
    assert notifier.path == tmp_path / "o.jsonl"
    assert notifier.describe() == f"文件: 文件 {tmp_path / 'o.jsonl'}"


def test_console_output_is_chinese() -> None:
    stream = io.StringIO()
    notifier = console_factory("终端", {"stream": stream})
    assert isinstance(notifier, ConsoleNotifier)
    storage = MemoryStorage()
    queue(storage, ["终端"])
    assert deliver(storage, {"终端": notifier}, now=T0).sent == 1
    text = stream.getvalue()
    for part in (
        "【督办】办理单 T-0001 办理超期",
        "单位：商务局",
        "日期：2026年3月2日",
        "办理单：T-0001",
        "请于3个工作日内办结。",
        "通知编号：督办:HZ-1:C-RESOLVE:1",
    ):
        assert part in text


def test_console_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    console_factory("终端", {}).send(notice(2, kind="warning"))
    assert "【预警】办理单 T-0002 办理超期" in capsys.readouterr().out


# ---------------------------------------------------------------------- plugin registration


def test_modules_register_their_notifier_types(tmp_path: Path) -> None:
    modules = [notify_console, notify_file, notify_webhook, notify_smtp]
    assert {m.__name__ for m in modules} <= set(DEFAULT_PLUGINS.values())
    host = get_plugin_manager(local_dir=tmp_path, use_entry_points=False)
    assert {"console", "file", "webhook", "smtp"} <= set(host.notifiers)
    built = host.notifier("webhook", "群", {"url": "https://x.example/s?key=k", "format": "wecom"})
    assert built.describe() == "群: 企业微信机器人 https://x.example/s?key=***"


# ---------------------------------------------------------------------- draining


def test_one_run_drains_every_batch() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"], count=10)
    hook = Recording()
    report = deliver(storage, {"hook": hook}, now=T0, batch=3)
    assert report.sent == 10 and len(hook.sent) == 10
    assert pending_counts(storage, T0) == (0, 0)


def test_a_limit_caps_the_run() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook"], count=10)
    report = deliver(storage, {"hook": Recording()}, now=T0, batch=3, limit=7)
    assert report.sent == 7
    assert pending_counts(storage, T0) == (3, 0)


def test_unconfigured_deliveries_do_not_hold_up_the_rest() -> None:
    storage = MemoryStorage()
    queue(storage, ["gone"], count=5)  # older than every delivery the run can send
    queue(storage, ["hook"], count=3, first=6)
    hook = Recording()
    report = deliver(storage, {"hook": hook}, now=T0, batch=2)
    assert (report.sent, report.skipped) == (3, 5)  # each skipped once, not once per batch
    assert pending_counts(storage, T0) == (5, 0)


def test_a_lane_that_timed_out_is_left_for_the_next_run(release: threading.Event) -> None:
    storage = MemoryStorage()
    queue(storage, ["hang"], count=5)
    hang = Hanging(release)
    report = deliver(storage, {"hang": hang}, now=T0, batch=2)
    assert hang.calls == 1  # the later batches do not try the hung destination again
    assert (report.retried, report.skipped) == (1, 4)
    assert pending_counts(storage, T0) == (4, 1)  # one waits for its retry time


def test_progress_counts_every_delivery() -> None:
    storage = MemoryStorage()
    queue(storage, ["hook", "gone"], count=4)
    stream = io.StringIO()
    progress = Progress(8, "发送通知", stream=stream)
    progress.enabled = True
    deliver(storage, {"hook": Recording()}, now=T0, batch=3, progress=progress)
    progress.close()
    assert stream.getvalue().rstrip().endswith("8/8")
