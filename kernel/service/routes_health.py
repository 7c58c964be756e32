"""``/healthz``, ``/readyz`` and ``/metrics`` (no token: for load balancers and Prometheus)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from kernel.service.deps import Context

router = APIRouter(tags=["运行"])


@router.get("/healthz", summary="进程存活")
def healthz() -> dict[str, str]:
    """The process answers (nothing else is checked)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="可以服务：台账可读、规则已加载、工作日历覆盖今天",
    responses={503: {"description": "尚不能服务；checks 说明哪一项未通过"}},
)
def readyz(context: Context) -> JSONResponse:
    """Ready when the ledger answers, the rules are loaded and the calendar covers today."""
    checks: dict[str, Any] = {}
    try:
        checks["ledger"] = {"ok": True, "events": context.ledger.storage.count()}
    except Exception as exc:
        checks["ledger"] = {"ok": False, "detail": f"台账无法读取：{exc}"}
    checks["rules"] = {"ok": True, "fingerprint": context.ruleset.fingerprint[:12]}
    today = context.today()
    try:
        context.calendar().is_workday(today)
        checks["calendar"] = {"ok": True, "today": today.isoformat()}
    except Exception as exc:
        checks["calendar"] = {"ok": False, "detail": f"工作日历不能回答 {today}：{exc}"}
    ready = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not-ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get(
    "/metrics",
    summary="Prometheus 指标",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(request: Request, context: Context) -> PlainTextResponse:
    """Events by result and reason, request latency by route, sweeps, the outbox backlog."""
    outbox = Counter(d.status for d in context.ledger.storage.deliveries())
    text = request.app.state.metrics.render(dict(outbox))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")
