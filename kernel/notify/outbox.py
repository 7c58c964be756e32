"""The outbox dispatcher: hand due notices to notifiers, with timeouts, retries and back-off.

:func:`deliver` takes the pending deliveries that are due, a batch at a time until none is left
(or a limit is reached), sends each through its notifier and records the outcome in the storage. It never loses a notice: a delivery leaves the ``pending``
state only when a notifier confirmed it (``sent``) or after its last attempt (``failed``).

* Each notifier is a *lane*: its deliveries are sent one after another (robot webhooks limit
  the rate per group), while lanes run side by side in worker threads.
* Every send is limited to ``notifier.timeout`` seconds. A send that takes longer counts as a
  failed attempt; its thread is abandoned (never waited for), and the rest of that lane waits,
  untouched, for the next run -- a hung destination cannot block the others.
* A failed attempt is retried after ``base_delay * 2**(attempts-1)`` (capped at ``max_delay``);
  after ``max_attempts`` the delivery is ``failed`` and only ``retry_failed`` tries it again.
* Storage is only written from the calling thread, so backends need not be thread-safe.
* Several runners share one outbox when the storage hands out claims (PostgreSQL's
  ``claim_due_deliveries``): each batch is leased to one runner, so each delivery is attempted
  by one of them.

Delivery is at-least-once: a send that timed out may still have arrived. Notices carry a stable
``notice_id`` so receivers can drop duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace

from kernel.escape import MASK as MASK  # re-exported: what redact() puts in place of a secret
from kernel.escape import hide_secrets
from kernel.notify.contract import Notifier, NotifierError
from kernel.outputs.progress import Progress
from kernel.storage.contract import NOTICE_FAILED, NOTICE_PENDING, NOTICE_SENT, Delivery, Storage

log = logging.getLogger("huhang.outbox")


SENT = "sent"
RETRY = "retry"
FAILED = "failed"
SKIPPED = "skipped"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (and its URL-encoded forms) replaced by ``***``: those given,
    and every value that was expanded from an environment variable (:func:`add_secret`)."""
    return hide_secrets(text, tuple(s for s in secrets if s))


def notifier_secrets(notifier: Notifier) -> tuple[str, ...]:
    """The non-empty secrets a notifier declares (:meth:`Notifier.secrets`)."""
    return tuple(s for s in notifier.secrets() if s)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one delivery in one run."""

    notice_id: str
    notifier: str
    result: str  # sent | retry | failed | skipped
    attempts: int
    next_attempt_at: dt.datetime | None = None
    error: str | None = None  # redacted; for skipped: why it was not attempted


@dataclass
class DeliveryReport:
    """The outcome of one :func:`deliver` run."""

    outcomes: list[DeliveryOutcome] = field(default_factory=list)

    def _count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    @property
    def sent(self) -> int:
        """Deliveries confirmed by their notifier."""
        return self._count(SENT)

    @property
    def retried(self) -> int:
        """Failed attempts that stay pending for a later retry."""
        return self._count(RETRY)

    @property
    def failed(self) -> int:
        """Deliveries that failed their last attempt (status ``failed``)."""
        return self._count(FAILED)

    @property
    def skipped(self) -> int:
        """Deliveries not attempted (notifier not configured, or its lane timed out)."""
        return self._count(SKIPPED)

    @property
    def errors(self) -> list[DeliveryOutcome]:
        """Outcomes that carry an error or a reason, in run order."""
        return [o for o in self.outcomes if o.error is not None]

    def summary(self) -> str:
        """One Chinese line for the CLI and logs."""
        return (
            f"通知发送：成功 {self.sent:,}，待重试 {self.retried:,}，"
            f"失败 {self.failed:,}，跳过 {self.skipped:,}"
        )


def backoff(
    attempts: int, base_delay: dt.timedelta, max_delay: dt.timedelta = dt.timedelta(hours=6)
) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: ``base_delay * 2**(attempts-1)``."""
    exponent = max(attempts - 1, 0)
    if exponent > 40:  # 2**40 minutes is far beyond any cap; avoid timedelta overflow
        return max_delay
    try:
        return min(base_delay * (1 << exponent), max_delay)
    except OverflowError:
        return max_delay


#: deliveries taken from the storage at a time
BATCH = 100


def deliver(
    storage: Storage,
    notifiers: Mapping[str, Notifier],
    *,
    now: dt.datetime,
    max_attempts: int = 5,
    base_delay: dt.timedelta = dt.timedelta(minutes=1),
    max_delay: dt.timedelta = dt.timedelta(hours=6),
    retry_failed: bool = False,
    limit: int | None = None,
    batch: int = BATCH,
    worker: str | None = None,
    progress: Progress | None = None,
) -> DeliveryReport:
    """Send every delivery due at ``now`` (or the first ``limit``) and record each outcome.

    ``notifiers`` maps the configured names to notifiers. ``now`` is the wall clock of the
    caller (tests pass fixed times); back-off times are computed from it. Deliveries are taken
    ``batch`` at a time until none is due. With ``retry_failed``, deliveries in state
    ``failed`` get one more attempt each (on failure they stay ``failed``).

    With a ``worker`` name and a storage that hands out claims (``claim_due_deliveries``, as
    PostgreSQL does), each batch is claimed for this runner, so several runners share the
    outbox and each delivery is attempted by one of them. A delivery this run leaves alone
    (its notifier is not configured here, or its lane timed out) stays pending for later.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    claim = getattr(storage, "claim_due_deliveries", None) if worker else None
    report = DeliveryReport()
    run = _Run(storage, notifiers, now, max_attempts, base_delay, max_delay, report, progress)
    attempted = 0
    failed_done = not retry_failed
    while limit is None or attempted < limit:
        size = batch if limit is None else min(batch, limit - attempted)
        if claim is not None:
            picked: list[Delivery] = [
                d for d in claim(now, size, worker) if _key(d) not in run.left
            ]
        else:
            picked = [
                d
                for d in storage.due_deliveries(now, limit=size + len(run.left))
                if _key(d) not in run.left
            ][:size]
        if not failed_done:
            failed_done = True
            seen = {_key(d) for d in picked}
            picked += [d for d in storage.deliveries(status=NOTICE_FAILED) if _key(d) not in seen]
        if not picked:
            break
        attempted += run.send(picked)
    run.release(claim is not None)
    log.info("%s", report.summary())
    return report


def _key(delivery: Delivery) -> tuple[str, str]:
    return (delivery.notice.notice_id, delivery.notifier)


class _Run:
    """One :func:`deliver` run: sends batches, remembers what it leaves pending."""

    def __init__(
        self,
        storage: Storage,
        notifiers: Mapping[str, Notifier],
        now: dt.datetime,
        max_attempts: int,
        base_delay: dt.timedelta,
        max_delay: dt.timedelta,
        report: DeliveryReport,
        progress: Progress | None,
    ) -> None:
        self.storage = storage
        self.notifiers = notifiers
        self.now = now
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.report = report
        self.progress = progress
        #: deliveries left pending by this run (not taken again in it), and lanes that hung
        self.left: dict[tuple[str, str], Delivery] = {}
        self.stalled: dict[str, str] = {}

    def skip(self, delivery: Delivery, reason: str) -> None:
        self.left[_key(delivery)] = delivery
        self.report.outcomes.append(_skipped(delivery, reason))
        if self.progress is not None:
            self.progress.advance()

    def record(self, delivery: Delivery, error: str | None) -> None:
        outcome = _outcome(
            delivery, error, self.now, self.max_attempts, self.base_delay, self.max_delay
        )
        self.storage.update_delivery(
            delivery.notice.notice_id,
            delivery.notifier,
            status=_STATUS[outcome.result],
            attempts=outcome.attempts,
            next_attempt_at=outcome.next_attempt_at,
            last_error=outcome.error,
        )
        self.report.outcomes.append(outcome)
        again = outcome.next_attempt_at
        if outcome.result == RETRY and again is not None and again <= self.now:
            # no back-off (a zero delay): not attempted again in this run
            self.left[_key(delivery)] = replace(
                delivery, attempts=outcome.attempts, next_attempt_at=outcome.next_attempt_at
            )
        if self.progress is not None:
            self.progress.advance()

    def send(self, batch: list[Delivery]) -> int:
        """Send one batch, a lane per notifier; returns how many were attempted."""
        lanes: dict[str, deque[Delivery]] = {}
        for delivery in batch:
            if delivery.notifier in self.stalled:
                self.skip(delivery, self.stalled[delivery.notifier])
            elif delivery.notifier in self.notifiers:
                lanes.setdefault(delivery.notifier, deque()).append(delivery)
            else:
                message = f"通知方式 '{delivery.notifier}' 未配置，通知保留在待发送队列中"
                log.warning("通知 %s：%s", delivery.notice.notice_id, message)
                self.skip(delivery, message)
        if not lanes:
            return 0
        attempted = 0
        running: dict[Future[None], tuple[Delivery, float]] = {}

        def start(name: str) -> None:
            delivery = lanes[name].popleft()
            notifier = self.notifiers[name]
            future = _in_daemon_thread(notifier, delivery)
            running[future] = (delivery, time.monotonic() + max(float(notifier.timeout), 0.0))

        try:
            for name in lanes:
                start(name)
            while running:
                remaining = min(deadline for _, deadline in running.values()) - time.monotonic()
                limit_s = None if math.isinf(remaining) else max(remaining, 0.0)
                wait(running, timeout=limit_s, return_when=FIRST_COMPLETED)
                clock = time.monotonic()
                for future, (delivery, deadline) in list(running.items()):
                    notifier = self.notifiers[delivery.notifier]
                    if future.done():
                        del running[future]
                        attempted += 1
                        if lanes[delivery.notifier]:
                            start(delivery.notifier)  # the next send overlaps this record
                        self.record(delivery, _error_of(future, notifier))
                    elif deadline <= clock:
                        del running[future]
                        future.cancel()  # only helps if it has not started; never waited for
                        attempted += 1
                        self.record(
                            delivery,
                            f"通知 '{delivery.notifier}' 发送超时（{notifier.timeout:g} 秒）",
                        )
                        reason = f"通知方式 '{delivery.notifier}' 本轮发送超时，留待下次发送"
                        self.stalled[delivery.notifier] = reason
                        rest = lanes[delivery.notifier]
                        for waiting in rest:
                            self.skip(waiting, reason)
                        rest.clear()
        finally:
            for future in running:  # a hung send must not block the caller: not waited for
                future.cancel()
        return attempted

    def release(self, claimed: bool) -> None:
        """End this runner's claims on the deliveries it leaves pending (others may take them)."""
        if not claimed:
            return
        for delivery in self.left.values():
            self.storage.update_delivery(
                delivery.notice.notice_id,
                delivery.notifier,
                status=delivery.status,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                last_error=delivery.last_error,
            )


def _in_daemon_thread(notifier: Notifier, delivery: Delivery) -> Future[None]:
    """Run ``notifier.send`` in a daemon thread.

    The outbox stops waiting for a send at its deadline; a daemon thread (unlike a thread pool's
    worker, which the interpreter joins at exit) then cannot keep the process alive, so a
    server that trickles its answer a byte at a time holds ``huhang notify`` no longer than
    the notifier's ``timeout``.
    """
    future: Future[None] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            notifier.send(delivery.notice)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)

    threading.Thread(target=run, name="huhang-outbox", daemon=True).start()
    return future


def pending_counts(storage: Storage, now: dt.datetime) -> tuple[int, int]:
    """``(due, waiting)``: pending deliveries due at ``now``, and those waiting for a retry."""
    due = waiting = 0
    for delivery in storage.deliveries(status=NOTICE_PENDING):
        if delivery.next_attempt_at is None or delivery.next_attempt_at <= now:
            due += 1
        else:
            waiting += 1
    return due, waiting


_STATUS = {SENT: NOTICE_SENT, RETRY: NOTICE_PENDING, FAILED: NOTICE_FAILED}


def _skipped(delivery: Delivery, reason: str) -> DeliveryOutcome:
    return DeliveryOutcome(
        delivery.notice.notice_id,
        delivery.notifier,
        SKIPPED,
        delivery.attempts,
        delivery.next_attempt_at,
        reason,
    )


def _error_of(future: Future[None], notifier: Notifier) -> str | None:
    """None when the send succeeded, else its error message with secrets redacted."""
    exc = future.exception()
    if exc is None:
        return None
    if isinstance(exc, NotifierError):
        text = str(exc) or f"通知 '{notifier.name}' 发送失败"
    else:  # a bug or an unexpected library error: keep the type, never the traceback
        text = f"通知 '{notifier.name}' 发送出错：{type(exc).__name__}: {exc}"
    return redact(text, notifier_secrets(notifier))


def _outcome(
    delivery: Delivery,
    error: str | None,
    now: dt.datetime,
    max_attempts: int,
    base_delay: dt.timedelta,
    max_delay: dt.timedelta,
) -> DeliveryOutcome:
    notice_id, name = delivery.notice.notice_id, delivery.notifier
    attempts = delivery.attempts + 1
    if error is None:
        log.debug("通知 %s 已通过 %s 发送", notice_id, name)
        return DeliveryOutcome(notice_id, name, SENT, attempts)
    if delivery.status == NOTICE_FAILED or attempts >= max_attempts:
        log.warning(
            "通知 %s 经 %s 第 %d 次发送失败，不再重试：%s", notice_id, name, attempts, error
        )
        return DeliveryOutcome(notice_id, name, FAILED, attempts, None, error)
    retry_at = now + backoff(attempts, base_delay, max_delay)
    log.warning(
        "通知 %s 经 %s 第 %d 次发送失败，将于 %s 重试：%s",
        notice_id,
        name,
        attempts,
        retry_at.isoformat(timespec="seconds"),
        error,
    )
    return DeliveryOutcome(notice_id, name, RETRY, attempts, retry_at, error)
