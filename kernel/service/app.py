"""The ASGI application: ``create_app(context)`` builds the FastAPI app of ``huhang serve``.

Routes live in ``routes_*`` modules under ``/api/v1`` (health checks and metrics at the root);
every error answers as an RFC 9457 problem document (:mod:`kernel.service.problems`). The
OpenAPI document is at ``/api/v1/openapi.json`` and the interactive API page at
``/api/v1/docs``, served from files inside the package (no CDN). The console (``kernel.web``)
adds its own routers to the app this returns (``app.include_router``), and reads
``app.state.context`` and ``app.state.metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import kernel
from kernel.service.context import ServiceContext
from kernel.service.metrics import Metrics
from kernel.service.problems import install_handlers

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"
DOCS_URL = f"{API_PREFIX}/docs"
STATIC_DIR = Path(__file__).resolve().parent / "static"

DESCRIPTION = """\
护航（Huhang）政策内核的 HTTP 接口：提交事件、查询办理单、说明分级与路由、读取报表、检查候选规则、
巡查与发件箱。所有请求（健康检查与指标除外）都需要访问令牌：`Authorization: Bearer hh_…`，
由 `huhang token create` 生成。错误以 RFC 9457 问题文档（application/problem+json）返回，
`code` 为项目的问题代码，`detail` 为中文说明。
"""

TAGS = [
    {
        "name": "事件",
        "description": "向台账提交事件（与 huhang ingest --grade 相同的校验、幂等与分级）",
    },
    {"name": "办理单", "description": "办理单列表、详情与分级路由说明"},
    {"name": "企业", "description": "包抓企业名册（四个一）与每月联系"},
    {"name": "报表", "description": "月度通报、考核排名、单位扣分明细"},
    {"name": "规则", "description": "规则文件、候选规则检查与影响分析"},
    {"name": "办公室", "description": "时限巡查与通知发件箱"},
    {"name": "运行", "description": "健康检查与指标"},
]


def create_app(context: ServiceContext) -> FastAPI:
    """The application serving ``context`` (one per worker process)."""
    from kernel.service import (
        routes_enterprises,
        routes_events,
        routes_health,
        routes_office,
        routes_reports,
        routes_rules,
        routes_tickets,
    )
    from kernel.service.openapi import build_openapi

    app = FastAPI(
        title="护航 API",
        version=kernel.__version__,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
    )
    app.state.context = context
    app.state.metrics = Metrics()
    install_handlers(app)
    app.include_router(routes_health.router)
    for module in (
        routes_events,
        routes_tickets,
        routes_enterprises,
        routes_reports,
        routes_rules,
        routes_office,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.mount(f"{DOCS_URL}/static", StaticFiles(directory=STATIC_DIR), name="api-static")

    @app.get(DOCS_URL, include_in_schema=False)
    def api_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title="护航 API",
            swagger_js_url=f"{DOCS_URL}/static/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_URL}/static/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_URL}/static/favicon.png",
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = str(getattr(route, "path", None) or "<其他>")
        if request.url.path.startswith(API_PREFIX) and not path.startswith(API_PREFIX):
            path = API_PREFIX + path  # a route of an included router knows its own part only
        app.state.metrics.request(
            request.method, path, response.status_code, time.perf_counter() - started
        )
        return response

    return app
