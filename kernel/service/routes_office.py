"""The office's routine over HTTP: the deadline sweep, and the outbox's status and retry.

Only the office may sweep and retry; the auditor may read the outbox status. Sending stays
with ``huhang notify`` (the runners that hold the notifiers' credentials): a retry puts the
failed deliveries back in the queue for the next run.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from kernel.service.access import Principal
from kernel.service.context import ServiceContext
from kernel.service.deps import Context, office_principal, reader_of_all

router = APIRouter(tags=["办公室"])

#: failed deliveries listed in the outbox status
LISTED = 100


def run_sweep(context: ServiceContext, as_of: dt.date, metrics: Any) -> dict[str, Any]:
    from kernel.clocks.sweep import sweep, sweep_claimed

    started = time.perf_counter()
    if hasattr(context.ledger.storage, "claim_tickets"):
        worker = f"{socket.gethostname()}:{os.getpid()}:api"
        result = sweep_claimed(context.ledger, context.evaluator(), as_of, worker)
    else:
        result = sweep(context.ledger, context.evaluator(), as_of)
    metrics.sweep(time.perf_counter() - started)
    return {
        "as_of": as_of.isoformat(),
        "summary": result.summary(),
        "tickets": result.tickets,
        "notices": result.notices,
        "events": result.events,
        "by_kind": result.by_kind,
        "errors": result.errors,
        "undecided": {str(year): ids for year, ids in result.undecided.items()},
        "incomplete": result.incomplete,
        "pending": result.pending,
    }


@router.post("/sweep", summary="时限巡查：预警、督办、通报、约谈（可重复运行）")
async def post_sweep(
    request: Request,
    context: Context,
    principal: Annotated[Principal, Depends(office_principal)],
    as_of: Annotated[dt.date | None, Query(description="巡查日期（默认今天）")] = None,
) -> dict[str, Any]:
    """``huhang sweep --as-of``: notices into the outbox, escalation events into the ledger."""
    return await run_in_threadpool(
        run_sweep, context, as_of or context.today(), request.app.state.metrics
    )


def outbox_status(context: ServiceContext) -> dict[str, Any]:
    from kernel.notify.outbox import pending_counts

    storage = context.ledger.storage
    deliveries = storage.deliveries()
    due, waiting = pending_counts(storage, context.clock())
    failed = [d for d in deliveries if d.status == "failed"]
    return {
        "by_status": dict(Counter(d.status for d in deliveries)),
        "by_notifier": {
            name: dict(Counter(d.status for d in deliveries if d.notifier == name))
            for name in sorted({d.notifier for d in deliveries})
        },
        "due": due,
        "waiting": waiting,
        "failed": [
            {
                "notice_id": d.notice.notice_id,
                "notifier": d.notifier,
                "unit": d.notice.unit,
                "title": d.notice.title,
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in failed[:LISTED]
        ],
    }


@router.get("/outbox", summary="通知发件箱状态")
async def get_outbox(
    context: Context, principal: Annotated[Principal, Depends(reader_of_all)]
) -> dict[str, Any]:
    """Deliveries by status and notifier, how many are due, the failed ones."""
    return await run_in_threadpool(outbox_status, context)


def requeue_failed(context: ServiceContext) -> dict[str, Any]:
    storage = context.ledger.storage
    count = 0
    for d in storage.deliveries(status="failed"):
        storage.update_delivery(
            d.notice.notice_id,
            d.notifier,
            status="pending",
            attempts=d.attempts,
            next_attempt_at=None,
            last_error=d.last_error,
        )
        count += 1
    return {"requeued": count}


@router.post("/outbox/retry", summary="把发送失败的通知放回待发送队列（由 huhang notify 发送）")
async def post_outbox_retry(
    context: Context, principal: Annotated[Principal, Depends(office_principal)]
) -> dict[str, Any]:
    """Every ``failed`` delivery becomes ``pending`` and due now."""
    return await run_in_threadpool(requeue_failed, context)
